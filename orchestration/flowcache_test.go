package orchestration

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"

	"github.com/skybridgehq/skybridge/cache"
	"github.com/skybridgehq/skybridge/connectors"
)

const cachedFlow = `apiVersion: skybridge/v1
kind: Flow
name: orders
input: {customerId: {type: string, required: true}}
cache: {key: "orders:${input.customerId}", ttl: 60s, tags: ["customer:${input.customerId}"], scope: %s}
steps:
  - {id: c, call: crm.getCustomer, with: {id: "${input.customerId}"}}
output: {name: "${steps.c.name}", n: "${steps.c.calls}"}
`

func TestFlowCache(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	h := func(_ context.Context, _ connectors.Spec, req connectors.Request) (*connectors.Response, error) {
		return ok(map[string]any{"name": "Ada " + req.Args["id"].(string), "calls": calls.Add(1)})
	}
	e := testEngine(t, h)
	mem := cache.NewMemory(cache.MemoryConfig{})
	t.Cleanup(func() { _ = mem.Close() })
	loader := cache.NewLoader(mem, cache.LoaderConfig{})
	t.Cleanup(loader.Close)
	ns := cache.NewNamespace("app", "prod")
	env := Environment{Cache: loader, Namespace: ns}

	build := func(scope string, version int) *Plan {
		b, err := e.Load(flowFiles(sprintf(cachedFlow, scope)))
		if err != nil {
			t.Fatal(err)
		}
		p, err := e.Build(context.Background(), b, env, version)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() })
		return p
	}
	ctx := context.Background()
	run := func(p *Plan, user *User, id string) *Result {
		t.Helper()
		res, err := p.Run(ctx, "orders", Call{Input: map[string]any{"customerId": id}, User: user})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	bob := &User{ID: "bob"}

	v1 := build("public", 1)
	first := run(v1, testUser, "7")
	if first.Cache != cache.Miss || calls.Load() != 1 {
		t.Fatalf("first run: %q after %d calls, want a miss", first.Cache, calls.Load())
	}
	second := run(v1, bob, "7")
	if second.Cache != cache.Hit || calls.Load() != 1 {
		t.Fatalf("second run: %q after %d calls, want a hit (scope public)", second.Cache, calls.Load())
	}
	jsonEqual(t, second.Output, first.Output)
	jsonEqual(t, second.Output, map[string]any{"name": "Ada 7", "n": 1})
	if string(second.JSON) != `{"n":1,"name":"Ada 7"}` {
		t.Fatalf("JSON = %s", second.JSON)
	}
	if other := run(v1, testUser, "8"); other.Cache != cache.Miss {
		t.Fatalf("another key: %q, want a miss", other.Cache)
	}

	// Another version never reads version 1's answers.
	v2 := build("public", 2)
	if res := run(v2, testUser, "7"); res.Cache != cache.Miss || calls.Load() != 3 {
		t.Fatalf("version 2: %q after %d calls, want a miss", res.Cache, calls.Load())
	}
	if res := run(v1, testUser, "7"); res.Cache != cache.Hit {
		t.Fatalf("back to version 1 (rollback): %q, want a hit", res.Cache)
	}

	// Tags are in the environment's namespace.
	if err := mem.InvalidateTags(ctx, ns.Tag("customer:7")); err != nil {
		t.Fatal(err)
	}
	if res := run(v1, testUser, "7"); res.Cache != cache.Miss {
		t.Fatalf("after invalidating the tag: %q, want a miss", res.Cache)
	}

	// Scope user: one answer per user.
	vu := build("user", 3)
	if res := run(vu, testUser, "7"); res.Cache != cache.Miss {
		t.Fatalf("user scope, first user: %q", res.Cache)
	}
	if res := run(vu, bob, "7"); res.Cache != cache.Miss {
		t.Fatalf("user scope, second user: %q, want a miss", res.Cache)
	}
	res := run(vu, bob, "7")
	if res.Cache != cache.Hit {
		t.Fatalf("user scope, same user again: %q, want a hit", res.Cache)
	}
	var cached map[string]any
	if err := json.Unmarshal(res.Output.(json.RawMessage), &cached); err != nil {
		t.Fatal(err)
	}
	if got := cached["n"]; got != float64(calls.Load()) {
		t.Fatalf("bob's cached answer is call %v, want his own (%d)", got, calls.Load())
	}

	// Without a cache in the environment the flow runs uncached.
	b, _ := e.Load(flowFiles(sprintf(cachedFlow, "public")))
	plain, err := e.Build(ctx, b, Environment{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if res := run(plain, testUser, "7"); res.Cache != "" || res.JSON != nil {
		t.Fatalf("no cache: %q", res.Cache)
	}
}

func TestFlowCacheKey(t *testing.T) {
	t.Parallel()
	e := testEngine(t, crmHandler)
	b, err := e.Load(flowFiles(sprintf(cachedFlow, "user")))
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.Build(context.Background(), b, Environment{Namespace: cache.NewNamespace("a", "dev")}, 12)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	f, _ := p.Flow("orders")
	env := map[string]any{nameInput: map[string]any{"customerId": "9"}}
	key, opts, err := f.cacheKey(env, &User{ID: "u5"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "a:dev:flow:orders:v12:u=u5:orders:9"; key != want {
		t.Fatalf("key = %q, want %q", key, want)
	}
	if len(opts.Tags) != 3 || opts.Tags[2] != "a:dev:#customer:9" || opts.TTL.Seconds() != 60 {
		t.Fatalf("options = %+v", opts)
	}
	if key, _, _ = f.cacheKey(env, nil); key != "a:dev:flow:orders:v12:-:orders:9" {
		t.Fatalf("anonymous key = %q", key)
	}
}
