package soap_test

import (
	"context"
	"encoding/xml"
	"net/http"
	"strings"
	"testing"

	"github.com/skybridgehq/skybridge/connectors"
	"github.com/skybridgehq/skybridge/connectors/soap"
)

// getCustomerRequest is how the service decodes GetCustomer.
type getCustomerRequest struct {
	XMLName xml.Name  `xml:"http://example.com/customers GetCustomer"`
	ID      string    `xml:"http://example.com/customers id"`
	Kind    string    `xml:"kind,attr"`
	Evil    *struct{} `xml:"evil"`
	Any     []struct {
		XMLName xml.Name
	} `xml:",any"`
}

func argsTemplate(key string) connectors.Template {
	return func(scope map[string]any) (any, error) {
		args, _ := scope["args"].(map[string]any)
		return args[key], nil
	}
}

// TestEnvelope: both versions send a well-formed envelope in their
// namespace with the config's namespaces, the action where the version
// binds it (quoted SOAPAction for 1.1, the Content-Type action parameter
// for 1.2), the body filled from args and params, HTTP headers and the
// traceparent.
func TestEnvelope(t *testing.T) {
	t.Parallel()
	for _, version := range []string{"1.1", "1.2"} {
		t.Run("version="+version, func(t *testing.T) {
			t.Parallel()
			srv := newSOAPServer(t, version, nil)
			srv.handle = func(r *received) (int, string) {
				return http.StatusOK, srv.reply(`<c:GetCustomerResponse><c:customer><c:id>42</c:id></c:customer></c:GetCustomerResponse>`)
			}
			operations := ops(map[string]map[string]any{
				"getCustomer": getCustomer(nil),
				"search": {
					"body":       `<c:Search kind="{kind}"><c:id>{id}</c:id><c:name>{full}</c:name></c:Search>`,
					"soapHeader": `<c:Session>{session}</c:Session>`,
					"headers":    map[string]any{"X-Op": "search"},
				},
			})
			search := operations["search"]
			search.Dynamic = map[string]connectors.Template{
				"params": func(scope map[string]any) (any, error) {
					args, _ := scope["args"].(map[string]any)
					return map[string]any{"full": args["first"].(string) + " " + args["last"].(string)}, nil
				},
				"headers.X-Customer": argsTemplate("id"),
			}
			operations["search"] = search
			c, _ := connect(t, config(srv.URL, version, func(cfg map[string]any) {
				cfg["headers"] = map[string]any{"X-App": "sky", "Content-Type": "text/plain"}
			}), operations, connectors.Options{})

			resp, err := call(t, c, "getCustomer", map[string]any{"id": 42})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != http.StatusOK {
				t.Fatalf("status %d", resp.Status)
			}
			const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
			if _, err := c.Call(context.Background(), connectors.Request{Operation: "search", Traceparent: tp,
				Args: map[string]any{"id": "7", "kind": "gold", "first": "Ada", "last": "Lovelace", "session": "s-1"}}); err != nil {
				t.Fatal(err)
			}
			got := srv.received()
			if len(got) != 2 {
				t.Fatalf("%d requests", len(got))
			}
			first, second := got[0], got[1]
			if first.action != "http://example.com/customers/GetCustomer" {
				t.Errorf("action %q", first.action)
			}
			wantCT := map[string]string{"1.1": "text/xml; charset=utf-8",
				"1.2": `application/soap+xml; charset=utf-8; action="http://example.com/customers/GetCustomer"`}[version]
			if first.contentType != wantCT {
				t.Errorf("Content-Type %q, want %q", first.contentType, wantCT)
			}
			if first.env.Header != nil {
				t.Errorf("a header block without security or soapHeader: %q", first.env.Header.Inner)
			}
			var gc getCustomerRequest
			if err := first.decodeBody(&gc); err != nil || gc.ID != "42" {
				t.Fatalf("body %q: %v, id %q", first.env.Body.Inner, err, gc.ID)
			}
			if !strings.HasPrefix(string(first.raw), `<?xml version="1.0" encoding="UTF-8"?>`) {
				t.Errorf("no XML declaration: %.60s", first.raw)
			}
			if second.action != "" {
				t.Errorf("search has no action, got %q", second.action)
			}
			if !strings.Contains(second.env.Body.Inner, `<c:Search kind="gold"><c:id>7</c:id><c:name>Ada Lovelace</c:name></c:Search>`) {
				t.Errorf("search body %q", second.env.Body.Inner)
			}
			if second.env.Header == nil || second.env.Header.Inner != `<c:Session>s-1</c:Session>` {
				t.Errorf("soapHeader not sent: %+v", second.env.Header)
			}
			for k, want := range map[string]string{"X-App": "sky", "X-Op": "search", "X-Customer": "7", "Traceparent": tp} {
				if v := second.header.Get(k); v != want {
					t.Errorf("header %s = %q, want %q", k, v, want)
				}
			}
		})
	}
}

