package rest

import (
	"errors"
	"strings"
	"testing"
)

func TestPathTemplate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, tmpl string
		args       map[string]any
		want       string // filled path and query, or "" with wantErr
		compileErr bool
		argErr     string // the argument an argError names
	}{
		{name: "plain", tmpl: "/customers", want: "/customers"},
		{name: "segment", tmpl: "/customers/{id}", args: map[string]any{"id": "c1"}, want: "/customers/c1"},
		{name: "slash escaped", tmpl: "/customers/{id}", args: map[string]any{"id": "a/b"}, want: "/customers/a%2Fb"},
		{name: "space and unicode", tmpl: "/c/{id}", args: map[string]any{"id": "a b/é"}, want: "/c/a%20b%2F%C3%A9"},
		{name: "question mark in path value", tmpl: "/c/{id}", args: map[string]any{"id": "x?y=1"}, want: "/c/x%3Fy=1"},
		{name: "number", tmpl: "/c/{id}", args: map[string]any{"id": 42.0}, want: "/c/42"},
		{name: "bool and int", tmpl: "/c/{a}-{b}", args: map[string]any{"a": true, "b": 7}, want: "/c/true-7"},
		{name: "query escaping", tmpl: "/orders?customer={c}&limit=10", args: map[string]any{"c": "a&b=c d"}, want: "/orders?customer=a%26b%3Dc+d&limit=10"},
		{name: "dot inside segment", tmpl: "/files/{name}", args: map[string]any{"name": "a.txt"}, want: "/files/a.txt"},
		{name: "trailing slash literal", tmpl: "/orders/", want: "/orders/"},
		{name: "missing", tmpl: "/c/{id}", args: map[string]any{}, argErr: "id"},
		{name: "null", tmpl: "/c/{id}", args: map[string]any{"id": nil}, argErr: "id"},
		{name: "mapping", tmpl: "/c/{id}", args: map[string]any{"id": map[string]any{}}, argErr: "id"},
		{name: "missing in query", tmpl: "/c?x={q}", args: map[string]any{}, argErr: "q"},
		{name: "dotdot", tmpl: "/c/{id}/x", args: map[string]any{"id": ".."}, argErr: "id"},
		{name: "dot", tmpl: "/c/{id}", args: map[string]any{"id": "."}, argErr: "id"},
		{name: "dots from two args", tmpl: "/c/{a}{b}", args: map[string]any{"a": ".", "b": "."}, argErr: "a"},
		{name: "empty", tmpl: "/c/{id}/orders", args: map[string]any{"id": ""}, argErr: "id"},
		{name: "no leading slash", tmpl: "c/{id}", compileErr: true},
		{name: "unclosed", tmpl: "/c/{id", compileErr: true},
		{name: "bad name", tmpl: "/c/{a.b}", compileErr: true},
		{name: "space literal", tmpl: "/c d", compileErr: true},
		{name: "fragment", tmpl: "/c#x", compileErr: true},
		{name: "bad escape", tmpl: "/c%zz", compileErr: true},
		{name: "literal dotdot", tmpl: "/c/../admin", compileErr: true},
		{name: "escaped dotdot", tmpl: "/c/%2e%2E/admin", compileErr: true},
		{name: "double slash", tmpl: "/c//d", compileErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pt, err := compilePath(tc.tmpl)
			if tc.compileErr {
				if !errors.Is(err, errPath) {
					t.Fatalf("compilePath(%q) = %v, want errPath", tc.tmpl, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("compilePath(%q): %v", tc.tmpl, err)
			}
			got, err := pt.appendPath(nil, tc.args)
			if err == nil && pt.query != nil {
				got = append(got, '?')
				got, err = pt.appendQuery(got, tc.args)
			}
			if tc.argErr != "" {
				var ae *argError
				if !errors.As(err, &ae) || ae.name != tc.argErr || !strings.Contains(err.Error(), `"`+tc.argErr+`"`) {
					t.Fatalf("error %v, want one naming %q", err, tc.argErr)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("filled %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestSettingsDefaults(t *testing.T) {
	t.Parallel()
	s := settings{}.withDefaults()
	if s.timeout != DefaultTimeout || s.maxResponseBytes != DefaultMaxResponseBytes {
		t.Fatalf("defaults not applied: %+v", s)
	}
	kept := settings{timeout: 1, maxResponseBytes: 2}.withDefaults()
	if kept.timeout != 1 || kept.maxResponseBytes != 2 {
		t.Fatalf("set values replaced: %+v", kept)
	}
}
