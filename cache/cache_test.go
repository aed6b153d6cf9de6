package cache_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/cache"
	"github.com/skybridgehq/skybridge/cache/cachetest"
	"github.com/skybridgehq/skybridge/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopShared()
	os.Exit(code)
}

// newRedis returns a Redis cache on the shared redis-server, under a key
// prefix of its own.
func newRedis(t testing.TB) *cache.Redis {
	t.Helper()
	r, err := testenv.SharedRedis()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cache.NewRedis(cache.RedisConfig{URL: r.URL(0), Prefix: fmt.Sprintf("t%d:", time.Now().UnixNano())})
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

func TestConformanceMemory(t *testing.T) {
	cachetest.Run(t, func(*testing.T) cache.Cache { return cache.NewMemory(cache.MemoryConfig{}) })
}

func TestConformanceRedis(t *testing.T) {
	cachetest.Run(t, func(t *testing.T) cache.Cache { return newRedis(t) })
}

func TestConformanceFallback(t *testing.T) {
	cachetest.Run(t, func(t *testing.T) cache.Cache {
		return cache.NewFallback(newRedis(t), cache.NewMemory(cache.MemoryConfig{}), cache.FallbackConfig{})
	})
}

func TestMemoryBoundedByBytes(t *testing.T) {
	ctx := context.Background()
	m := cache.NewMemory(cache.MemoryConfig{MaxBytes: 64 << 10})
	defer m.Close()
	val := make([]byte, 1000)
	for i := range 1000 {
		_ = m.Set(ctx, fmt.Sprintf("a:b:k%d", i), val, 0)
	}
	if !testenv.WaitFor(ctx, 5*time.Second, func() bool { return m.Stats(ctx).Bytes <= 64<<10 }) {
		t.Fatalf("holds %d bytes, bound 65536", m.Stats(ctx).Bytes)
	}
	if st := m.Stats(ctx); st.Evictions == 0 {
		t.Fatalf("no evictions counted: %+v", st)
	}
}

func TestMemoryClockExpiry(t *testing.T) {
	now := time.Unix(1000, 0)
	m := cache.NewMemory(cache.MemoryConfig{Now: func() time.Time { return now }})
	defer m.Close()
	ctx := context.Background()
	_ = m.Set(ctx, "k", []byte("v"), time.Second)
	if _, ok, _ := m.Get(ctx, "k"); !ok {
		t.Fatal("fresh key missing")
	}
	now = now.Add(time.Second)
	if _, ok, _ := m.Get(ctx, "k"); ok {
		t.Fatal("key alive at its expiry instant")
	}
}

func TestMemoryCopiesValues(t *testing.T) {
	ctx := context.Background()
	m := cache.NewMemory(cache.MemoryConfig{})
	defer m.Close()
	v := []byte("abc")
	_ = m.Set(ctx, "k", v, 0)
	v[0] = 'X'
	got, _, _ := m.Get(ctx, "k")
	got[1] = 'Y'
	again, _, _ := m.Get(ctx, "k")
	if string(again) != "abc" {
		t.Fatalf("stored value aliased caller memory: %q", again)
	}
}

func TestClosed(t *testing.T) {
	ctx := context.Background()
	for name, c := range map[string]cache.Cache{"memory": cache.NewMemory(cache.MemoryConfig{}), "redis": newRedis(t)} {
		t.Run(name, func(t *testing.T) {
			_ = c.Close()
			if err := c.Ping(ctx); !errors.Is(err, cache.ErrClosed) {
				t.Fatalf("ping after close: %v", err)
			}
		})
	}
}

func TestRedisRefusesTagOfAnotherNamespace(t *testing.T) {
	rc := newRedis(t)
	defer rc.Close()
	a, b := cache.NewNamespace("a", "dev"), cache.NewNamespace("b", "dev")
	err := rc.Set(context.Background(), a.Key("k"), []byte("v"), time.Minute, b.Tag("t"))
	if !errors.Is(err, cache.ErrInvalid) {
		t.Fatalf("want ErrInvalid, got %v", err)
	}
}

func TestNewRedisRejectsBadURL(t *testing.T) {
	if _, err := cache.NewRedis(cache.RedisConfig{URL: "http://nope"}); err == nil {
		t.Fatal("want error for non-redis URL")
	}
}

func redisURL(t testing.TB) string {
	t.Helper()
	r, err := testenv.SharedRedis()
	if err != nil {
		t.Fatal(err)
	}
	return r.URL(0)
}

var cachetestRun = cachetest.Run
