package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// limiter is what both stores implement.
type limiter interface {
	Allow(ctx context.Context, key string, p Policy) (Result, error)
}

var (
	_ limiter = (*Memory)(nil)
	_ limiter = (*Redis)(nil)
)

// testClock is a clock tests move by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newLimiter builds a fresh, empty limiter on the given clock.
type newLimiter func(t *testing.T, now func() time.Time) limiter

// runConformance is the suite every store passes.
func runConformance(t *testing.T, build newLimiter) {
	t.Run("AllowsUntilLimitThenRefuses", func(t *testing.T) {
		clock := newTestClock()
		l := build(t, clock.Now)
		p := Policy{Limit: 5, Period: time.Second} // one per 200ms
		for i := range 5 {
			res := mustAllow(t, l, "k", p)
			if !res.Allowed || res.Limit != 5 || res.Remaining != int64(4-i) || res.RetryAfter != 0 {
				t.Fatalf("request %d: %+v", i, res)
			}
			if want := time.Duration(i+1) * 200 * time.Millisecond; res.Reset != want {
				t.Fatalf("request %d: reset %s, want %s", i, res.Reset, want)
			}
		}
		res := mustAllow(t, l, "k", p)
		if res.Allowed || res.Remaining != 0 || res.Limit != 5 {
			t.Fatalf("request 6: %+v", res)
		}
		if res.RetryAfter != 200*time.Millisecond || res.Reset != time.Second {
			t.Fatalf("request 6: retry after %s, reset %s; want 200ms, 1s", res.RetryAfter, res.Reset)
		}
		// A refused request is not counted.
		if again := mustAllow(t, l, "k", p); again.RetryAfter != 200*time.Millisecond {
			t.Fatalf("a refusal was counted: %+v", again)
		}
	})
	t.Run("RefillsOverTime", func(t *testing.T) {
		clock := newTestClock()
		l := build(t, clock.Now)
		p := Policy{Limit: 5, Period: time.Second}
		for range 5 {
			mustAllow(t, l, "k", p)
		}
		clock.Advance(199 * time.Millisecond)
		if res := mustAllow(t, l, "k", p); res.Allowed || res.RetryAfter != time.Millisecond {
			t.Fatalf("199ms later: %+v", res)
		}
		clock.Advance(time.Millisecond)
		if res := mustAllow(t, l, "k", p); !res.Allowed || res.Remaining != 0 {
			t.Fatalf("200ms later: %+v", res)
		}
		clock.Advance(time.Second)
		if res := mustAllow(t, l, "k", p); !res.Allowed || res.Remaining != 4 {
			t.Fatalf("a period later the bucket should be full: %+v", res)
		}
	})
	t.Run("Burst", func(t *testing.T) {
		clock := newTestClock()
		l := build(t, clock.Now)
		p := Policy{Limit: 1, Period: time.Second, Burst: 3}
		for i := range 3 {
			if res := mustAllow(t, l, "k", p); !res.Allowed || res.Limit != 3 || res.Remaining != int64(2-i) {
				t.Fatalf("request %d: %+v", i, res)
			}
		}
		if res := mustAllow(t, l, "k", p); res.Allowed || res.RetryAfter != time.Second {
			t.Fatalf("request 4: %+v", res)
		}
	})
	t.Run("KeysAreIndependent", func(t *testing.T) {
		clock := newTestClock()
		l := build(t, clock.Now)
		p := Policy{Limit: 2, Period: time.Minute}
		for range 2 {
			mustAllow(t, l, "a", p)
		}
		if res := mustAllow(t, l, "a", p); res.Allowed {
			t.Fatalf("a over its limit: %+v", res)
		}
		if res := mustAllow(t, l, "b", p); !res.Allowed || res.Remaining != 1 {
			t.Fatalf("b should have its own budget: %+v", res)
		}
	})
	t.Run("OffAndInvalid", func(t *testing.T) {
		l := build(t, newTestClock().Now)
		for range 10 {
			if res := mustAllow(t, l, "k", Off); !res.Allowed {
				t.Fatalf("off refused: %+v", res)
			}
		}
		if _, err := l.Allow(t.Context(), "k", Policy{Limit: 0, Period: time.Second}); !errors.Is(err, ErrInvalidPolicy) {
			t.Fatalf("invalid policy: %v", err)
		}
	})
	t.Run("ConcurrentCallersNeverExceedTheLimit", func(t *testing.T) {
		l := build(t, newTestClock().Now) // frozen: nothing refills
		p := Policy{Limit: 40, Period: time.Hour}
		var allowed, failed atomic.Int64
		var wg sync.WaitGroup
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 8 {
					res, err := l.Allow(context.Background(), "shared", p)
					if err != nil {
						failed.Add(1)
						continue
					}
					if res.Allowed {
						allowed.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		if failed.Load() != 0 || allowed.Load() != 40 {
			t.Fatalf("allowed %d of 128 (want 40), %d errors", allowed.Load(), failed.Load())
		}
	})
}

func mustAllow(t *testing.T, l limiter, key string, p Policy) Result {
	t.Helper()
	res, err := l.Allow(t.Context(), key, p)
	if err != nil {
		t.Fatalf("Allow(%q, %v): %v", key, p, err)
	}
	return res
}

func TestMemoryConformance(t *testing.T) {
	runConformance(t, func(t *testing.T, now func() time.Time) limiter {
		return NewMemory(MemoryConfig{Now: now})
	})
}

func TestMemoryBoundedAndSwept(t *testing.T) {
	clock := newTestClock()
	m := NewMemory(MemoryConfig{MaxKeys: memoryShards * 4, SweepEvery: time.Hour, Now: clock.Now})
	p := Policy{Limit: 1, Period: time.Second}
	for i := range 1000 {
		if res := mustAllow(t, m, fmt.Sprint("k", i), p); !res.Allowed {
			t.Fatalf("key %d refused", i)
		}
	}
	if n := m.Len(); n > memoryShards*4 {
		t.Fatalf("%d keys tracked, bound %d", n, memoryShards*4)
	}
	// Tracked keys keep their state while the limiter is full.
	if res := mustAllow(t, m, "k0", p); res.Allowed {
		t.Fatalf("k0 should still be limited: %+v", res)
	}
	// Once their buckets are full again, the keys are swept to make room.
	clock.Advance(2 * time.Second)
	for i := range 10 {
		mustAllow(t, m, fmt.Sprint("new", i), p)
	}
	if n := m.Len(); n > 10+memoryShards*4 {
		t.Fatalf("expired keys were not swept: %d tracked", n)
	}
	if res := mustAllow(t, m, "new0", p); res.Allowed {
		t.Fatalf("new0 should be tracked after the sweep: %+v", res)
	}
}

func TestMemoryPeriodicSweep(t *testing.T) {
	clock := newTestClock()
	m := NewMemory(MemoryConfig{SweepEvery: time.Minute, Now: clock.Now})
	p := Policy{Limit: 10, Period: time.Second}
	for i := range 100 {
		mustAllow(t, m, fmt.Sprint("k", i), p)
	}
	clock.Advance(2 * time.Minute)
	for shard := range memoryShards { // one request in every shard
		mustAllow(t, m, keyInShard(m, shard), p)
	}
	if n := m.Len(); n != memoryShards {
		t.Fatalf("%d keys tracked after the sweep, want %d", n, memoryShards)
	}
}

// keyInShard finds a key that m keeps in the given shard.
func keyInShard(m *Memory, shard int) string {
	for i := 0; ; i++ {
		k := fmt.Sprint("shard", shard, "-", i)
		if maphash.String(m.seed, k)%memoryShards == uint64(shard) {
			return k
		}
	}
}

func BenchmarkMemoryAllow(b *testing.B) {
	m := NewMemory(MemoryConfig{})
	p := Policy{Limit: 1_000_000, Period: time.Second}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			_, _ = m.Allow(context.Background(), fmt.Sprint("k", i%1000), p)
		}
	})
}
