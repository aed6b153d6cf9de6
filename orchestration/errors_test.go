package orchestration

import (
	"context"
	"errors"
	"testing"

	"github.com/skybridgehq/skybridge/connectors"
)

func TestErrorMapping(t *testing.T) {
	t.Parallel()
	h := func(_ context.Context, _ connectors.Spec, req connectors.Request) (*connectors.Response, error) {
		switch req.Args["mode"] {
		case "404":
			return nil, &connectors.Error{Connector: "crm", Operation: req.Operation, Kind: connectors.KindStatus, Status: 404, Message: "no such customer"}
		case "500":
			return nil, &connectors.Error{Connector: "crm", Operation: req.Operation, Kind: connectors.KindStatus, Status: 500, Message: "oops"}
		case "down":
			return nil, &connectors.Error{Connector: "crm", Operation: req.Operation, Kind: connectors.KindUnavailable, Message: "refused"}
		}
		return ok("fine")
	}
	p := mustPlan(t, testEngine(t, h), flowFiles(`apiVersion: skybridge/v1
kind: Flow
name: main
input: {mode: string, op: string}
steps:
  - switch: ${input.op}
    cases:
      orders: [{id: orders, call: crm.listOrders, with: {mode: "${input.mode}"}}]
    default: [{id: customer, call: crm.getCustomer, with: {mode: "${input.mode}"}}]
errors:
  - when: {step: customer, status: 404}
    status: 404
    title: Customer not found
    detail: "no customer (${error.message})"
  - when: {kind: unavailable, step: orders}
    status: 503
    title: Orders are offline
  - when: {status: 5xx}
    status: 502
    title: CRM failed
`), Environment{})
	cases := []struct {
		name, mode, op string
		status         int
		title, detail  string
		step           string
	}{
		{"by step and status", "404", "", 404, "Customer not found", "no customer (no such customer)", "customer"},
		{"by kind and step", "down", "orders", 503, "Orders are offline", "", "orders"},
		{"by status class", "500", "orders", 502, "CRM failed", "", "orders"},
		{"unmapped", "down", "", 502, "Bad Gateway", "crm.getCustomer failed: unavailable", "customer"},
		{"unmapped 404 of another step", "404", "orders", 502, "Bad Gateway", "crm.listOrders failed: status (status 404)", "orders"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := p.Run(context.Background(), "main", Call{Input: map[string]any{"mode": tc.mode, "op": tc.op}, User: testUser})
			var fe *FlowError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a FlowError", err)
			}
			if fe.Status != tc.status || fe.Title != tc.title || fe.Detail != tc.detail || fe.Step != tc.step {
				t.Fatalf("got %d %q %q step %q, want %d %q %q step %q", fe.Status, fe.Title, fe.Detail, fe.Step, tc.status, tc.title, tc.detail, tc.step)
			}
			var ce *connectors.Error
			if !errors.As(err, &ce) {
				t.Fatalf("the FlowError does not unwrap to the connector error")
			}
		})
	}
}
