package orchestration

import (
	"errors"
	"strings"
	"testing"

	"github.com/skybridgehq/skybridge/connectors"
)

// flowHead is the first lines of a flow document; steps start on line 5.
const flowHead = `apiVersion: skybridge/v1
kind: Flow
name: f
steps:
`

func TestLoadValidation(t *testing.T) {
	t.Parallel()
	type want struct {
		file      string
		line, col int
		field     string
		msg       string
	}
	cases := []struct {
		name  string
		files map[string]string
		want  want
	}{
		{"unknown field", map[string]string{"f.yaml": flowHead + "  - {id: a, transform: 1}\nstepz: []\n"},
			want{"f.yaml", 6, 1, "stepz", `unknown field "stepz" (did you mean "steps"?)`}},
		{"misspelt step field", map[string]string{"f.yaml": flowHead + "  - id: a\n    call: crm.getCustomer\n    wiht: {id: 1}\n", "c.yaml": connectorDoc},
			want{"f.yaml", 7, 5, "steps[0].wiht", `did you mean "with"?`}},
		{"bad type", map[string]string{"f.yaml": flowHead + "  - id: a\n    foreach: [1]\n    concurrency: many\n    steps: [{transform: 1}]\n"},
			want{"f.yaml", 7, 18, "steps[0].concurrency", "must be an integer"}},
		{"bad duration", map[string]string{"f.yaml": flowHead + "  - {id: a, transform: 1, timeout: 5 seconds}\n"},
			want{"f.yaml", 5, 36, "steps[0].timeout", `positive duration`}},
		{"duration as number", map[string]string{"f.yaml": "apiVersion: skybridge/v1\nkind: Flow\nname: f\ntimeout: 5\nsteps: [{transform: 1}]\n"},
			want{"f.yaml", 4, 10, "timeout", "must be a duration"}},
		{"duplicate step id", map[string]string{"f.yaml": flowHead + "  - {id: a, transform: 1}\n  - {id: a, transform: 2}\n"},
			want{"f.yaml", 6, 10, "steps[1].id", `duplicate step id "a" (first at line 5)`}},
		{"duplicate id in a parallel branch", map[string]string{"f.yaml": flowHead + "  - {id: a, transform: 1}\n  - parallel:\n      - {id: a, transform: 2}\n"},
			want{"f.yaml", 7, 14, "steps[1].parallel[0].id", `duplicate step id "a"`}},
		{"unknown connector", map[string]string{"f.yaml": flowHead + "  - {id: a, call: erp.getCustomer}\n", "c.yaml": connectorDoc},
			want{"f.yaml", 5, 19, "steps[0].call", `unknown connector "erp"`}},
		{"unknown operation", map[string]string{"f.yaml": flowHead + "  - {id: a, call: crm.nope}\n", "c.yaml": connectorDoc},
			want{"f.yaml", 5, 19, "steps[0].call", `connector "crm" has no operation "nope"`}},
		{"unknown step reference", map[string]string{"f.yaml": flowHead + "  - {id: a, transform: 1}\n  - {id: b, transform: \"x ${steps.nope.id}\"}\n"},
			want{"f.yaml", 6, 29, "steps[1].transform", `unknown step "nope"`}},
		{"later step reference", map[string]string{"f.yaml": flowHead + "  - {id: a, transform: \"${steps.b}\"}\n  - {id: b, transform: 1}\n"},
			want{"f.yaml", 5, 27, "steps[0].transform", `unknown step "b"`}},
		{"bad expression syntax", map[string]string{"f.yaml": flowHead + "  - id: a\n    transform: ${1 +* 2}\n"},
			want{"f.yaml", 6, 21, "steps[0].transform", "expression: unexpected token"}},
		{"unterminated expression", map[string]string{"f.yaml": flowHead + "  - id: a\n    transform: \"abc ${input\"\n"},
			want{"f.yaml", 6, 21, "steps[0].transform", "unterminated ${"}},
		{"unknown input", map[string]string{"f.yaml": "apiVersion: skybridge/v1\nkind: Flow\nname: f\ninput: {a: string}\nsteps:\n  - transform: ${input.b}\n"},
			want{"f.yaml", 6, 18, "steps[0].transform", `unknown input "b"`}},
		{"secret in a flow", map[string]string{"f.yaml": flowHead + "  - transform: ${secret.TOKEN}\n"},
			want{"f.yaml", 5, 18, "steps[0].transform", "secrets are not visible to flows"}},
		{"flow cycle", map[string]string{
			"a.yaml": "apiVersion: skybridge/v1\nkind: Flow\nname: a\nsteps:\n  - flow: b\n",
			"b.yaml": "apiVersion: skybridge/v1\nkind: Flow\nname: b\nsteps:\n  - transform: 1\n  - flow: a\n"},
			want{"b.yaml", 6, 11, "steps[1].flow", "flow cycle: b calls a"}},
		{"self call", map[string]string{"a.yaml": "apiVersion: skybridge/v1\nkind: Flow\nname: a\nsteps:\n  - flow: a\n"},
			want{"a.yaml", 5, 11, "steps[0].flow", "flow cycle"}},
		{"unknown flow", map[string]string{"a.yaml": "apiVersion: skybridge/v1\nkind: Flow\nname: a\nsteps:\n  - flow: zz\n"},
			want{"a.yaml", 5, 11, "steps[0].flow", `unknown flow "zz"`}},
		{"flow step input", map[string]string{"a.yaml": "apiVersion: skybridge/v1\nkind: Flow\nname: a\ninput: {n: {type: number, required: true}}\nsteps: [{transform: 1}]\n---\napiVersion: skybridge/v1\nkind: Flow\nname: b\nsteps:\n  - flow: a\n    with: {m: 1}\n"},
			want{"a.yaml", 12, 12, "steps[0].with.m", `flow "a" has no input "m"`}},
		{"missing steps", map[string]string{"f.yaml": "apiVersion: skybridge/v1\nkind: Flow\nname: f\n"},
			want{"f.yaml", 1, 1, "steps", "missing required field steps"}},
		{"missing connector type", map[string]string{"c.yaml": "apiVersion: skybridge/v1\nkind: Connector\nname: c\noperations: {}\n"},
			want{"c.yaml", 1, 1, "type", "missing required field type"}},
		{"missing fail title", map[string]string{"f.yaml": flowHead + "  - fail: {status: 404}\n"},
			want{"f.yaml", 5, 11, "steps[0].fail.title", "missing required field title"}},
		{"unknown connector type", map[string]string{"c.yaml": "apiVersion: skybridge/v1\nkind: Connector\nname: c\ntype: soap\noperations: {}\n"},
			want{"c.yaml", 4, 7, "type", `unknown connector type "soap"`}},
		{"connector Validate error", map[string]string{"c.yaml": "apiVersion: skybridge/v1\nkind: Connector\nname: c\ntype: func\noperations:\n  get:\n    method: PATCH\n"},
			want{"c.yaml", 7, 13, "operations.get.method", "must be GET or POST"}},
		{"connector Validate error in config", map[string]string{"c.yaml": "apiVersion: skybridge/v1\nkind: Connector\nname: c\ntype: func\nconfig:\n  region: [1]\noperations: {}\n"},
			want{"c.yaml", 6, 11, "config.region", "must be a string"}},
		{"args in config", map[string]string{"c.yaml": "apiVersion: skybridge/v1\nkind: Connector\nname: c\ntype: func\nconfig:\n  region: ${args.x}\noperations: {}\n"},
			want{"c.yaml", 6, 3, "config", "config cannot use args"}},
		{"two kinds in a step", map[string]string{"f.yaml": flowHead + "  - {transform: 1, set: {a: 1}}\n"},
			want{"f.yaml", 5, 20, "steps[0].set", "a step has one kind"}},
		{"no kind", map[string]string{"f.yaml": flowHead + "  - {id: a}\n"},
			want{"f.yaml", 5, 5, "steps[0]", "a step needs one of"}},
		{"bad auth", map[string]string{"f.yaml": "apiVersion: skybridge/v1\nkind: Flow\nname: f\nauth: admin\nsteps: [{transform: 1}]\n"},
			want{"f.yaml", 4, 7, "auth", "must be one of public, user, server"}},
		{"wrong apiVersion", map[string]string{"f.yaml": "apiVersion: skybridge/v2\nkind: Flow\nname: f\nsteps: [{transform: 1}]\n"},
			want{"f.yaml", 1, 13, "apiVersion", "unsupported apiVersion"}},
		{"duplicate flow name", map[string]string{"f.yaml": "apiVersion: skybridge/v1\nkind: Flow\nname: f\nsteps: [{transform: 1}]\n---\napiVersion: skybridge/v1\nkind: Flow\nname: f\nsteps: [{transform: 2}]\n"},
			want{"f.yaml", 8, 7, "name", `duplicate Flow name "f" (first in f.yaml:3)`}},
		{"bad YAML", map[string]string{"f.yaml": "apiVersion: skybridge/v1\nkind: Flow\nname: [\n"},
			want{"f.yaml", 3, 1, "", "invalid YAML"}},
		{"retry on an unknown kind", map[string]string{"f.yaml": flowHead + "  - call: crm.getCustomer\n    retry: {attempts: 2, on: [teapot]}\n", "c.yaml": connectorDoc},
			want{"f.yaml", 6, 31, "steps[0].retry.on", `"teapot" is not a retryable error kind`}},
		{"error rule for an unknown step", map[string]string{"f.yaml": flowHead + "  - transform: 1\nerrors:\n  - when: {step: zz}\n    status: 404\n    title: x\n"},
			want{"f.yaml", 7, 18, "errors[0].when.step", `unknown step "zz"`}},
		{"alias", map[string]string{"f.yaml": flowHead + "  - &s {transform: 1}\n  - *s\n"},
			want{"f.yaml", 6, 5, "steps[1]", "aliases are not supported"}},
	}
	e := NewEngine(EngineConfig{Connectors: map[string]connectors.Type{"func": funcType(nil, nil)}})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := e.Load(tc.files)
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Load error = %v, want *ValidationError", err)
			}
			for _, fe := range ve.Errors {
				if fe.File == tc.want.file && fe.Line == tc.want.line && fe.Column == tc.want.col && fe.Field == tc.want.field && strings.Contains(fe.Message, tc.want.msg) {
					return
				}
			}
			t.Fatalf("no error %s:%d:%d %s: %q in\n%v", tc.want.file, tc.want.line, tc.want.col, tc.want.field, tc.want.msg, ve)
		})
	}
}
