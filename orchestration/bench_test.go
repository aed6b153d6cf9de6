package orchestration

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/skybridgehq/skybridge/cache"
	"github.com/skybridgehq/skybridge/connectors"
)

const benchFlow = `apiVersion: skybridge/v1
kind: Flow
name: three
input: {customerId: {type: string, required: true}}
steps:
  - {id: customer, call: crm.getCustomer, with: {id: "${input.customerId}"}}
  - {id: orders, call: crm.listOrders, with: {customer: "${steps.customer.id}"}}
  - {id: created, call: crm.createOrder, with: {customer: "${steps.customer.id}", n: "${len(steps.orders.rows)}"}}
output:
  name: ${steps.customer.name}
  orders: ${len(steps.orders.rows)}
  created: ${steps.created.created.n}
---
apiVersion: skybridge/v1
kind: Flow
name: cached
input: {customerId: {type: string, required: true}}
cache: {key: "c:${input.customerId}", ttl: 1h, scope: public}
steps:
  - {id: customer, call: crm.getCustomer, with: {id: "${input.customerId}"}}
output: {name: "${steps.customer.name}"}
`

// BenchmarkRunFlow measures the engine over an in-process connector:
// three sequential calls, the same three calls made by hand (the floor),
// and a cached flow answered from memory.
func BenchmarkRunFlow(b *testing.B) {
	e := testEngine(b, crmHandler)
	mem := cache.NewMemory(cache.MemoryConfig{})
	defer mem.Close()
	loader := cache.NewLoader(mem, cache.LoaderConfig{})
	defer loader.Close()
	p := mustPlan(b, e, flowFiles(benchFlow), Environment{Cache: loader, Namespace: cache.NewNamespace("a", "b")})
	ctx := context.Background()
	call := Call{Input: map[string]any{"customerId": "42"}, User: testUser}

	b.Run("flow=three-calls", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := p.Run(ctx, "three", call); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("flow=three-calls-by-hand", func(b *testing.B) {
		conn := p.conns[0]
		b.ReportAllocs()
		for b.Loop() {
			c, err := conn.Call(ctx, connectors.Request{Operation: "getCustomer", Args: map[string]any{"id": "42"}})
			if err != nil {
				b.Fatal(err)
			}
			cm := c.Body.(map[string]any)
			o, _ := conn.Call(ctx, connectors.Request{Operation: "listOrders", Args: map[string]any{"customer": cm["id"]}})
			rows := o.Body.(map[string]any)["rows"].([]any)
			cr, _ := conn.Call(ctx, connectors.Request{Operation: "createOrder", Args: map[string]any{"customer": cm["id"], "n": len(rows)}})
			_ = map[string]any{"name": cm["name"], "orders": len(rows), "created": cr.Body.(map[string]any)["created"].(map[string]any)["n"]}
		}
	})
	b.Run("flow=cached", func(b *testing.B) {
		if _, err := p.Run(ctx, "cached", call); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			res, err := p.Run(ctx, "cached", call)
			if err != nil || res.Cache != cache.Hit {
				b.Fatal(err, res.Cache)
			}
		}
	})
	b.Run("flow=cached-json-by-hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(map[string]any{"name": "Ada 42"})
		}
	})
}
