package orchestration

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/connectors"
)

// crmHandler answers the crm operations from fixed data.
func crmHandler(_ context.Context, _ connectors.Spec, req connectors.Request) (*connectors.Response, error) {
	switch req.Operation {
	case "getCustomer":
		id := fmt.Sprint(req.Args["id"])
		if id == "404" {
			return nil, &connectors.Error{Connector: "crm", Operation: req.Operation, Kind: connectors.KindStatus, Status: 404, Message: "not found"}
		}
		return ok(map[string]any{"id": id, "name": "Ada " + id, "tier": "gold", "score": 7.5})
	case "listOrders":
		return ok(map[string]any{"rows": []any{
			map[string]any{"ORDER_NO": "o1", "AMOUNT": 10.0},
			map[string]any{"ORDER_NO": "o2", "AMOUNT": 32.5},
		}})
	case "createOrder":
		return &connectors.Response{Status: 201, Body: map[string]any{"created": req.Args}}, nil
	}
	return nil, &connectors.Error{Connector: "crm", Operation: req.Operation, Kind: connectors.KindInvalid, Message: "unexpected"}
}

func TestStepKinds(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		flow  string
		input map[string]any
		want  any
	}{
		{"call and output with the typing rule", `
input: {id: string}
steps:
  - id: customer
    call: crm.getCustomer
    with: {id: "${input.id}"}
output:
  name: ${steps.customer.name}
  score: ${steps.customer.score}
  label: "score ${steps.customer.score} of ${steps.customer.id}"
  gold: ${steps.customer.tier == "gold"}
  status: ${meta.customer.status}
  literal: "$${not an expression}"
`, map[string]any{"id": "42"}, map[string]any{"name": "Ada 42", "score": 7.5, "label": "score 7.5 of 42", "gold": true, "status": 200, "literal": "${not an expression}"}},
		{"map over a call's rows", `
steps:
  - id: orders
    call: crm.listOrders
    with: {customer: c1}
output: "${map(steps.orders.rows, ({id: #.ORDER_NO, total: #.AMOUNT}))}"
`, nil, []any{map[string]any{"id": "o1", "total": 10.0}, map[string]any{"id": "o2", "total": 32.5}}},
		{"transform and set", `
input: {n: {type: number, default: 2}}
steps:
  - set: {double: "${input.n * 2}", who: "${upper(user.email)}"}
  - id: t
    transform: {d: "${vars.double}", who: "${vars.who}", list: ["${vars.double + 1}", 3]}
`, nil, map[string]any{"d": 4, "who": "ADA@EXAMPLE.COM", "list": []any{5, 3}}},
		{"if then", `
input: {n: number}
steps:
  - if: ${input.n > 1}
    then: [{id: big, transform: big}]
    else: [{id: small, transform: small}]
`, map[string]any{"n": 5.0}, "big"},
		{"if else", `
input: {n: number}
steps:
  - if: ${input.n > 1}
    then: [{transform: big}]
    else: [{transform: small}]
`, map[string]any{"n": 0.0}, "small"},
		{"switch case and the results of branch steps", `
input: {kind: string}
steps:
  - switch: ${input.kind}
    cases:
      gold: [{id: g, transform: 1}]
      silver: [{id: s, transform: 2}]
    default: [{id: d, transform: 3}]
output: ["${steps.g}", "${steps.s}", "${steps.d}"]
`, map[string]any{"kind": "silver"}, []any{nil, 2, nil}},
		{"switch default", `
input: {kind: string}
steps:
  - switch: ${input.kind}
    cases: {gold: [{transform: 1}]}
    default: [{transform: 3}]
`, map[string]any{"kind": "bronze"}, 3},
		{"foreach keeps order", `
input: {ids: array}
steps:
  - id: all
    foreach: ${input.ids}
    as: cid
    concurrency: 3
    steps:
      - id: c
        call: crm.getCustomer
        with: {id: "${cid}"}
    output: "${index}:${steps.c.name}"
`, map[string]any{"ids": []string{"a", "b", "c", "d"}}, []any{"0:Ada a", "1:Ada b", "2:Ada c", "3:Ada d"}},
		{"parallel results", `
steps:
  - parallel:
      - {id: a, call: crm.getCustomer, with: {id: x}}
      - {id: b, call: crm.listOrders}
output: {name: "${steps.a.name}", n: "${len(steps.b.rows)}"}
`, nil, map[string]any{"name": "Ada x", "n": 2}},
		{"dates and strings", `
steps:
  - transform:
      day: ${formatDate("2026-03-04T10:00:00Z", "date")}
      year: ${formatDate(parseDate("04/03/2026", "02/01/2006"), "2006")}
      parts: ${split("a,b", ",")}
      joined: ${join(["a", "b"], "-")}
      trimmed: ${trim("  x ")}
      now: ${now().Year() > 2000}
`, nil, map[string]any{"day": "2026-03-04", "year": "2026", "parts": []any{"a", "b"}, "joined": "a-b", "trimmed": "x", "now": true}},
		{"post with a body", `
steps:
  - id: o
    call: crm.createOrder
    with: {sku: "${upper('ab')}", qty: 2}
output: ${steps.o.created}
`, nil, map[string]any{"sku": "AB", "qty": 2}},
		{"flow step", `
input: {id: string}
steps:
  - id: sub
    flow: customer-name
    with: {cid: "${input.id}"}
output: "hello ${steps.sub}"
---
apiVersion: skybridge/v1
kind: Flow
name: customer-name
input: {cid: {type: string, required: true}}
steps:
  - {id: c, call: crm.getCustomer, with: {id: "${input.cid}"}}
output: ${steps.c.name}
`, map[string]any{"id": "7"}, "hello Ada 7"},
		{"env variables", `
steps:
  - transform: "${env.REGION}-${env.LIMIT + 1}"
`, nil, "eu-west-11"},
	}
	e := testEngine(t, crmHandler)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			doc := "apiVersion: skybridge/v1\nkind: Flow\nname: main\n" + strings.TrimPrefix(tc.flow, "\n")
			p := mustPlan(t, e, flowFiles(doc), Environment{Vars: map[string]any{"REGION": "eu-west", "LIMIT": 10}})
			res, err := p.Run(context.Background(), "main", Call{Input: tc.input, User: testUser})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			jsonEqual(t, res.Output, tc.want)
			if res.Cache != "" {
				t.Fatalf("Cache = %q for an uncached flow", res.Cache)
			}
		})
	}
}

