package rest_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/skybridgehq/skybridge/connectors"
	"github.com/skybridgehq/skybridge/connectors/rest"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	base := func(edit func(cfg map[string]any)) map[string]any {
		cfg := map[string]any{"baseURL": "https://crm.example/api"}
		if edit != nil {
			edit(cfg)
		}
		return cfg
	}
	get := map[string]map[string]any{"get": {"method": "GET", "path": "/customers/{id}"}}
	tests := []struct {
		name   string
		config map[string]any
		ops    map[string]map[string]any
		dyn    map[string]connectors.Template
		fields []string // want exactly these fields, in order; nil for valid
	}{
		{"valid", base(nil), get, nil, nil},
		{"full", base(func(c map[string]any) {
			c["timeout"], c["maxResponseBytes"], c["concurrency"] = "2s", 1024, 8
			c["headers"] = map[string]any{"X-App": "sky"}
			c["circuitBreaker"] = map[string]any{"failures": 2, "window": "5s", "openFor": "1m"}
			c["statuses"] = map[any]any{404: nil, "5xx": "error"}
			c["auth"] = map[string]any{"type": "oauth2-client-credentials", "tokenURL": "https://idp.example/token", "clientId": "a", "clientSecret": "b", "scopes": "x y"}
			c["tls"] = map[string]any{"serverName": "crm.internal"}
		}), map[string]map[string]any{"post": {"method": "post", "path": "/o?x={y}", "bodyType": "form", "body": map[string]any{"a": 1}, "idempotent": true, "query": map[string]any{"q": "{z}"}}}, nil, nil},
		{"placeholders not judged", map[string]any{
			"baseURL": "${env.CRM_URL}", "timeout": "${env.T}", "concurrency": "${env.N}",
			"auth": map[string]any{"type": "${env.AUTH}", "whatever": 1},
			"tls":  map[string]any{"caPEM": "${secret.CA}", "certPEM": "${secret.C}", "keyPEM": "${secret.K}", "insecureSkipVerify": "${env.I}"},
		}, map[string]map[string]any{"get": {"method": "${env.M}", "path": "${env.P}"}}, nil, nil},
		{"placeholder auth values", base(func(c map[string]any) {
			c["auth"] = map[string]any{"type": "basic", "username": "${secret.U}", "password": "${secret.P}"}
		}), get, nil, nil},
		{"missing baseURL", map[string]any{}, get, nil, []string{"config.baseURL"}},
		{"baseURL not http", base(func(c map[string]any) { c["baseURL"] = "ftp://x" }), get, nil, []string{"config.baseURL"}},
		{"baseURL with credentials", base(func(c map[string]any) { c["baseURL"] = "https://u:p@crm.example" }), get, nil, []string{"config.baseURL"}},
		{"bad method", base(nil), map[string]map[string]any{"get": {"method": "FETCH", "path": "/"}}, nil, []string{"operations.get.method"}},
		{"missing path", base(nil), map[string]map[string]any{"get": {}}, nil, []string{"operations.get.path"}},
		{"bad path", base(nil), map[string]map[string]any{"get": {"path": "/a/../b"}}, nil, []string{"operations.get.path"}},
		{"bad auth type", base(func(c map[string]any) { c["auth"] = map[string]any{"type": "kerberos"} }), get, nil, []string{"config.auth.type"}},
		{"basic without password", base(func(c map[string]any) { c["auth"] = map[string]any{"type": "basic", "username": "u"} }), get, nil, []string{"config.auth.password"}},
		{"apiKey without place", base(func(c map[string]any) { c["auth"] = map[string]any{"type": "apiKey", "value": "v"} }), get, nil, []string{"config.auth.header"}},
		{"bad timeout", base(func(c map[string]any) { c["timeout"] = "soon" }), get, nil, []string{"config.timeout"}},
		{"negative timeout", base(func(c map[string]any) { c["timeout"] = "-1s" }), get, nil, []string{"config.timeout"}},
		{"bad CA PEM", base(func(c map[string]any) { c["tls"] = map[string]any{"caPEM": "not a pem"} }), get, nil, []string{"config.tls.caPEM"}},
		{"bad cert PEM", base(func(c map[string]any) { c["tls"] = map[string]any{"certPEM": "x", "keyPEM": "y"} }), get, nil, []string{"config.tls.certPEM"}},
		{"cert without key", base(func(c map[string]any) { c["tls"] = map[string]any{"certPEM": "x"} }), get, nil, []string{"config.tls.certPEM"}},
		{"insecure must be a boolean", base(func(c map[string]any) { c["tls"] = map[string]any{"insecureSkipVerify": "yes"} }), get, nil, []string{"config.tls.insecureSkipVerify"}},
		{"bad status key and outcome", base(func(c map[string]any) { c["statuses"] = map[string]any{"700": nil, "404": "maybe"} }), get, nil, []string{"config.statuses.404", "config.statuses.700"}},
		{"unknown fields", base(func(c map[string]any) { c["baseUrl"] = "x" }), map[string]map[string]any{"get": {"path": "/", "mehtod": "GET"}}, nil, []string{"config.baseUrl", "operations.get.mehtod"}},
		{"bad bodyType", base(nil), map[string]map[string]any{"get": {"path": "/", "bodyType": "xml"}}, nil, []string{"operations.get.bodyType"}},
		{"bad header name", base(func(c map[string]any) { c["headers"] = map[string]any{"Bad Header": "x"} }), get, nil, []string{"config.headers.Bad Header"}},
		{"no operations", base(nil), nil, nil, []string{"operations"}},
		{"dynamic path", base(nil), map[string]map[string]any{"get": {}}, map[string]connectors.Template{"path": connectors.Const("/x")}, []string{"operations.get.path"}},
		{"dynamic method", base(nil), get, map[string]connectors.Template{"method": connectors.Const("GET")}, []string{"operations.get.method"}},
		{"bad concurrency", base(func(c map[string]any) { c["concurrency"] = 0 }), get, nil, []string{"config.concurrency"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			spec := connectors.Spec{Name: "crm", Type: "rest", Config: tc.config, Operations: ops(tc.ops)}
			for name, op := range spec.Operations {
				op.Dynamic = tc.dyn
				spec.Operations[name] = op
			}
			errs := rest.Validate(spec)
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
	spec := connectors.Spec{Name: "crm", Type: "rest", Config: map[string]any{"baseURL": "${env.CRM_URL}"},
		Operations: ops(map[string]map[string]any{"get": {"path": "/"}})}
	if errs := rest.Validate(spec); len(errs) != 0 {
		t.Fatalf("Validate: %v", errs)
	}
	_, err := rest.Type.New(spec, connectors.Options{})
	if !errors.Is(err, rest.ErrInvalidSpec) || !strings.Contains(err.Error(), "config.baseURL") {
		t.Fatalf("New: %v", err)
	}
}
