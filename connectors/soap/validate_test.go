package soap_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/skybridgehq/skybridge/connectors"
	"github.com/skybridgehq/skybridge/connectors/soap"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	base := func(edit func(cfg map[string]any)) map[string]any {
		return config("https://erp.example/ws/customers", "1.1", edit)
	}
	get := map[string]map[string]any{"get": getCustomer(map[string]any{"id": "c:GetCustomerResponse/c:customer/c:id"})}
	op := func(fields map[string]any) map[string]map[string]any { return map[string]map[string]any{"get": fields} }
	tests := []struct {
		name   string
		config map[string]any
		ops    map[string]map[string]any
		dyn    map[string]connectors.Template
		fields []string // want exactly these fields, in order; nil for valid
	}{
		{"valid", base(nil), get, nil, nil},
		{"full", base(func(c map[string]any) {
			c["version"], c["timeout"], c["maxResponseBytes"], c["concurrency"] = 1.2, "2s", 4096, 8
			c["headers"] = map[string]any{"X-App": "sky"}
			c["circuitBreaker"] = false
			c["security"] = map[string]any{"type": "usernameToken", "username": "u", "password": "p", "passwordType": "text", "mustUnderstand": false}
			c["tls"] = map[string]any{"serverName": "erp.internal"}
		}), op(map[string]any{"action": "urn:x", "body": `<c:A x="{b}">{a}{{</c:A><!-- c -->`, "soapHeader": "<c:S>{s}</c:S>", "params": map[string]any{"b": 1},
			"headers": map[string]any{"X-Op": "1"}, "idempotent": true,
			"result": map[string]any{"l": map[string]any{"path": "c:A/*", "list": true, "fields": map[string]any{"v": ".", "t": map[string]any{"path": "@t", "type": "integer"}}}}}), nil, nil},
		{"placeholders not judged", map[string]any{
			"endpoint": "${env.URL}", "version": "${env.V}", "timeout": "${env.T}", "namespaces": map[string]any{"c": "${env.NS}"},
			"security": map[string]any{"type": "${env.SEC}", "whatever": 1},
			"tls":      map[string]any{"caPEM": "${secret.CA}"},
		}, op(map[string]any{"action": "${env.A}", "body": "<c:A>${env.X}</c:A>", "result": map[string]any{"x": "c:A/c:b"}}), nil, nil},
		{"placeholder credentials", base(func(c map[string]any) {
			c["security"] = map[string]any{"type": "usernameToken", "username": "${secret.U}", "password": "${secret.P}"}
		}), get, nil, nil},
		{"dynamic params and headers", base(nil), get, map[string]connectors.Template{"params": connectors.Const(map[string]any{}), "headers.X-A": connectors.Const("a")}, nil},
		{"missing endpoint", map[string]any{}, get, nil, []string{"config.endpoint", "operations.get.body", "operations.get.result.id"}},
		{"endpoint not http", base(func(c map[string]any) { c["endpoint"] = "ftp://x" }), get, nil, []string{"config.endpoint"}},
		{"endpoint with credentials", base(func(c map[string]any) { c["endpoint"] = "https://u:p@erp.example" }), get, nil, []string{"config.endpoint"}},
		{"bad version", base(func(c map[string]any) { c["version"] = "2.0" }), get, nil, []string{"config.version"}},
		{"bad security type", base(func(c map[string]any) { c["security"] = map[string]any{"type": "x509"} }), get, nil, []string{"config.security.type"}},
		{"security without password", base(func(c map[string]any) { c["security"] = map[string]any{"type": "usernameToken", "username": "u"} }), get, nil, []string{"config.security.password"}},
		{"bad password type", base(func(c map[string]any) {
			c["security"] = map[string]any{"type": "usernameToken", "username": "u", "password": "p", "passwordType": "sha256"}
		}), get, nil, []string{"config.security.passwordType"}},
		{"reserved prefix", base(func(c map[string]any) { c["namespaces"] = map[string]any{"c": "urn:c", "soap": "urn:s"} }), get, nil, []string{"config.namespaces.soap"}},
		{"bad prefix", base(func(c map[string]any) { c["namespaces"] = map[string]any{"c": "urn:c", "1x": "urn:s"} }), get, nil, []string{"config.namespaces.1x"}},
		{"missing body", base(nil), op(map[string]any{"action": "a"}), nil, []string{"operations.get.body"}},
		{"body not well-formed", base(nil), op(map[string]any{"body": "<c:A><c:B></c:A>"}), nil, []string{"operations.get.body"}},
		{"body closes the Body", base(nil), op(map[string]any{"body": "</r><r>"}), nil, []string{"operations.get.body"}},
		{"body with unknown prefix", base(nil), op(map[string]any{"body": "<d:A/>"}), nil, []string{"operations.get.body"}},
		{"body with inline namespace", base(nil), op(map[string]any{"body": `<d:A xmlns:d="urn:d"><d:B/></d:A>`}), nil, nil},
		{"placeholder in a name", base(nil), op(map[string]any{"body": "<c:{n}/>"}), nil, []string{"operations.get.body"}},
		{"placeholder in a comment", base(nil), op(map[string]any{"body": "<c:A/><!-- {n} -->"}), nil, []string{"operations.get.body"}},
		{"placeholder in CDATA", base(nil), op(map[string]any{"body": "<c:A><![CDATA[{n}]]></c:A>"}), nil, []string{"operations.get.body"}},
		{"bad placeholder", base(nil), op(map[string]any{"body": "<c:A>{ n }</c:A>"}), nil, []string{"operations.get.body"}},
		{"processing instruction", base(nil), op(map[string]any{"body": "<?pi x?><c:A/>"}), nil, []string{"operations.get.body"}},
		{"bad action", base(nil), op(map[string]any{"action": `a"b`, "body": "<c:A/>"}), nil, []string{"operations.get.action"}},
		{"bad path syntax", base(nil), op(map[string]any{"body": "<c:A/>", "result": map[string]any{"a": "c:A//c:b", "b": "@x/c:y", "c": ""}}), nil,
			[]string{"operations.get.result.a", "operations.get.result.b", "operations.get.result.c"}},
		{"unknown path prefix", base(nil), op(map[string]any{"body": "<c:A/>", "result": map[string]any{"a": "x:A"}}), nil, []string{"operations.get.result.a"}},
		{"bad result type", base(nil), op(map[string]any{"body": "<c:A/>", "result": map[string]any{"a": map[string]any{"path": "c:A", "type": "date"}}}), nil, []string{"operations.get.result.a.type"}},
		{"attribute with fields", base(nil), op(map[string]any{"body": "<c:A/>", "result": map[string]any{"a": map[string]any{"path": "@x", "fields": map[string]any{"b": "c:B"}}}}), nil, []string{"operations.get.result.a"}},
		{"unknown fields", base(func(c map[string]any) { c["endpointURL"] = "x" }), op(map[string]any{"body": "<c:A/>", "bdy": 1}), nil, []string{"config.endpointURL", "operations.get.bdy"}},
		{"dynamic body", base(nil), op(map[string]any{}), map[string]connectors.Template{"body": connectors.Const("<c:A/>")}, []string{"operations.get.body"}},
		{"dynamic action", base(nil), get, map[string]connectors.Template{"action": connectors.Const("a")}, []string{"operations.get.action"}},
		{"no operations", base(nil), nil, nil, []string{"operations"}},
		{"bad timeout", base(func(c map[string]any) { c["timeout"] = "soon" }), get, nil, []string{"config.timeout"}},
		{"bad CA", base(func(c map[string]any) { c["tls"] = map[string]any{"caPEM": "nope"} }), get, nil, []string{"config.tls.caPEM"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			spec := connectors.Spec{Name: "customers", Type: "soap", Config: tc.config, Operations: ops(tc.ops)}
			for name, op := range spec.Operations {
				op.Dynamic = tc.dyn
				spec.Operations[name] = op
			}
			errs := soap.Validate(spec)
			var got []string
			for _, e := range errs {
				got = append(got, e.Field)
				if strings.Contains(e.Message, "u:p@") {
					t.Errorf("%s quotes the credentials: %s", e.Field, e.Message)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.fields, ",") {
				t.Fatalf("fields %v, want %v (%v)", got, tc.fields, errs)
			}
		})
	}
}

// TestNewJudgesPlaceholders: what Validate lets pass unresolved, New
// refuses, since by then every value must be resolved.
func TestNewJudgesPlaceholders(t *testing.T) {
	t.Parallel()
	spec := connectors.Spec{Name: "customers", Type: "soap", Config: map[string]any{"endpoint": "${env.URL}"},
		Operations: ops(map[string]map[string]any{"get": {"body": "<A/>"}})}
	if errs := soap.Validate(spec); len(errs) != 0 {
		t.Fatalf("Validate: %v", errs)
	}
	_, err := soap.Type.New(spec, connectors.Options{})
	if !errors.Is(err, soap.ErrInvalidSpec) || !strings.Contains(err.Error(), "config.endpoint") {
		t.Fatalf("New: %v", err)
	}
}
