package cache_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/skybridgehq/skybridge/cache"
	"github.com/skybridgehq/skybridge/internal/testenv"
)

// A slow Redis (CLIENT PAUSE: commands wait instead of failing) opens the
// breaker: memory serves, a deletion made meanwhile is remembered, and
// once Redis answers again the breaker closes and the deletion reaches
// Redis.
func TestFallbackSlowRedis(t *testing.T) {
	r, err := testenv.StartRedis()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	ctx := context.Background()
	primary, err := cache.NewRedis(cache.RedisConfig{URL: r.URL(0), Timeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	f := cache.NewFallback(primary, cache.NewMemory(cache.MemoryConfig{}), cache.FallbackConfig{Cooldown: 50 * time.Millisecond, Timeout: 30 * time.Millisecond})
	defer f.Close()
	admin := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer admin.Close()

	if err := f.Set(ctx, ns.Key("old"), []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := admin.Do(ctx, "CLIENT", "PAUSE", "1500", "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		_, _, _ = f.Get(ctx, ns.Key("old")) // each times out
	}
	if !f.Degraded() {
		t.Fatal("breaker closed after three timeouts")
	}
	// Memory serves while Redis is slow.
	if err := f.Set(ctx, ns.Key("new"), []byte("m"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := f.Get(ctx, ns.Key("new")); err != nil || !ok || string(v) != "m" {
		t.Fatalf("degraded get: %q %v %v", v, ok, err)
	}
	if err := f.Delete(ctx, ns.Key("old")); err != nil {
		t.Fatal(err)
	}
	if !testenv.WaitFor(ctx, 10*time.Second, func() bool {
		_, _, _ = f.Get(ctx, ns.Key("probe"))
		return !f.Degraded()
	}) {
		t.Fatal("breaker did not close after Redis answered again")
	}
	if !testenv.WaitFor(ctx, 5*time.Second, func() bool {
		n, err := admin.Exists(ctx, "app000000001:dev:{app000000001:dev}:old").Result()
		return err == nil && n == 0
	}) {
		t.Fatal("the deletion made while Redis was slow never reached Redis")
	}
	if st := f.Stats(ctx); st.Degraded {
		t.Fatalf("stats still degraded: %+v", st)
	}
}
