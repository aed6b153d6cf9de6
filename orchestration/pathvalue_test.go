package orchestration

import (
	"reflect"
	"testing"
)

// FuzzPathValue holds the member-path shortcut to the expression machine:
// for every expression the shortcut takes, over environments with
// present, missing, nil and non-map members, both answer alike (value,
// or both an error).
func FuzzPathValue(f *testing.F) {
	for _, seed := range []string{
		"input.a", "input.missing", "input.n.deep", "steps.c.name", "steps.c.rows", "steps.nil.x",
		"input.list.x", "user.id", "env.K", "input.a.b", "steps.c.name.x", "input._x1", "input.in",
	} {
		f.Add(seed)
	}
	envs := []map[string]any{
		{
			nameInput: map[string]any{"a": "x", "n": map[string]any{"deep": 1.5}, "list": []any{1.0}, "_x1": true, "in": "kw"},
			nameSteps: map[string]any{"c": map[string]any{"name": "n", "rows": []any{map[string]any{"id": 1}}}, "nil": nil},
			nameVars:  map[string]any{}, nameUser: nil, nameEnv: map[string]any{"K": "v"}, nameMeta: map[string]any{},
		},
		{
			nameInput: map[string]any{}, nameSteps: map[string]any{"c": "not a map"},
			nameVars: map[string]any{}, nameUser: &User{ID: "u1"}, nameEnv: map[string]any{}, nameMeta: map[string]any{},
		},
	}
	f.Fuzz(func(t *testing.T, src string) {
		path := memberPath(src)
		if path == nil {
			return
		}
		c := &compiler{reader: reader{file: "x.yaml", errs: &errorList{}}, envRefs: map[string]bool{}, secretRefs: map[string]bool{}}
		sc := flowScope(nil)
		sc.steps["c"], sc.steps["nil"] = true, true
		v := c.value(scalarNode("${"+src+"}"), "v", sc)
		pv, ok := v.(pathValue)
		if !ok {
			return // refused at compile time: nothing to compare
		}
		for _, env := range envs {
			got, gerr := pv.eval(env)
			want, werr := exprValue{pv.p}.eval(env)
			if (gerr != nil) != (werr != nil) || !reflect.DeepEqual(got, want) {
				t.Fatalf("%q: shortcut %#v, %v; program %#v, %v", src, got, gerr, want, werr)
			}
		}
	})
}

func TestMemberPath(t *testing.T) {
	t.Parallel()
	for src, want := range map[string][]string{
		"input.id":              {"input", "id"},
		" steps.customer.erpId": {"steps", "customer", "erpId"},
		"input":                 nil,
		"input.":                nil,
		"input.1a":              nil,
		"input.a + 1":           nil,
		"input?.a":              nil,
		"input['a']":            nil,
		"map(input.l, #)":       nil,
	} {
		if got := memberPath(src); !reflect.DeepEqual(got, want) {
			t.Errorf("memberPath(%q) = %q, want %q", src, got, want)
		}
	}
}

func TestPathValueCompiled(t *testing.T) {
	t.Parallel()
	c := &compiler{reader: reader{file: "x.yaml", errs: &errorList{}}, envRefs: map[string]bool{}, secretRefs: map[string]bool{}}
	sc := flowScope(nil)
	sc.steps["c"] = true
	if _, ok := c.value(scalarNode("${steps.c.name}"), "v", sc).(pathValue); !ok {
		t.Error("a member path did not compile to the shortcut")
	}
	if _, ok := c.value(scalarNode("${steps.c.name + 'x'}"), "v", sc).(exprValue); !ok {
		t.Error("an expression compiled to the shortcut")
	}
	env := map[string]any{nameSteps: map[string]any{"c": map[string]any{"name": "n"}}}
	if v, err := c.value(scalarNode("${steps.c.name}"), "v", sc).eval(env); err != nil || v != "n" {
		t.Errorf("eval = %v, %v", v, err)
	}
}
