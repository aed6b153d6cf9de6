package cache

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// FallbackConfig configures a Fallback.
type FallbackConfig struct {
	// Failures is how many consecutive Redis errors open the circuit
	// breaker. Default: 3.
	Failures int
	// Cooldown is how long the breaker stays open before one request
	// probes Redis again. Default: 1s.
	Cooldown time.Duration
	// Timeout bounds each Redis call on top of the client's own
	// timeouts. Default: 100ms.
	Timeout time.Duration
	// MaxPending bounds the deletions and tag invalidations remembered
	// while Redis is away, replayed when it answers again. Default: 10000.
	MaxPending int
	// Logger receives the breaker's transitions. Default: slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

func (c FallbackConfig) withDefaults() FallbackConfig {
	if c.Failures <= 0 {
		c.Failures = 3
	}
	if c.Cooldown <= 0 {
		c.Cooldown = time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 100 * time.Millisecond
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 10000
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Fallback is Redis with the in-process cache behind it: while Redis
// fails or is slow (a circuit breaker opens after Failures errors in a
// row), reads and writes go to memory and the node keeps serving; after
// Cooldown one call probes Redis and, when it answers, the breaker closes
// and the deletions and invalidations missed meanwhile are replayed.
// Deletions and invalidations always apply to memory too, so that it never
// serves what a write invalidated.
type Fallback struct {
	cfg     FallbackConfig
	primary *Redis
	local   *Memory

	mu        sync.Mutex
	failures  int
	openUntil time.Time // zero: closed
	open      bool
	probing   bool
	pendKeys  map[string]bool
	pendTags  map[string]bool
	overflow  bool
}

var (
	_ Cache  = (*Fallback)(nil)
	_ Locker = (*Fallback)(nil)
	_ Leaser = (*Fallback)(nil)
)

// NewFallback returns primary backed by local.
func NewFallback(primary *Redis, local *Memory, cfg FallbackConfig) *Fallback {
	return &Fallback{cfg: cfg.withDefaults(), primary: primary, local: local,
		pendKeys: map[string]bool{}, pendTags: map[string]bool{}}
}

// Kind returns "redis": the configured cache, degraded or not.
func (f *Fallback) Kind() string { return "redis" }

// Degraded reports whether the breaker is open (memory serves).
func (f *Fallback) Degraded() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.open
}

// allow reports whether a call may go to Redis: the breaker is closed, or
// its cooldown passed and no other probe runs.
func (f *Fallback) allow() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.open {
		return true
	}
	if f.probing || f.cfg.Now().Before(f.openUntil) {
		return false
	}
	f.probing = true
	return true
}

// record notes the outcome of a Redis call; it returns err unless the
// call failed and memory should take over (errFallback).
func (f *Fallback) record(ctx context.Context, err error) error {
	if err == nil || errors.Is(err, ErrInvalid) {
		f.mu.Lock()
		wasOpen := f.open
		f.failures, f.open, f.probing = 0, false, false
		f.mu.Unlock()
		if wasOpen {
			f.cfg.Logger.Info("cache: Redis answers again; leaving the in-process fallback")
			f.replay(ctx)
		}
		return err
	}
	if ctx.Err() != nil && !errors.Is(err, context.DeadlineExceeded) {
		return ctx.Err() // the caller gave up; Redis is not to blame
	}
	f.mu.Lock()
	f.failures++
	f.probing = false
	if f.open || f.failures >= f.cfg.Failures {
		if !f.open {
			f.cfg.Logger.Warn("cache: Redis fails; serving from the in-process cache", "error", err.Error())
		}
		f.open = true
		f.openUntil = f.cfg.Now().Add(f.cfg.Cooldown)
	}
	f.mu.Unlock()
	return errFallback
}

var errFallback = errors.New("cache: fall back to memory")

// replay sends the deletions and invalidations Redis missed.
func (f *Fallback) replay(ctx context.Context) {
	f.mu.Lock()
	keys, tags, overflow := f.pendKeys, f.pendTags, f.overflow
	f.pendKeys, f.pendTags, f.overflow = map[string]bool{}, map[string]bool{}, false
	f.mu.Unlock()
	if overflow {
		f.cfg.Logger.Warn("cache: more invalidations were missed while Redis was away than remembered; Redis entries may be stale until they expire", "max", f.cfg.MaxPending)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if len(keys) > 0 {
		_ = f.primary.Delete(ctx, setKeys(keys)...)
	}
	if len(tags) > 0 {
		_ = f.primary.InvalidateTags(ctx, setKeys(tags)...)
	}
}

func setKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// remember queues keys or tags for replay.
func (f *Fallback) remember(dst map[string]bool, items []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, it := range items {
		if len(f.pendKeys)+len(f.pendTags) >= f.cfg.MaxPending {
			f.overflow = true
			return
		}
		dst[it] = true
	}
}

func (f *Fallback) timeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, f.cfg.Timeout)
}

// Get reads Redis, or memory while the breaker is open.
func (f *Fallback) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if f.allow() {
		tctx, cancel := f.timeout(ctx)
		v, ok, err := f.primary.Get(tctx, key)
		cancel()
		if err = f.record(ctx, err); !errors.Is(err, errFallback) {
			return v, ok, err
		}
	}
	return f.local.Get(ctx, key)
}

