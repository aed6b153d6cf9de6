package orchestration

import (
	"errors"
	"strings"
	"testing"

	"github.com/skybridgehq/skybridge/connectors"
)

// FuzzLoad: the loader never panics, and every error it reports points
// inside the input.
func FuzzLoad(f *testing.F) {
	for _, seed := range []string{
		connectorDoc,
		flowHead + "  - {id: a, transform: \"${1 + 2}\"}\n",
		flowHead + "  - parallel:\n      - {id: a, call: crm.getCustomer}\n      - {foreach: \"${[1]}\", steps: [{transform: \"${item}\"}]}\n",
		httpBundle,
		sprintf(cachedFlow, "user"),
		"apiVersion: skybridge/v1\nkind: Flow\nname: a\nsteps:\n  - flow: a\n",
		"a: &x [1]\nb: *x\n",
		"---\n---\nkind: [\n",
		"kind: Flow\nname: \"${\"\n",
		"\t\x00",
	} {
		f.Add(seed)
	}
	e := NewEngine(EngineConfig{Connectors: map[string]connectors.Type{"func": funcType(crmHandler, nil), "http": httpType()}})
	f.Fuzz(func(t *testing.T, text string) {
		_, err := e.Load(map[string]string{"c.yaml": connectorDoc, "f.yaml": text})
		if err == nil {
			return
		}
		var ve *ValidationError
		if !errors.As(err, &ve) || len(ve.Errors) == 0 {
			t.Fatalf("Load error %v is not a ValidationError with errors", err)
		}
		lines := strings.Count(text, "\n") + 1
		for _, fe := range ve.Errors {
			if fe.File != "f.yaml" && fe.File != "c.yaml" {
				t.Fatalf("error in unknown file: %v", fe)
			}
			if fe.File == "f.yaml" && (fe.Line < 1 || fe.Line > lines+1 || fe.Column < 1) {
				t.Fatalf("error outside the input (%d lines): %v", lines, fe)
			}
		}
	})
}

// FuzzExpression: compiling and evaluating arbitrary ${...} text never
// panics.
func FuzzExpression(f *testing.F) {
	for _, seed := range []string{
		"${input.a + 1}", "x ${steps.c.name} y", "${map(input.list, # * 2)}", "${ {a: 1}.a }", `${"}"}`,
		"${formatDate(now(), 'RFC3339')}", "${parseDate('x')}", "${1..100000000}", "${repeat('x', 1000000000)}",
		"${user.id}", "${$env}", "$${literal}", "${", "${}", "${'unterminated}", "${upper(input.a)} ${join(input.list, ',')}",
		"${let x = input; x.a}", "${input.a ?? 'none'}", "${toJSON(input)}", "${fromJSON('{')}", "${1/0}",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		c := &compiler{reader: reader{file: "x.yaml", errs: &errorList{}}, envRefs: map[string]bool{}, secretRefs: map[string]bool{}}
		sc := flowScope(nil)
		sc.steps["c"] = true
		node := scalarNode(text)
		v := c.value(node, "v", sc)
		env := map[string]any{
			nameInput: map[string]any{"a": "x", "list": []any{1.0, 2.0}}, nameSteps: map[string]any{"c": map[string]any{"name": "n"}},
			nameVars: map[string]any{}, nameUser: nil, nameEnv: map[string]any{}, nameMeta: map[string]any{},
		}
		_, _ = v.eval(env)
		for _, fe := range c.errs.errs {
			if fe.Line != 1 || fe.Column < 1 {
				t.Fatalf("error position %d:%d for a one-line value", fe.Line, fe.Column)
			}
		}
	})
}
