package soap

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/text/encoding/htmlindex"
)

// MaxDepth bounds how deeply elements of an answer may nest; a deeper
// answer is KindBadResponse. It keeps a hostile answer from making the
// mapper recurse without bound.
const MaxDepth = 64

// xsiNS is the XML Schema instance namespace, for xsi:nil.
const xsiNS = "http://www.w3.org/2001/XMLSchema-instance"

// errDepth is the cause of an answer that nests deeper than MaxDepth.
var errDepth = errors.New("elements nested too deeply")

// element is one element of a parsed answer. Names carry namespace URIs,
// not prefixes.
type element struct {
	name     xml.Name
	attrs    []xml.Attr // without namespace declarations
	text     string     // the character data directly inside, concatenated
	children []*element
	isNil    bool // xsi:nil="true"
}

// parseXML reads data into a tree. Encodings other than UTF-8 named in the
// XML declaration (ISO-8859-1, windows-1252, ...) are decoded.
func parseXML(data []byte) (*element, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	d.CharsetReader = charsetReader
	var root *element
	var stack []*element
	var text [][]byte // character data of the open elements
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			if len(stack) >= MaxDepth {
				return nil, errDepth
			}
			e := &element{name: tk.Name}
			for _, a := range tk.Attr {
				if a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns" {
					continue
				}
				if a.Name.Space == xsiNS && a.Name.Local == "nil" {
					v := strings.TrimSpace(a.Value)
					e.isNil = v == "true" || v == "1"
				}
				e.attrs = append(e.attrs, a)
			}
			if len(stack) == 0 {
				if root != nil {
					return nil, fmt.Errorf("more than one root element")
				}
				root = e
			} else {
				parent := stack[len(stack)-1]
				parent.children = append(parent.children, e)
			}
			stack = append(stack, e)
			text = append(text, nil)
		case xml.EndElement:
			e := stack[len(stack)-1]
			e.text = string(text[len(text)-1])
			stack, text = stack[:len(stack)-1], text[:len(text)-1]
		case xml.CharData:
			if len(text) > 0 {
				text[len(text)-1] = append(text[len(text)-1], tk...)
			}
		}
	}
	if root == nil {
		return nil, fmt.Errorf("no root element")
	}
	return root, nil
}

func charsetReader(label string, input io.Reader) (io.Reader, error) {
	enc, err := htmlindex.Get(label)
	if err != nil {
		return nil, fmt.Errorf("unknown encoding %q", label)
	}
	return enc.NewDecoder().Reader(input), nil
}

// child returns e's first child element named local in namespace space.
func (e *element) child(space, local string) *element {
	for _, c := range e.children {
		if c.name.Local == local && c.name.Space == space {
			return c
		}
	}
	return nil
}

// childLocal returns e's first child element named local in any
// namespace (SOAP 1.1 fault parts are unqualified, yet some servers
// qualify them).
func (e *element) childLocal(local string) *element {
	for _, c := range e.children {
		if c.name.Local == local {
			return c
		}
	}
	return nil
}

// generic converts e into JSON values: an element without child elements
// and attributes is its text; otherwise a mapping from local names to
// values (a repeated name becomes a list), attributes as "@name", and
// non-blank text beside child elements as "#text". xsi:nil elements are
// null. Namespaces are dropped.
func (e *element) generic() any {
	if e.isNil {
		return nil
	}
	attrs := 0
	for _, a := range e.attrs {
		if a.Name.Space != xsiNS {
			attrs++
		}
	}
	if len(e.children) == 0 && attrs == 0 {
		return e.text
	}
	m := make(map[string]any, len(e.children)+attrs)
	for _, a := range e.attrs {
		if a.Name.Space != xsiNS {
			m["@"+a.Name.Local] = a.Value
		}
	}
	for _, c := range e.children {
		v := c.generic()
		switch prev := m[c.name.Local].(type) {
		case nil:
			if _, seen := m[c.name.Local]; !seen {
				m[c.name.Local] = v
				continue
			}
			m[c.name.Local] = repeated{nil, v}
		case repeated:
			m[c.name.Local] = append(prev, v)
		default:
			m[c.name.Local] = repeated{prev, v}
		}
	}
	for k, v := range m {
		if r, ok := v.(repeated); ok {
			m[k] = []any(r)
		}
	}
	if t := strings.TrimSpace(e.text); t != "" {
		m["#text"] = e.text
	}
	return m
}

// repeated marks a list generic is still building, so that a child whose
// own value is a list is not mistaken for it.
type repeated []any
