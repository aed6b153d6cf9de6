package cache_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/skybridgehq/skybridge/cache"
	"github.com/skybridgehq/skybridge/internal/testenv"
)

// twoNodes returns two TwoLevel caches over one redis-server (two
// clients, as two nodes have).
func twoNodes(t *testing.T, nearTTL time.Duration) (a, b *cache.TwoLevel) {
	t.Helper()
	ctx := context.Background()
	prefix := newRedis(t).Prefix()
	channel := "test:" + prefix
	mk := func() *cache.TwoLevel {
		far, err := cache.NewRedis(cache.RedisConfig{URL: redisURL(t), Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		client := redis.NewClient(&redis.Options{Addr: redisAddr(t)})
		tl, err := cache.NewTwoLevel(ctx, far, cache.NewMemory(cache.MemoryConfig{}), client, cache.TwoLevelConfig{NearTTL: nearTTL, Channel: channel})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tl.Close(); _ = client.Close() })
		return tl
	}
	return mk(), mk()
}

func redisAddr(t *testing.T) string {
	t.Helper()
	r, err := testenv.SharedRedis()
	if err != nil {
		t.Fatal(err)
	}
	return r.Addr()
}

func TestConformanceTwoLevel(t *testing.T) {
	// A near copy may outlive its shared entry by up to NearTTL, so the
	// suite's expiry check runs with a short one.
	cachetestRun(t, func(t *testing.T) cache.Cache { a, _ := twoNodes(t, 10*time.Millisecond); return a })
}

// A write on one node drops the other node's near copy over pub/sub.
func TestTwoLevelInvalidatesOtherNodes(t *testing.T) {
	ctx := context.Background()
	a, b := twoNodes(t, time.Hour) // only pub/sub can drop b's copies
	tests := []struct {
		name       string
		invalidate func() error
	}{
		{"delete", func() error { return a.Delete(ctx, ns.Key("k")) }},
		{"set", func() error { return a.Set(ctx, ns.Key("k"), []byte("new"), time.Minute) }},
		{"tag", func() error { return a.InvalidateTags(ctx, ns.Tag("t")) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := a.Set(ctx, ns.Key("k"), []byte("old"), time.Minute, ns.Tag("t")); err != nil {
				t.Fatal(err)
			}
			// b reads through until the set's own invalidation has reached it
			// and its near cache holds "old".
			if !testenv.WaitFor(ctx, 5*time.Second, func() bool { v, ok, _ := b.Get(ctx, ns.Key("k")); return ok && string(v) == "old" }) {
				t.Fatal("b never saw the value")
			}
			if err := tc.invalidate(); err != nil {
				t.Fatal(err)
			}
			if !testenv.WaitFor(ctx, 5*time.Second, func() bool { v, _, _ := b.Get(ctx, ns.Key("k")); return string(v) != "old" }) {
				t.Fatal("b still serves its near copy")
			}
		})
	}
}
