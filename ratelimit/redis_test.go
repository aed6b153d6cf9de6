package ratelimit

import (
	"context"
	"crypto/rand"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/skybridgehq/skybridge/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopShared()
	os.Exit(code)
}

// redisClient returns a client of the shared test redis-server, closed
// when the test ends.
func redisClient(t *testing.T) redis.UniversalClient {
	t.Helper()
	srv, err := testenv.SharedRedis()
	if err != nil {
		t.Fatal(err)
	}
	opts, err := redis.ParseURL(srv.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// testPrefix isolates one test's keys on the shared server.
func testPrefix(*testing.T) string {
	return "test:" + rand.Text() + ":"
}

func TestRedisConformance(t *testing.T) {
	runConformance(t, func(t *testing.T, now func() time.Time) limiter {
		return NewRedis(redisClient(t), RedisConfig{Prefix: testPrefix(t), Now: now})
	})
}

// TestRedisNodesShareTheBudget: two limiters, each with its own client as
// two nodes would have, over one server and prefix.
func TestRedisNodesShareTheBudget(t *testing.T) {
	prefix := testPrefix(t)
	clock := newTestClock()
	nodes := []*Redis{
		NewRedis(redisClient(t), RedisConfig{Prefix: prefix, Now: clock.Now}),
		NewRedis(redisClient(t), RedisConfig{Prefix: prefix, Now: clock.Now}),
	}
	p := Policy{Limit: 30, Period: time.Hour}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 8 {
				res, err := nodes[i%2].Allow(context.Background(), "env", p)
				if err != nil {
					errs <- err
					return
				}
				if res.Allowed {
					allowed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if allowed.Load() != 30 {
		t.Fatalf("the two nodes allowed %d of 64 requests, want 30 in all", allowed.Load())
	}
	if res := mustAllow(t, nodes[0], "other", p); !res.Allowed || res.Remaining != 29 {
		t.Fatalf("another key: %+v", res)
	}
}

// TestRedisServerClock runs on the server's TIME: a small period, then
// polling until the bucket refills.
func TestRedisServerClock(t *testing.T) {
	c := redisClient(t)
	prefix := testPrefix(t)
	l := NewRedis(c, RedisConfig{Prefix: prefix})
	p := Policy{Limit: 3, Period: 300 * time.Millisecond}
	for range 3 {
		mustAllow(t, l, "k", p)
	}
	res := mustAllow(t, l, "k", p)
	if res.Allowed {
		// Only if the three took over 100ms; the refill is then legitimate.
		t.Logf("the fourth request was allowed: the machine is slow (%+v)", res)
	} else if res.RetryAfter <= 0 || res.RetryAfter > 100*time.Millisecond {
		t.Fatalf("retry after %s, want (0, 100ms]", res.RetryAfter)
	}
	if !testenv.WaitFor(t.Context(), 10*time.Second, func() bool {
		res, err := l.Allow(t.Context(), "k", p)
		return err == nil && res.Allowed
	}) {
		t.Fatal("the bucket never refilled")
	}
	// The key carries a TTL, so that idle keys leave the server.
	ttl, err := c.PTTL(t.Context(), prefix+"k").Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= 0 || ttl > time.Second {
		t.Fatalf("key TTL %s, want (0, 1s]", ttl)
	}
}

// TestRedisScriptReloaded: after SCRIPT FLUSH the limiter loads the
// script again (EVALSHA falls back to EVAL).
func TestRedisScriptReloaded(t *testing.T) {
	c := redisClient(t)
	l := NewRedis(c, RedisConfig{Prefix: testPrefix(t)})
	p := Policy{Limit: 10, Period: time.Minute}
	mustAllow(t, l, "k", p)
	if err := c.ScriptFlush(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	if res := mustAllow(t, l, "k", p); !res.Allowed || res.Remaining != 8 {
		t.Fatalf("after SCRIPT FLUSH: %+v", res)
	}
}

// TestRedisDown: a failing server is an error, never a refusal.
func TestRedisDown(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = c.Close() })
	l := NewRedis(c, RedisConfig{})
	if _, err := l.Allow(t.Context(), "k", Policy{Limit: 1, Period: time.Second}); err == nil {
		t.Fatal("no error from an unreachable server")
	}
	if res, err := l.Allow(t.Context(), "k", Off); err != nil || !res.Allowed {
		t.Fatalf("off must not ask the server: %+v %v", res, err)
	}
}

func BenchmarkRedisAllow(b *testing.B) {
	srv, err := testenv.SharedRedis()
	if err != nil {
		b.Fatal(err)
	}
	opts, err := redis.ParseURL(srv.URL(0))
	if err != nil {
		b.Fatal(err)
	}
	c := redis.NewClient(opts)
	b.Cleanup(func() { _ = c.Close() })
	l := NewRedis(c, RedisConfig{Prefix: "bench:" + rand.Text() + ":"})
	p := Policy{Limit: 1_000_000, Period: time.Second}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := l.Allow(context.Background(), "k", p); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