// TestEscaping: argument values stay text wherever a placeholder stands;
// XML in an argument can neither close the element nor add attributes.
func TestEscaping(t *testing.T) {
	t.Parallel()
	srv := newSOAPServer(t, "1.1", nil)
	srv.handle = func(r *received) (int, string) { return http.StatusOK, srv.reply(`<c:Ok/>`) }
	c, _ := connect(t, config(srv.URL, "1.1", nil), ops(map[string]map[string]any{
		"get": {"body": `<c:GetCustomer kind="{kind}"><c:id>{id}</c:id></c:GetCustomer>`},
	}), connectors.Options{})
	tests := []struct{ name, id, kind string }{
		{"closing tag", "</c:id><evil/>", "k"},
		{"entity and CDATA", "&amp; <![CDATA[x]]> &#60;", "k"},
		{"attribute quotes", "1", `" evil="1`},
		{"single quote", "1", `' evil='1`},
		{"line breaks and tabs", "a\r\nb\tc", "x\ny"},
		{"comment", "<!-- x -->", "<!--"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(srv.received())
			if _, err := call(t, c, "get", map[string]any{"id": tc.id, "kind": tc.kind}); err != nil {
				t.Fatal(err)
			}
			rec := srv.received()[before]
			var gc getCustomerRequest
			if err := rec.decodeBody(&gc); err != nil {
				t.Fatalf("body %q: %v", rec.env.Body.Inner, err)
			}
			if gc.ID != tc.id || gc.Kind != tc.kind || gc.Evil != nil || len(gc.Any) != 0 {
				t.Fatalf("id %q kind %q evil %v unexpected elements %d from %q", gc.ID, gc.Kind, gc.Evil, len(gc.Any), rec.env.Body.Inner)
			}
		})
	}
	for _, tc := range []struct {
		args map[string]any
		want string
	}{
		{map[string]any{"kind": "k"}, `"id" is missing`},
		{map[string]any{"id": nil, "kind": "k"}, `"id" is missing`},
		{map[string]any{"id": []any{"a"}, "kind": "k"}, `"id" must be a string`},
		{map[string]any{"id": map[string]any{}, "kind": "k"}, `"id" must be a string`},
	} {
		_, err := call(t, c, "get", tc.args)
		if ce := wantKind(t, err, connectors.KindInvalid); !strings.Contains(ce.Message, tc.want) {
			t.Errorf("message %q does not say %s", ce.Message, tc.want)
		}
	}
}

func TestIdempotent(t *testing.T) {
	t.Parallel()
	c, _ := connect(t, config("http://127.0.0.1:1/ws", "1.1", nil), ops(map[string]map[string]any{
		"get": getCustomer(nil), "safe": {"body": "<c:A/>", "idempotent": true}, "unsafe": {"body": "<c:A/>", "idempotent": false},
	}), connectors.Options{})
	for op, want := range map[string]bool{"get": false, "safe": true, "unsafe": false, "unknown": false} {
		if got := c.Idempotent(op); got != want {
			t.Errorf("Idempotent(%s) = %v, want %v", op, got, want)
		}
	}
	_, err := call(t, c, "unknown", nil)
	wantKind(t, err, connectors.KindInvalid)
	var _ connectors.Connector = c
	if soap.Type.New == nil || soap.Type.Validate == nil {
		t.Fatal("soap.Type is incomplete")
	}
}