// Set writes Redis, or memory while the breaker is open.
func (f *Fallback) Set(ctx context.Context, key string, val []byte, ttl time.Duration, tags ...string) error {
	if f.allow() {
		tctx, cancel := f.timeout(ctx)
		err := f.primary.Set(tctx, key, val, ttl, tags...)
		cancel()
		if err = f.record(ctx, err); !errors.Is(err, errFallback) {
			return err
		}
	}
	return f.local.Set(ctx, key, val, ttl, tags...)
}

// Lease takes a lease on memory and, unless the breaker is open, on
// Redis. Every Delete and InvalidateTags reaches memory, so the memory
// lease guards a store that falls back to memory; a lease taken while
// Redis was away (no Redis token) stores nothing into Redis once it is
// back, since Redis may have missed invalidations meanwhile.
func (f *Fallback) Lease(ctx context.Context, key string, ttl time.Duration, tags ...string) (Lease, error) {
	l, err := f.local.Lease(ctx, key, ttl, tags...)
	if err != nil {
		return Lease{}, err
	}
	if f.allow() {
		tctx, cancel := f.timeout(ctx)
		p, err := f.primary.Lease(tctx, key, ttl, tags...)
		cancel()
		if err = f.record(ctx, err); !errors.Is(err, errFallback) {
			if err != nil {
				return Lease{}, err
			}
			l.token = p.token
		}
	}
	return l, nil
}

// SetLeased stores into Redis under the Redis lease, or into memory under
// the memory one while the breaker is open.
func (f *Fallback) SetLeased(ctx context.Context, lease Lease, key string, val []byte, ttl time.Duration, tags ...string) (bool, error) {
	if f.allow() {
		if lease.token == "" {
			f.release()
			return false, nil
		}
		tctx, cancel := f.timeout(ctx)
		ok, err := f.primary.SetLeased(tctx, lease, key, val, ttl, tags...)
		cancel()
		if err = f.record(ctx, err); !errors.Is(err, errFallback) {
			return ok, err
		}
	}
	return f.local.SetLeased(ctx, lease, key, val, ttl, tags...)
}

// release gives back a probe that allow granted and that was not used.
func (f *Fallback) release() {
	f.mu.Lock()
	f.probing = false
	f.mu.Unlock()
}

// Delete removes keys from memory and Redis (remembered for replay while
// Redis is away).
func (f *Fallback) Delete(ctx context.Context, keys ...string) error {
	if err := f.local.Delete(ctx, keys...); err != nil {
		return err
	}
	if f.allow() {
		tctx, cancel := f.timeout(ctx)
		err := f.primary.Delete(tctx, keys...)
		cancel()
		if err = f.record(ctx, err); !errors.Is(err, errFallback) {
			return err
		}
	}
	f.remember(f.pendKeys, keys)
	return nil
}

// InvalidateTags invalidates in memory and Redis (remembered for replay
// while Redis is away).
func (f *Fallback) InvalidateTags(ctx context.Context, tags ...string) error {
	if err := f.local.InvalidateTags(ctx, tags...); err != nil {
		return err
	}
	if f.allow() {
		tctx, cancel := f.timeout(ctx)
		err := f.primary.InvalidateTags(tctx, tags...)
		cancel()
		if err = f.record(ctx, err); !errors.Is(err, errFallback) {
			return err
		}
	}
	f.remember(f.pendTags, tags)
	return nil
}

// TryLock takes the Redis lock; while Redis is away every caller gets it
// (the node's own singleflight still holds one load per node).
func (f *Fallback) TryLock(ctx context.Context, key string, ttl time.Duration) (string, bool, error) {
	if f.allow() {
		tctx, cancel := f.timeout(ctx)
		tok, ok, err := f.primary.TryLock(tctx, key, ttl)
		cancel()
		if err = f.record(ctx, err); !errors.Is(err, errFallback) {
			return tok, ok, err
		}
	}
	return "", true, nil
}

// Unlock releases a Redis lock.
func (f *Fallback) Unlock(ctx context.Context, key, token string) error {
	if token == "" {
		return nil
	}
	tctx, cancel := f.timeout(ctx)
	defer cancel()
	return f.primary.Unlock(tctx, key, token)
}

// Stats are Redis's, with the fallback's hits and misses added and
// Degraded set while memory serves.
func (f *Fallback) Stats(ctx context.Context) Stats {
	l := f.local.Stats(ctx)
	s := Stats{Hits: l.Hits, Misses: l.Misses, Degraded: f.Degraded()}
	if !s.Degraded {
		tctx, cancel := f.timeout(ctx)
		p := f.primary.Stats(tctx)
		cancel()
		s.Bytes, s.Evictions = p.Bytes, p.Evictions
	}
	s.Hits += f.primary.hits.Load()
	s.Misses += f.primary.misses.Load()
	return s
}

// Ping pings Redis itself (not memory): /readyz shows the cache degraded
// while Redis is away. A successful ping also closes an open breaker.
func (f *Fallback) Ping(ctx context.Context) error {
	err := f.primary.Ping(ctx)
	if err == nil && f.Degraded() && f.allow() {
		_ = f.record(ctx, nil)
	}
	return err
}

// Close closes both caches.
func (f *Fallback) Close() error {
	return errors.Join(f.primary.Close(), f.local.Close())
}