func TestFailStep(t *testing.T) {
	t.Parallel()
	p := mustPlan(t, testEngine(t, crmHandler), flowFiles(`apiVersion: skybridge/v1
kind: Flow
name: main
input: {id: string}
steps:
  - if: ${input.id == ""}
    then:
      - id: nope
        fail: {status: 422, title: Missing id, detail: "give an id, ${user.id}"}
  - transform: fine
`), Environment{})
	_, err := p.Run(context.Background(), "main", Call{Input: map[string]any{"id": ""}, User: testUser})
	var fe *FlowError
	if !errors.As(err, &fe) || fe.Status != 422 || fe.Title != "Missing id" || fe.Detail != "give an id, u1" || fe.Step != "nope" {
		t.Fatalf("err = %#v, want the fail step's 422", err)
	}
	res, err := p.Run(context.Background(), "main", Call{Input: map[string]any{"id": "x"}, User: testUser})
	if err != nil || res.Output != "fine" {
		t.Fatalf("Run = %v, %v; want fine", res, err)
	}
}

func TestRunErrors(t *testing.T) {
	t.Parallel()
	p := mustPlan(t, testEngine(t, crmHandler), flowFiles(`apiVersion: skybridge/v1
kind: Flow
name: main
steps: [{transform: 1}]
---
apiVersion: skybridge/v1
kind: Flow
name: open
auth: public
steps: [{transform: "${user?.id ?? 'nobody'}"}]
---
apiVersion: skybridge/v1
kind: Flow
name: broken
auth: public
input: {m: object}
steps: [{transform: "${input.m.a.b}"}]
`), Environment{})
	ctx := context.Background()
	if _, err := p.Run(ctx, "nope", Call{User: testUser}); !errors.Is(err, ErrFlowNotFound) {
		t.Fatalf("unknown flow: %v", err)
	}
	if _, err := p.Run(ctx, "main", Call{}); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("user flow without a user: %v", err)
	}
	if res, err := p.Run(ctx, "open", Call{}); err != nil || res.Output != "nobody" {
		t.Fatalf("public flow without a user: %v, %v", res, err)
	}
	_, err := p.Run(ctx, "broken", Call{Input: map[string]any{"m": map[string]any{}}})
	var fe *FlowError
	if !errors.As(err, &fe) || fe.Status != 500 || !strings.Contains(fe.Detail, "cannot fetch b") {
		t.Fatalf("expression failure: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Run(ctx, "main", Call{User: testUser}); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

func TestStepTraces(t *testing.T) {
	t.Parallel()
	p := mustPlan(t, testEngine(t, crmHandler), flowFiles(`apiVersion: skybridge/v1
kind: Flow
name: main
steps:
  - id: c
    call: crm.getCustomer
    with: {id: "1"}
  - parallel:
      - {id: a, transform: 1}
      - {id: b, transform: 2}
  - id: each
    foreach: [1, 2]
    steps: [{id: x, transform: "${item}"}]
`), Environment{})
	res, err := p.Run(context.Background(), "main", Call{User: testUser, Trace: true})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	var walk func([]StepTrace)
	walk = func(ts []StepTrace) {
		for _, s := range ts {
			ids = append(ids, s.ID)
			walk(s.Steps)
		}
	}
	walk(res.Steps)
	want := "c steps[1] a b each each[0] x each[1] x"
	if got := strings.Join(ids, " "); got != want {
		t.Fatalf("trace ids = %q, want %q", got, want)
	}
	if res.Steps[0].Attempts != 1 || res.Steps[0].Kind != StepCall || res.Steps[0].Duration < 0 {
		t.Fatalf("call trace = %+v", res.Steps[0])
	}
	res, err = p.Run(context.Background(), "main", Call{User: testUser})
	if err != nil || res.Steps != nil {
		t.Fatalf("untraced run has steps: %v %v", res.Steps, err)
	}
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(ctx context.Context, cond func() bool) bool {
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}
