package cache_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/cache"
)

// leaseCaches returns every implementation, fresh, for the lease race
// tests: Fallback both with Redis answering and with Redis unreachable
// (memory serves, under its own leases).
func leaseCaches(t *testing.T) map[string]func(t *testing.T) cache.Cache {
	return map[string]func(t *testing.T) cache.Cache{
		"memory": func(*testing.T) cache.Cache { return cache.NewMemory(cache.MemoryConfig{}) },
		"redis":  func(t *testing.T) cache.Cache { return newRedis(t) },
		"fallback": func(t *testing.T) cache.Cache {
			return cache.NewFallback(newRedis(t), cache.NewMemory(cache.MemoryConfig{}), cache.FallbackConfig{})
		},
		"fallback-degraded": func(t *testing.T) cache.Cache {
			dead, err := cache.NewRedis(cache.RedisConfig{URL: "redis://127.0.0.1:1/0"})
			if err != nil {
				t.Fatal(err)
			}
			return cache.NewFallback(dead, cache.NewMemory(cache.MemoryConfig{}), cache.FallbackConfig{Logger: slog.New(slog.DiscardHandler)})
		},
		"twolevel": func(t *testing.T) cache.Cache { a, _ := twoNodes(t, time.Minute); return a },
	}
}

// A load that read the source before a write and is still under way when
// the write's invalidation runs returns its value but does not store it:
// the next GetOrLoad misses and loads the new value.
func TestLoaderLoadOverlappingInvalidationDoesNotStore(t *testing.T) {
	tag := ns.Tag("collection:x")
	opts := cache.LoadOptions{TTL: time.Minute, Tags: []string{tag, ns.All()}}
	invalidations := []struct {
		name       string
		invalidate func(ctx context.Context, c cache.Cache, key string) error
		stored     bool
	}{
		{"none", func(context.Context, cache.Cache, string) error { return nil }, true},
		{"delete", func(ctx context.Context, c cache.Cache, key string) error { return c.Delete(ctx, key) }, false},
		{"tag", func(ctx context.Context, c cache.Cache, _ string) error { return c.InvalidateTags(ctx, tag) }, false},
	}
	for name, newCache := range leaseCaches(t) {
		for _, inv := range invalidations {
			t.Run(name+"/"+inv.name, func(t *testing.T) {
				ctx := context.Background()
				c := newCache(t)
				t.Cleanup(func() { _ = c.Close() })
				l := cache.NewLoader(c, cache.LoaderConfig{})
				t.Cleanup(l.Close)
				key := ns.Key("obj", "x", "1")

				started, release := make(chan struct{}), make(chan struct{})
				type answer struct {
					val   string
					state cache.State
					err   error
				}
				done := make(chan answer, 1)
				go func() {
					v, st, err := l.GetOrLoad(ctx, key, opts, func(context.Context) ([]byte, error) {
						close(started) // the source is read: the old value
						<-release
						return []byte("old"), nil
					})
					done <- answer{string(v), st, err}
				}()
				<-started
				if err := inv.invalidate(ctx, c, key); err != nil {
					close(release)
					t.Fatalf("invalidate: %v", err)
				}
				close(release)
				a := <-done
				if a.err != nil || a.val != "old" || a.state != cache.Miss {
					t.Fatalf("blocked load answered %q %s %v; want its own value, a miss", a.val, a.state, a.err)
				}

				loads := 0
				v, st, err := l.GetOrLoad(ctx, key, opts, func(context.Context) ([]byte, error) {
					loads++
					return []byte("new"), nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if inv.stored {
					if st != cache.Hit || string(v) != "old" || loads != 0 {
						t.Fatalf("without invalidation: %q %s after %d loads; want the stored value, a hit", v, st, loads)
					}
					return
				}
				if st != cache.Miss || string(v) != "new" || loads != 1 {
					t.Fatalf("after invalidation: %q %s after %d loads; want a miss loading the new value", v, st, loads)
				}
				if v, st, _ := l.GetOrLoad(ctx, key, opts, func(context.Context) ([]byte, error) { return []byte("again"), nil }); st != cache.Hit || string(v) != "new" {
					t.Fatalf("the reload was not stored: %q %s", v, st)
				}
			})
		}
	}
}

// On Redis the lease is shared: a write's invalidation on another node
// voids a load under way on this one.
func TestLoaderLeaseVoidedFromAnotherNode(t *testing.T) {
	ctx := context.Background()
	tag := ns.Tag("collection:x")
	opts := cache.LoadOptions{TTL: time.Minute, Tags: []string{tag, ns.All()}}
	for _, tc := range []struct {
		name       string
		invalidate func(c cache.Cache, key string) error
	}{
		{"delete", func(c cache.Cache, key string) error { return c.Delete(ctx, key) }},
		{"tag", func(c cache.Cache, _ string) error { return c.InvalidateTags(ctx, tag) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newRedis(t)
			b, err := cache.NewRedis(cache.RedisConfig{URL: redisURL(t), Prefix: a.Prefix()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
			la, lb := cache.NewLoader(a, cache.LoaderConfig{}), cache.NewLoader(b, cache.LoaderConfig{})
			t.Cleanup(la.Close)
			t.Cleanup(lb.Close)
			key := ns.Key("obj", "x", "1")

			started, release := make(chan struct{}), make(chan struct{})
			done := make(chan error, 1)
			go func() {
				_, _, err := la.GetOrLoad(ctx, key, opts, func(context.Context) ([]byte, error) {
					close(started)
					<-release
					return []byte("old"), nil
				})
				done <- err
			}()
			<-started
			err = tc.invalidate(b, key)
			close(release)
			if err != nil {
				t.Fatalf("invalidate: %v", err)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			v, st, err := lb.GetOrLoad(ctx, key, opts, func(context.Context) ([]byte, error) { return []byte("new"), nil })
			if err != nil || st != cache.Miss || string(v) != "new" {
				t.Fatalf("other node reads %q %s %v; want a miss loading the new value", v, st, err)
			}
		})
	}
}
