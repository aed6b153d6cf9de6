package cache_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/cache"
)

// BenchmarkGet: a cache hit of a 512-byte value, in-process and on the
// real redis-server over loopback (one connection pool, parallel callers).
func BenchmarkGet(b *testing.B) {
	for _, impl := range []string{"memory", "redis"} {
		b.Run("impl="+impl, func(b *testing.B) {
			var c cache.Cache = cache.NewMemory(cache.MemoryConfig{})
			if impl == "redis" {
				c = newRedis(b)
			}
			defer c.Close()
			ctx := context.Background()
			keys := make([]string, 1000)
			val := make([]byte, 512)
			for i := range keys {
				keys[i] = ns.Key(fmt.Sprintf("k%d", i))
				if err := c.Set(ctx, keys[i], val, time.Hour, ns.Tag("t")); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if _, ok, err := c.Get(ctx, keys[i%len(keys)]); err != nil || !ok {
						b.Error("miss", err)
						return
					}
					i++
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
		})
	}
}
