// Package cachetest is the conformance suite every cache.Cache
// implementation passes: get and set, overwrite, delete, expiry, tags,
// namespaces, concurrency and leased (guarded) sets.
package cachetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/cache"
	"github.com/skybridgehq/skybridge/internal/testenv"
)

// Run runs the suite; newCache returns an empty cache, closed by the
// suite's cleanup.
func Run(t *testing.T, newCache func(t *testing.T) cache.Cache) {
	tests := []struct {
		name string
		fn   func(t *testing.T, c cache.Cache)
	}{
		{"GetSetDelete", getSetDelete},
		{"Expiry", expiry},
		{"Tags", tags},
		{"Namespaces", namespaces},
		{"Concurrent", concurrent},
		{"Leases", leases},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newCache(t)
			t.Cleanup(func() { _ = c.Close() })
			tc.fn(t, c)
		})
	}
}

var ns = cache.NewNamespace("app000000001", "dev")

func mustGet(t *testing.T, c cache.Cache, key string) (string, bool) {
	t.Helper()
	v, ok, err := c.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return string(v), ok
}

func mustSet(t *testing.T, c cache.Cache, key, val string, ttl time.Duration, tags ...string) {
	t.Helper()
	if err := c.Set(context.Background(), key, []byte(val), ttl, tags...); err != nil {
		t.Fatalf("set %s: %v", key, err)
	}
}

func getSetDelete(t *testing.T, c cache.Cache) {
	ctx := context.Background()
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	k := ns.Key("k")
	if _, ok := mustGet(t, c, k); ok {
		t.Fatal("absent key found")
	}
	mustSet(t, c, k, "v1", time.Minute)
	if v, ok := mustGet(t, c, k); !ok || v != "v1" {
		t.Fatalf("get: %q %v", v, ok)
	}
	mustSet(t, c, k, "v2", 0)
	if v, _ := mustGet(t, c, k); v != "v2" {
		t.Fatalf("overwrite: %q", v)
	}
	if err := c.Delete(ctx, k, ns.Key("never-set")); err != nil {
		t.Fatal(err)
	}
	if _, ok := mustGet(t, c, k); ok {
		t.Fatal("deleted key still present")
	}
	if err := c.Delete(ctx); err != nil {
		t.Fatalf("delete of nothing: %v", err)
	}
	st := c.Stats(ctx)
	if st.Hits < 2 || st.Misses < 2 {
		t.Fatalf("stats count %d hits, %d misses; want at least 2 each", st.Hits, st.Misses)
	}
}

func expiry(t *testing.T, c cache.Cache) {
	ctx := context.Background()
	mustSet(t, c, ns.Key("short"), "x", 50*time.Millisecond, ns.Tag("t"))
	mustSet(t, c, ns.Key("long"), "y", time.Hour, ns.Tag("t"))
	if !testenv.WaitFor(ctx, 5*time.Second, func() bool {
		_, ok, err := c.Get(ctx, ns.Key("short"))
		return err == nil && !ok
	}) {
		t.Fatal("key did not expire")
	}
	if _, ok := mustGet(t, c, ns.Key("long")); !ok {
		t.Fatal("a tag-mate's expiry took the long-lived key along")
	}
}

func tags(t *testing.T, c cache.Cache) {
	ctx := context.Background()
	mustSet(t, c, ns.Key("a"), "1", time.Minute, ns.Tag("collection:x"), ns.All())
	mustSet(t, c, ns.Key("b"), "2", time.Minute, ns.Tag("collection:x"), ns.Tag("object:b"))
	mustSet(t, c, ns.Key("c"), "3", time.Minute, ns.Tag("collection:y"), ns.All())
	mustSet(t, c, ns.Key("d"), "4", time.Minute)
	if err := c.InvalidateTags(ctx, ns.Tag("collection:x")); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]bool{"a": false, "b": false, "c": true, "d": true} {
		if _, ok := mustGet(t, c, ns.Key(k)); ok != want {
			t.Fatalf("after invalidating collection:x, %s present=%v, want %v", k, ok, want)
		}
	}
	if err := c.InvalidateTags(ctx, ns.All(), ns.Tag("never-used")); err != nil {
		t.Fatal(err)
	}
	if _, ok := mustGet(t, c, ns.Key("c")); ok {
		t.Fatal("c survived the namespace-wide tag")
	}
	// A key set again after its tag was invalidated is tagged afresh.
	mustSet(t, c, ns.Key("a"), "1b", time.Minute, ns.Tag("collection:x"))
	if v, ok := mustGet(t, c, ns.Key("a")); !ok || v != "1b" {
		t.Fatalf("re-set key: %q %v", v, ok)
	}
	if err := c.InvalidateTags(ctx, ns.Tag("collection:x")); err != nil {
		t.Fatal(err)
	}
	if _, ok := mustGet(t, c, ns.Key("a")); ok {
		t.Fatal("re-tagged key survived its tag")
	}
	if err := c.InvalidateTags(ctx); err != nil {
		t.Fatalf("invalidate nothing: %v", err)
	}
}

func namespaces(t *testing.T, c cache.Cache) {
	ctx := context.Background()
	dev, prod := cache.NewNamespace("app000000001", "dev"), cache.NewNamespace("app000000001", "prod")
	mustSet(t, c, dev.Key("k"), "dev", time.Minute, dev.Tag("t"))
	mustSet(t, c, prod.Key("k"), "prod", time.Minute, prod.Tag("t"))
	if v, _ := mustGet(t, c, dev.Key("k")); v != "dev" {
		t.Fatalf("dev reads %q", v)
	}
	if err := c.InvalidateTags(ctx, dev.Tag("t")); err != nil {
		t.Fatal(err)
	}
	if v, ok := mustGet(t, c, prod.Key("k")); !ok || v != "prod" {
		t.Fatalf("invalidating dev's tag reached prod: %q %v", v, ok)
	}
}

func concurrent(t *testing.T, c cache.Cache) {
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				k := ns.Key(fmt.Sprintf("k%d", (g*i)%50))
				if err := c.Set(ctx, k, []byte(k), time.Minute, ns.Tag(fmt.Sprintf("t%d", i%5))); err != nil {
					errs <- err
					return
				}
				if v, ok, err := c.Get(ctx, k); err != nil || (ok && string(v) != k) {
					errs <- fmt.Errorf("get %s: %q %v %v", k, v, ok, err)
					return
				}
				if i%17 == 0 {
					_ = c.InvalidateTags(ctx, ns.Tag(fmt.Sprintf("t%d", i%5)))
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
