package rest

import (
	"net/url"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/skybridgehq/skybridge/connectors"
)

// FuzzPathTemplate: compiling and filling any template with any argument
// values never panics, and a filled URL always stays on the base host and
// under the base path, without dot segments.
func FuzzPathTemplate(f *testing.F) {
	seeds := []struct{ tmpl, a, b string }{
		{"/customers/{id}", "c1", ""},
		{"/customers/{id}/orders?status={s}&x=1", "a/b", "open&closed"},
		{"/c/{a}{b}", ".", "."},
		{"/c/{a}", "..", ""},
		{"/c/{a}", "%2e%2e", ""},
		{"/{a}/{b}", "", "x"},
		{"/x?{a}={b}", "k", "v#frag"},
		{"/c/{a}", "@evil.example", ""},
		{"//{a}", "evil.example", ""},
		{"/%41/{b}", "", "\x00\r\n"},
	}
	for _, s := range seeds {
		f.Add(s.tmpl, s.a, s.b)
	}
	const base = "https://api.example:8443/base"
	f.Fuzz(func(t *testing.T, tmpl, a, b string) {
		pt, err := compilePath(tmpl)
		if err != nil {
			return
		}
		args := map[string]any{}
		for i, p := range append(append([]part{}, pt.path...), pt.query...) {
			if p.arg != "" {
				if i%2 == 0 {
					args[p.arg] = a
				} else {
					args[p.arg] = b
				}
			}
		}
		got, err := pt.appendPath([]byte(base), args)
		if err != nil {
			return
		}
		if pt.query != nil {
			got = append(got, '?')
			if got, err = pt.appendQuery(got, args); err != nil {
				return
			}
		}
		u, err := url.Parse(string(got))
		if err != nil {
			t.Fatalf("filled %q does not parse: %v", got, err)
		}
		if u.Scheme != "https" || u.Host != "api.example:8443" || u.User != nil || u.Fragment != "" {
			t.Fatalf("filled %q left the base: scheme %q host %q", got, u.Scheme, u.Host)
		}
		p := u.EscapedPath()
		if !strings.HasPrefix(p, "/base/") {
			t.Fatalf("filled %q left the base path: %q", got, p)
		}
		for _, seg := range strings.Split(p, "/") {
			if s, err := url.PathUnescape(seg); err != nil || s == "." || s == ".." {
				t.Fatalf("filled %q has segment %q", got, seg)
			}
		}
	})
}

// FuzzSpec: Validate and New on any decoded connector document never
// panic, and New accepts only what strict reading accepts.
func FuzzSpec(f *testing.F) {
	seeds := []string{
		"config: {baseURL: 'https://crm.example/api', timeout: 2s, auth: {type: bearer, token: t}}\noperations: {get: {method: GET, path: '/c/{id}'}}",
		"config: {baseURL: '${env.X}', auth: {type: '${env.T}'}}\noperations: {get: {path: '/x'}}",
		"config: {baseURL: 'http://h', statuses: {404: null, 5xx: ok}, circuitBreaker: false, concurrency: '8'}\noperations: {p: {method: post, path: '/o', body: {a: [1, 2]}, bodyType: form}}",
		"config: {baseURL: 'http://h', tls: {caPEM: x, certPEM: y}}\noperations: {g: {path: '/', query: {a: '{b}'}, headers: {X-A: 1}}}",
		"config: {baseURL: 'http://h', auth: {type: oauth2-client-credentials, tokenURL: 'http://t/token', clientId: a, clientSecret: b, scopes: 'x y'}}\noperations: {g: {path: '/', statuses: {'4xx': [1]}}}",
		"config: [1]\noperations: {g: 3}",
		"config: {baseURL: 'http://h', maxResponseBytes: 1e99, timeout: -1}\noperations: {}",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		var d struct {
			Config     any            `yaml:"config"`
			Operations map[string]any `yaml:"operations"`
		}
		if yaml.Unmarshal([]byte(doc), &d) != nil {
			return
		}
		cfg, _ := d.Config.(map[string]any)
		spec := connectors.Spec{Name: "fz", Type: "rest", Config: cfg, Operations: map[string]connectors.Operation{}}
		for name, op := range d.Operations {
			static, _ := op.(map[string]any)
			spec.Operations[name] = connectors.Operation{Static: static}
		}
		_ = Validate(spec)
		_, strictErrs := readSpec(spec, true)
		c, err := New(spec, connectors.Options{})
		if (err == nil) != (len(strictErrs) == 0) {
			t.Fatalf("New error %v but strict reading found %d problems", err, len(strictErrs))
		}
		if err == nil {
			_ = c.Close()
		}
	})
}
