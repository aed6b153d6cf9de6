package soap

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
)

// FuzzResponseMapping: any answer body through the envelope reader, a
// declared mapping and the generic conversion never panics, fails only
// with a parse, envelope or mapping error, and yields JSON no larger than
// a bounded multiple of the answer.
func FuzzResponseMapping(f *testing.F) {
	ns := map[string]string{"c": "http://example.com/customers"}
	seeds := []string{
		`<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/" xmlns:c="http://example.com/customers"><e:Body><c:R><c:id>1</c:id><c:n>2.5</c:n><c:l>a</c:l><c:l>b</c:l></c:R></e:Body></e:Envelope>`,
		`<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><e:Fault><faultcode>e:Client.X</faultcode><faultstring>s</faultstring><detail><a>1</a></detail></e:Fault></e:Body></e:Envelope>`,
		`<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><c:R xmlns:c="http://example.com/customers" c:t="7"><c:o><c:id>x</c:id></c:o><c:o/></c:R></e:Body></e:Envelope>`,
		`<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><e:Body><R><id i:nil="true"/></R></e:Body></e:Envelope>`,
		`<?xml version="1.0" encoding="ISO-8859-1"?><e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body>caf` + "\xe9" + `</e:Body></e:Envelope>`,
		`<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body>` + strings.Repeat("<a>", 70) + `</e:Body></e:Envelope>`,
		`<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>`,
		`not xml at all`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	r := readResultForFuzz(ns)
	f.Fuzz(func(t *testing.T, data []byte) {
		root, err := parseXML(data)
		if err != nil {
			return
		}
		body, err := soap11.body(root)
		if err != nil {
			return
		}
		var out []any
		if first := firstElement(body); first != nil {
			out = append(out, first.generic())
			if first.name.Space == NamespaceSOAP11 && first.name.Local == "Fault" {
				out = append(out, readFault(first, soap11).body(500))
			}
		}
		mapped, err := applyMapping(body, r)
		if err != nil && !strings.HasPrefix(err.Error(), "result.") {
			t.Fatalf("mapping failed with %v", err)
		}
		out = append(out, mapped)
		js, err := json.Marshal(out)
		if err != nil {
			t.Fatalf("result is not JSON: %v", err)
		}
		if len(js) > 16*len(data)+1024 {
			t.Fatalf("%d bytes of JSON from %d bytes of XML", len(js), len(data))
		}
	})
}

// readResultForFuzz compiles a mapping that exercises every feature.
func readResultForFuzz(ns map[string]string) []*field {
	mk := func(name, path, typ string, list bool, fields []*field) *field {
		p, err := compilePath(path, ns)
		if err != nil {
			panic(err)
		}
		return &field{name: name, path: p, typ: typ, list: list, fields: fields}
	}
	return []*field{
		mk("id", "c:R/c:id", TypeString, false, nil),
		mk("n", "*/c:n", TypeNumber, false, nil),
		mk("i", "R/id", TypeInteger, true, nil),
		mk("b", "R/b", TypeBoolean, false, nil),
		mk("l", "c:R/c:l", TypeString, true, nil),
		mk("t", "c:R/@c:t", TypeString, false, nil),
		mk("obj", "*", TypeObject, true, nil),
		mk("o", "c:R/c:o", TypeString, true, []*field{mk("id", "c:id", TypeString, false, nil), mk("self", ".", TypeObject, false, nil)}),
	}
}

// FuzzBodyTemplate: for any template that compiles and any argument
// values, the filled body is well-formed and has exactly the structure
// (elements, attributes, comments) the template has with harmless values:
// no argument ever escapes its text node or attribute value, and each
// argument reads back as itself (up to characters XML cannot hold).
func FuzzBodyTemplate(f *testing.F) {
	seeds := []struct{ tmpl, a, b string }{
		{`<c:GetCustomer><c:id>{id}</c:id></c:GetCustomer>`, "</c:id><evil/>", ""},
		{`<c:A k="{a}" j='{b}'>{a}</c:A>`, `" evil="1`, `' x='`},
		{`<c:A>{a}{{}</c:A><!-- c --><c:B>{b}</c:B>`, "<![CDATA[", "]]>"},
		{`<c:A xmlns:d="urn:d"><d:B>{a}</d:B></c:A>`, "&amp;", "&#0;"},
		{`text {a} <c:A/> tail {b}`, "\r\n\t", "\x00\xff"},
		{`<c:A><![CDATA[ x ]]>{a}</c:A>`, "]]>", "<!--"},
	}
	for _, s := range seeds {
		f.Add(s.tmpl, s.a, s.b)
	}
	ns := map[string]string{"c": "http://example.com/customers"}
	f.Fuzz(func(t *testing.T, tmpl, a, b string) {
		tp, err := compileTemplate(tmpl, ns)
		if err != nil {
			return
		}
		args, probe := map[string]any{}, map[string]any{}
		for i, name := range tp.args {
			probe[name] = "x"
			if i%2 == 0 {
				args[name] = a
			} else {
				args[name] = b
			}
		}
		var want, got bytes.Buffer
		if err := tp.render(&want, probe, nil); err != nil {
			t.Fatal(err)
		}
		if err := tp.render(&got, args, nil); err != nil {
			t.Fatal(err)
		}
		ws, _, err := structure(want.Bytes())
		if err != nil {
			t.Fatalf("harmless rendering %q does not parse: %v", want.String(), err)
		}
		gs, texts, err := structure(got.Bytes())
		if err != nil {
			t.Fatalf("rendering %q does not parse: %v", got.String(), err)
		}
		if ws != gs {
			t.Fatalf("arguments changed the structure:\n%s\n%s\nfrom %q", ws, gs, got.String())
		}
		used := []string{a}
		if len(tp.args) > 1 {
			used = append(used, b)
		}
		for _, v := range used {
			if len(tp.args) > 0 && validXMLText(v) && !strings.Contains(texts, v) {
				t.Fatalf("argument %q does not read back from %q", v, got.String())
			}
		}
	})
}

// structure describes data's tokens without their text, and returns the
// text (character data and attribute values) alongside.
func structure(data []byte) (string, string, error) {
	d := xml.NewDecoder(io.MultiReader(strings.NewReader(`<r xmlns:c="urn:c">`), bytes.NewReader(data), strings.NewReader("</r>")))
	var s, texts strings.Builder
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return s.String(), texts.String(), nil
		}
		if err != nil {
			return "", "", err
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			s.WriteString("<" + tk.Name.Space + " " + tk.Name.Local)
			for _, at := range tk.Attr {
				s.WriteString(" @" + at.Name.Space + " " + at.Name.Local)
				texts.WriteString(at.Value)
			}
			s.WriteString(">")
		case xml.EndElement:
			s.WriteString("</>")
		case xml.Comment:
			s.WriteString("<!-- " + string(tk) + " -->")
		case xml.CharData:
			texts.Write(tk)
		}
	}
}

func validXMLText(s string) bool {
	for _, r := range s {
		if r == 0xFFFD || r < 0x20 && r != '\t' && r != '\n' && r != '\r' {
			return false
		}
	}
	return true
}
