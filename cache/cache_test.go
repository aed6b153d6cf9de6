package cache

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopShared()
	os.Exit(code)
}

// implementations returns each cache under test, fresh.
func implementations(t *testing.T) map[string]Cache {
	t.Helper()
	r, err := testenv.SharedRedis()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := NewRedis(RedisConfig{URL: r.URL(0), Prefix: fmt.Sprintf("t%d:%s:", time.Now().UnixNano(), t.Name())})
	if err != nil {
		t.Fatal(err)
	}
	mem := NewMemory(MemoryConfig{})
	t.Cleanup(func() { rc.Close(); mem.Close() })
	return map[string]Cache{"memory": mem, "redis": rc}
}

func TestCacheContract(t *testing.T) {
	ctx := context.Background()
	for name, c := range implementations(t) {
		t.Run(name, func(t *testing.T) {
			if err := c.Ping(ctx); err != nil {
				t.Fatalf("ping: %v", err)
			}
			if _, ok, err := c.Get(ctx, "absent"); ok || err != nil {
				t.Fatalf("absent key: ok=%v err=%v", ok, err)
			}
			if err := c.Set(ctx, "k", []byte("v1"), time.Minute); err != nil {
				t.Fatal(err)
			}
			got, ok, err := c.Get(ctx, "k")
			if err != nil || !ok || string(got) != "v1" {
				t.Fatalf("get: %q %v %v", got, ok, err)
			}
			if err := c.Set(ctx, "k", []byte("v2"), 0); err != nil {
				t.Fatal(err)
			}
			if got, _, _ := c.Get(ctx, "k"); string(got) != "v2" {
				t.Fatalf("overwrite: %q", got)
			}
			if err := c.Delete(ctx, "k", "never-set"); err != nil {
				t.Fatal(err)
			}
			if _, ok, _ := c.Get(ctx, "k"); ok {
				t.Fatal("deleted key still present")
			}
			if err := c.Delete(ctx); err != nil {
				t.Fatalf("delete of nothing: %v", err)
			}
		})
	}
}

func TestCacheExpiry(t *testing.T) {
	ctx := context.Background()
	for name, c := range implementations(t) {
		t.Run(name, func(t *testing.T) {
			if err := c.Set(ctx, "short", []byte("x"), 50*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			if !testenv.WaitFor(ctx, 5*time.Second, func() bool {
				_, ok, err := c.Get(ctx, "short")
				return err == nil && !ok
			}) {
				t.Fatal("key did not expire")
			}
		})
	}
}

func TestMemoryEvictsLeastRecentlyUsed(t *testing.T) {
	ctx := context.Background()
	m := NewMemory(MemoryConfig{MaxEntries: 2})
	_ = m.Set(ctx, "a", []byte("1"), 0)
	_ = m.Set(ctx, "b", []byte("2"), 0)
	_, _, _ = m.Get(ctx, "a") // a is now most recent
	_ = m.Set(ctx, "c", []byte("3"), 0)
	if _, ok, _ := m.Get(ctx, "b"); ok {
		t.Fatal("b should have been evicted")
	}
	for _, k := range []string{"a", "c"} {
		if _, ok, _ := m.Get(ctx, k); !ok {
			t.Fatalf("%s evicted", k)
		}
	}
	if m.Len() != 2 {
		t.Fatalf("len %d", m.Len())
	}
}

func TestMemoryClockExpiry(t *testing.T) {
	now := time.Unix(1000, 0)
	m := NewMemory(MemoryConfig{Now: func() time.Time { return now }})
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
	m := NewMemory(MemoryConfig{})
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

func TestMemoryConcurrent(t *testing.T) {
	ctx := context.Background()
	m := NewMemory(MemoryConfig{MaxEntries: 64})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				k := fmt.Sprintf("k%d", (g*i)%100)
				_ = m.Set(ctx, k, []byte(k), time.Minute)
				_, _, _ = m.Get(ctx, k)
				if i%7 == 0 {
					_ = m.Delete(ctx, k)
				}
			}
		}(g)
	}
	wg.Wait()
	if m.Len() > 64 {
		t.Fatalf("bound broken: %d entries", m.Len())
	}
}

func TestClosed(t *testing.T) {
	ctx := context.Background()
	for name, c := range implementations(t) {
		t.Run(name, func(t *testing.T) {
			_ = c.Close()
			if err := c.Ping(ctx); !errors.Is(err, ErrClosed) {
				t.Fatalf("ping after close: %v", err)
			}
		})
	}
}

func TestMemoryDefaults(t *testing.T) {
	c := MemoryConfig{}.withDefaults()
	if c.MaxEntries != 100000 || c.Now == nil {
		t.Fatalf("defaults: %+v", c)
	}
	if got := (RedisConfig{URL: "redis://x"}).withDefaults(); got.Prefix != "sb:" {
		t.Fatalf("redis defaults: %+v", got)
	}
}

func TestNewRedisRejectsBadURL(t *testing.T) {
	if _, err := NewRedis(RedisConfig{URL: "http://nope"}); err == nil {
		t.Fatal("want error for non-redis URL")
	}
}
