package cache

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// State says where a Loader answer came from; HTTP answers show it in
// X-Skybridge-Cache.
type State string

// States of a Loader answer.
const (
	Hit   State = "hit"   // fresh from the cache
	Miss  State = "miss"  // loaded now
	Stale State = "stale" // past its TTL, within a stale window
)

// LoadOptions describe one cached value.
type LoadOptions struct {
	// TTL is how long a value is fresh. Required (> 0).
	TTL time.Duration
	// StaleWhileRevalidate is how long after TTL a value is still served
	// (as Stale) while one background load refreshes it.
	StaleWhileRevalidate time.Duration
	// StaleIfError is how long after TTL a value is served (as Stale) when
	// loading a fresh one fails.
	StaleIfError time.Duration
	// Tags are the entry's tags (in the key's namespace).
	Tags []string
}

// LoaderConfig configures a Loader.
type LoaderConfig struct {
	// LockTTL is how long the cross-node load lock lives (on a Locker
	// cache): a holder that dies blocks the others at most this long.
	// Default: 2s.
	LockTTL time.Duration
	// PollInterval is how often a node waiting for another's load looks
	// for the answer. Default: 10ms.
	PollInterval time.Duration
	// RefreshTimeout bounds a background stale-while-revalidate load.
	// Default: 10s.
	RefreshTimeout time.Duration
	// LeaseTTL is how long a load's lease lives (on a Leaser cache): a
	// load that takes longer returns its value but does not store it.
	// Default: 10s.
	LeaseTTL time.Duration
	// Logger receives background refresh failures. Default: slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

func (c LoaderConfig) withDefaults() LoaderConfig {
	if c.LockTTL <= 0 {
		c.LockTTL = 2 * time.Second
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 10 * time.Millisecond
	}
	if c.RefreshTimeout <= 0 {
		c.RefreshTimeout = 10 * time.Second
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// LoadFunc loads the value of a key that is missing or stale.
type LoadFunc func(ctx context.Context) ([]byte, error)

// Loader is get-or-load over a Cache: concurrent misses of one key load
// once per node (singleflight) and, on a Locker cache (Redis), once across
// nodes (a short lock with a token; the others poll for the value and load
// themselves when the holder dies); stale values are served within the
// stale-while-revalidate and stale-if-error windows.
//
// On a Leaser cache (all of this package's) a load takes a lease before
// it calls the LoadFunc and stores only if no Delete of the key and no
// InvalidateTags of one of its tags ran meanwhile: a load that read the
// source just before a write committed cannot store the old value after
// the write's invalidation. Its caller still gets the value it loaded.
//
// Values are stored with a 9-byte header (format, fresh-until time), so
// read them back through the Loader only.
type Loader struct {
	c   Cache
	cfg LoaderConfig
	sf  singleflight.Group

	mu      sync.Mutex
	closed  bool
	refresh sync.WaitGroup
}

// NewLoader returns a Loader over c.
func NewLoader(c Cache, cfg LoaderConfig) *Loader {
	return &Loader{c: c, cfg: cfg.withDefaults()}
}

// Cache is the cache under the loader.
func (l *Loader) Cache() Cache { return l.c }

const envelopeV1 = 1

func (l *Loader) wrap(val []byte, ttl time.Duration) []byte {
	out := make([]byte, 9+len(val))
	out[0] = envelopeV1
	binary.BigEndian.PutUint64(out[1:9], uint64(l.cfg.Now().Add(ttl).UnixNano()))
	copy(out[9:], val)
	return out
}

func unwrap(b []byte) (val []byte, freshUntil time.Time, ok bool) {
	if len(b) < 9 || b[0] != envelopeV1 {
		return nil, time.Time{}, false
	}
	return b[9:], time.Unix(0, int64(binary.BigEndian.Uint64(b[1:9]))), true
}

// GetOrLoad returns the value of key: fresh from the cache (Hit), or
// loaded by load and stored (Miss), or a stale one (Stale) within opts'
// windows. A cache that fails is passed by: the value is loaded and the
// error not returned, so a broken cache never fails a request that the
// source can answer.
func (l *Loader) GetOrLoad(ctx context.Context, key string, opts LoadOptions, load LoadFunc) ([]byte, State, error) {
	raw, found, _ := l.c.Get(ctx, key)
	var stale []byte
	if found {
		if val, fresh, ok := unwrap(raw); ok {
			now := l.cfg.Now()
			switch {
			case now.Before(fresh):
				return val, Hit, nil
			case now.Before(fresh.Add(opts.StaleWhileRevalidate)):
				l.refreshInBackground(key, opts, load)
				return val, Stale, nil
			case now.Before(fresh.Add(opts.StaleIfError)):
				stale = val
			}
		}
	}
	v, err, _ := l.sf.Do(key, func() (any, error) { return l.loadShared(ctx, key, opts, load) })
	if err != nil {
		if stale != nil && !errors.Is(err, context.Canceled) {
			return stale, Stale, nil
		}
		return nil, Miss, err
	}
	r := v.(loaded)
	return r.val, r.state, nil
}

type loaded struct {
	val   []byte
	state State
}

// loadShared loads key once across nodes when the cache is a Locker: the
// lock holder loads and stores; the others poll the cache until the value
// appears, or take the lock themselves once it is free again.
func (l *Loader) loadShared(ctx context.Context, key string, opts LoadOptions, load LoadFunc) (loaded, error) {
	// A caller that missed just before another flight stored the value
	// finds it here instead of loading again.
	if val, ok := l.fresh(ctx, key); ok {
		return loaded{val, Hit}, nil
	}
	locker, ok := l.c.(Locker)
	if !ok {
		val, err := l.loadAndStore(ctx, key, opts, load)
		return loaded{val, Miss}, err
	}
	lockKey := key + ":~lock"
	deadline := l.cfg.Now().Add(l.cfg.LockTTL)
	for {
		token, got, err := locker.TryLock(ctx, lockKey, l.cfg.LockTTL)
		if got {
			if val, ok := l.fresh(ctx, key); ok { // the previous holder stored it
				_ = locker.Unlock(context.WithoutCancel(ctx), lockKey, token)
				return loaded{val, Hit}, nil
			}
		}
		if err != nil || got || !l.cfg.Now().Before(deadline) {
			// No lock service, the lock, or waited long enough: load.
			val, lerr := l.loadAndStore(ctx, key, opts, load)
			if got {
				_ = locker.Unlock(context.WithoutCancel(ctx), lockKey, token)
			}
			return loaded{val, Miss}, lerr
		}
		t := time.NewTimer(l.cfg.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return loaded{}, ctx.Err()
		case <-t.C:
		}
		if val, ok := l.fresh(ctx, key); ok {
			return loaded{val, Hit}, nil
		}
	}
}

// fresh returns key's value when the cache holds a fresh one.
func (l *Loader) fresh(ctx context.Context, key string) ([]byte, bool) {
	raw, found, _ := l.c.Get(ctx, key)
	if !found {
		return nil, false
	}
	val, fresh, ok := unwrap(raw)
	return val, ok && l.cfg.Now().Before(fresh)
}

// loadAndStore loads key and stores it, under a lease on a Leaser cache
// (see Loader). A lease the cache fails to give stores nothing.
func (l *Loader) loadAndStore(ctx context.Context, key string, opts LoadOptions, load LoadFunc) ([]byte, error) {
	leaser, leased := l.c.(Leaser)
	var (
		lease    Lease
		leaseErr error
	)
	if leased {
		lease, leaseErr = leaser.Lease(ctx, key, l.cfg.LeaseTTL, opts.Tags...)
	}
	val, err := load(ctx)
	if err != nil {
		return nil, err
	}
	keep := opts.TTL + max(opts.StaleWhileRevalidate, opts.StaleIfError)
	switch {
	case !leased:
		_ = l.c.Set(ctx, key, l.wrap(val, opts.TTL), keep, opts.Tags...)
	case leaseErr == nil:
		_, _ = leaser.SetLeased(ctx, lease, key, l.wrap(val, opts.TTL), keep, opts.Tags...)
	}
	return val, nil
}

// refreshInBackground reloads a stale key once (singleflight), detached
// from the request that saw it stale. Close waits for refreshes.
func (l *Loader) refreshInBackground(key string, opts LoadOptions, load LoadFunc) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.refresh.Add(1)
	l.mu.Unlock()
	go func() {
		defer l.refresh.Done()
		ctx, cancel := context.WithTimeout(context.Background(), l.cfg.RefreshTimeout)
		defer cancel()
		_, err, _ := l.sf.Do(key, func() (any, error) {
			val, err := l.loadAndStore(ctx, key, opts, load)
			return loaded{val, Miss}, err
		})
		if err != nil {
			l.cfg.Logger.Warn("cache: background refresh failed", "error", err.Error())
		}
	}()
}

// Close waits for background refreshes; it does not close the cache.
func (l *Loader) Close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.refresh.Wait()
}
