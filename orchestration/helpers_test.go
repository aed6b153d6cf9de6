package orchestration

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/skybridgehq/skybridge/connectors"
)

// handlerFunc answers one call of the in-test connector type.
type handlerFunc func(ctx context.Context, spec connectors.Spec, req connectors.Request) (*connectors.Response, error)

// funcConnector is an in-process connector whose operations are answered
// by a Go function; an operation is idempotent when its method is GET
// (or its `idempotent` field says so), as a REST connector would have it.
type funcConnector struct {
	spec   connectors.Spec
	h      handlerFunc
	closed *atomic.Int32
}

var _ connectors.Connector = (*funcConnector)(nil)

func (c *funcConnector) Call(ctx context.Context, req connectors.Request) (*connectors.Response, error) {
	if _, ok := c.spec.Operations[req.Operation]; !ok {
		return nil, &connectors.Error{Connector: c.spec.Name, Operation: req.Operation, Kind: connectors.KindInvalid, Message: "unknown operation"}
	}
	return c.h(ctx, c.spec, req)
}

func (c *funcConnector) Idempotent(op string) bool {
	o, ok := c.spec.Operations[op]
	if !ok {
		return false
	}
	if v, ok := o.Static["idempotent"].(bool); ok {
		return v
	}
	m, _ := o.Static["method"].(string)
	return m == "GET" || m == ""
}

func (c *funcConnector) Close() error {
	if c.closed != nil {
		c.closed.Add(1)
	}
	return nil
}

// funcType is the connector type "func": Validate wants each operation's
// method to be GET or POST and a config.region, when given, to be a
// string; New builds a funcConnector over h.
func funcType(h handlerFunc, closed *atomic.Int32) connectors.Type {
	return connectors.Type{
		Validate: func(spec connectors.Spec) []connectors.FieldError {
			var errs []connectors.FieldError
			if r, ok := spec.Config["region"]; ok {
				if _, isStr := r.(string); !isStr {
					errs = append(errs, connectors.FieldError{Field: "config.region", Message: "must be a string"})
				}
			}
			for name, op := range spec.Operations {
				m, _ := op.Static["method"].(string)
				if m != "" && m != "GET" && m != "POST" {
					errs = append(errs, connectors.FieldError{Field: "operations." + name + ".method", Message: "must be GET or POST"})
				}
			}
			return errs
		},
		New: func(spec connectors.Spec, _ connectors.Options) (connectors.Connector, error) {
			return &funcConnector{spec: spec, h: h, closed: closed}, nil
		},
	}
}

// ok answers body with status 200.
func ok(body any) (*connectors.Response, error) {
	return &connectors.Response{Status: 200, Body: body}, nil
}

// testEngine returns an engine whose "func" connectors answer with h.
func testEngine(t testing.TB, h handlerFunc) *Engine {
	t.Helper()
	return NewEngine(EngineConfig{Connectors: map[string]connectors.Type{"func": funcType(h, nil)}, Logger: slog.New(slog.DiscardHandler)})
}

// mustPlan loads files and builds them for env at version 1.
func mustPlan(t testing.TB, e *Engine, files map[string]string, env Environment) *Plan {
	t.Helper()
	b, err := e.Load(files)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	p, err := e.Build(context.Background(), b, env, 1)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// connectorDoc is a "func" connector named crm with the usual operations.
const connectorDoc = `apiVersion: skybridge/v1
kind: Connector
name: crm
type: func
config:
  region: eu
operations:
  getCustomer: {method: GET, path: "/customers/{id}"}
  listOrders: {method: GET, path: "/orders?customer={customer}"}
  createOrder: {method: POST, path: "/orders", body: "${args}"}
  slow: {method: GET, path: "/slow"}
`

// flowFiles returns a bundle of connectorDoc and the flow documents.
func flowFiles(flows ...string) map[string]string {
	return map[string]string{"connectors.yaml": connectorDoc, "flows.yaml": strings.Join(flows, "\n---\n")}
}

// jsonEqual compares values through their JSON encodings.
func jsonEqual(t testing.TB, got, want any) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatalf("marshal got: %v", err)
	}
	var gv, wv any
	_ = json.Unmarshal(g, &gv)
	w, _ := json.Marshal(want)
	_ = json.Unmarshal(w, &wv)
	if !reflect.DeepEqual(gv, wv) {
		t.Fatalf("got %s, want %s", g, w)
	}
}

var testUser = &User{ID: "u1", Email: "ada@example.com", Roles: []string{"admin"}}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// scalarNode is a one-line string scalar at line 1, column 1.
func scalarNode(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s, Line: 1, Column: 1}
}
