package cache_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/cache"
	"github.com/skybridgehq/skybridge/internal/testenv"
)

var ns = cache.NewNamespace("app000000001", "dev")

// stampede runs n concurrent GetOrLoad of one key spread over loaders and
// returns how often load ran.
func stampede(t *testing.T, loaders []*cache.Loader, n int) int64 {
	t.Helper()
	var loads atomic.Int64
	release := make(chan struct{})
	load := func(ctx context.Context) ([]byte, error) {
		loads.Add(1)
		<-release // hold the load open until every caller is waiting
		return []byte("value"), nil
	}
	var wg sync.WaitGroup
	var started sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		started.Add(1)
		go func() {
			defer wg.Done()
			started.Done()
			v, _, err := loaders[i%len(loaders)].GetOrLoad(context.Background(), ns.Key("hot"), cache.LoadOptions{TTL: time.Minute}, load)
			if err == nil && string(v) != "value" {
				err = errors.New("wrong value " + string(v))
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	started.Wait()
	time.AfterFunc(200*time.Millisecond, func() { close(release) }) // let stragglers join the flight
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return loads.Load()
}

func TestLoaderStampedeOneLoadPerNode(t *testing.T) {
	for name, c := range map[string]cache.Cache{"memory": cache.NewMemory(cache.MemoryConfig{}), "redis": newRedis(t)} {
		t.Run(name, func(t *testing.T) {
			defer c.Close()
			l := cache.NewLoader(c, cache.LoaderConfig{})
			defer l.Close()
			if got := stampede(t, []*cache.Loader{l}, 200); got != 1 {
				t.Fatalf("200 concurrent misses loaded %d times, want 1", got)
			}
		})
	}
}

// Two loaders over two clients of one redis-server are two nodes: the
// Redis lock lets one of them load.
func TestLoaderStampedeOneLoadAcrossNodes(t *testing.T) {
	a := newRedis(t)
	b, err := cache.NewRedis(cache.RedisConfig{Client: nil, URL: redisURL(t), Prefix: a.Prefix()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	la, lb := cache.NewLoader(a, cache.LoaderConfig{}), cache.NewLoader(b, cache.LoaderConfig{})
	if got := stampede(t, []*cache.Loader{la, lb}, 200); got != 1 {
		t.Fatalf("200 concurrent misses on two nodes loaded %d times, want 1", got)
	}
}

// A lock holder that dies (its lock is never released) delays the others
// by at most LockTTL; then they load themselves.
func TestLoaderLockHolderDies(t *testing.T) {
	c := newRedis(t)
	defer c.Close()
	ctx := context.Background()
	if _, ok, err := c.TryLock(ctx, ns.Key("k")+":~lock", 300*time.Millisecond); err != nil || !ok {
		t.Fatalf("take the lock as a node that dies: %v %v", ok, err)
	}
	l := cache.NewLoader(c, cache.LoaderConfig{LockTTL: 300 * time.Millisecond})
	v, st, err := l.GetOrLoad(ctx, ns.Key("k"), cache.LoadOptions{TTL: time.Minute}, func(context.Context) ([]byte, error) { return []byte("mine"), nil })
	if err != nil || string(v) != "mine" || st != cache.Miss {
		t.Fatalf("after the holder died: %q %s %v", v, st, err)
	}
}

func TestLoaderStaleWindows(t *testing.T) {
	now := time.Unix(10000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	m := cache.NewMemory(cache.MemoryConfig{Now: clock})
	defer m.Close()
	l := cache.NewLoader(m, cache.LoaderConfig{Now: clock})
	defer l.Close()
	ctx := context.Background()
	var loads atomic.Int64
	fail := atomic.Bool{}
	load := func(context.Context) ([]byte, error) {
		if fail.Load() {
			return nil, errors.New("source down")
		}
		return []byte{byte('0' + loads.Add(1))}, nil
	}
	opts := cache.LoadOptions{TTL: time.Minute, StaleWhileRevalidate: time.Minute, StaleIfError: 10 * time.Minute}
	tests := []struct {
		name    string
		advance time.Duration
		fail    bool
		want    string
		state   cache.State
	}{
		{"first read loads", 0, false, "1", cache.Miss},
		{"fresh read hits", 30 * time.Second, false, "1", cache.Hit},
		{"stale-while-revalidate serves the old value", 60 * time.Second, false, "1", cache.Stale},
	}
	for _, tc := range tests {
		advance(tc.advance)
		fail.Store(tc.fail)
		v, st, err := l.GetOrLoad(ctx, ns.Key("k"), opts, load)
		if err != nil || string(v) != tc.want || st != tc.state {
			t.Fatalf("%s: %q %s %v, want %q %s", tc.name, v, st, err, tc.want, tc.state)
		}
	}
	// The background refresh stores value 2.
	if !testenv.WaitFor(ctx, 5*time.Second, func() bool {
		raw, ok, _ := m.Get(ctx, ns.Key("k"))
		return ok && len(raw) > 0 && raw[len(raw)-1] == '2'
	}) {
		t.Fatal("the background refresh stored nothing")
	}
	if v, st, _ := l.GetOrLoad(ctx, ns.Key("k"), opts, load); string(v) != "2" || st != cache.Hit {
		t.Fatalf("after refresh: %q %s", v, st)
	}
	// Past the revalidate window, within stale-if-error: a failing source
	// gets the stale value; past both, the error.
	advance(5 * time.Minute)
	fail.Store(true)
	if v, st, err := l.GetOrLoad(ctx, ns.Key("k"), opts, load); err != nil || string(v) != "2" || st != cache.Stale {
		t.Fatalf("stale-if-error: %q %s %v", v, st, err)
	}
	advance(10 * time.Minute)
	if _, _, err := l.GetOrLoad(ctx, ns.Key("k"), opts, load); err == nil {
		t.Fatal("past every window a failing source must fail")
	}
}
