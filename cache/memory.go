package cache

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/maypok86/otter/v2/stats"
)

// MemoryConfig configures an in-process cache.
type MemoryConfig struct {
	// MaxBytes bounds the entries' size (keys, values, tags and a fixed
	// per-entry overhead); otter's W-TinyLFU policy picks what goes.
	// Default: 64 MiB.
	MaxBytes uint64
	// Now is the clock entries expire by. Default: time.Now.
	Now func() time.Time
}

// DefaultMemoryMaxBytes is MemoryConfig.MaxBytes's default.
const DefaultMemoryMaxBytes = 64 << 20

// entryOverhead is what one entry costs beyond its bytes, roughly: the
// item, the hash table node and the policy's bookkeeping.
const entryOverhead = 96

func (c MemoryConfig) withDefaults() MemoryConfig {
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMemoryMaxBytes
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Memory is the in-process cache: bounded by bytes with otter's W-TinyLFU
// eviction, per-entry expiry and tags. It is the default when no Redis is
// configured, and Fallback's stand-in while Redis fails; it is not shared
// between nodes.
type Memory struct {
	cfg    MemoryConfig
	c      *otter.Cache[string, *memItem]
	rec    *stats.Counter
	closed atomic.Bool

	mu   sync.Mutex
	tags map[string]map[string]*memItem // tag → key → the item that carries it

	// gen counts invalidations (Delete, InvalidateTags, Clear): a lease
	// holds while it is unchanged. One counter for the whole cache, so a
	// load that overlaps any invalidation does not store; that costs a
	// reload at worst, and an atomic add per invalidation. leaseMu orders
	// a leased set's check-and-set against the bump: a bump either comes
	// first (the set is skipped) or after the set (its removal follows).
	gen     atomic.Uint64
	leaseMu sync.RWMutex
}

type memItem struct {
	val     []byte
	tags    []string
	expires time.Time     // by MemoryConfig.Now; zero: never
	ttl     time.Duration // otter's own clean-up runs on real time
}

var (
	_ Cache  = (*Memory)(nil)
	_ Leaser = (*Memory)(nil)
)

// NewMemory returns an empty in-process cache.
func NewMemory(cfg MemoryConfig) *Memory {
	cfg = cfg.withDefaults()
	m := &Memory{cfg: cfg, rec: stats.NewCounter(), tags: map[string]map[string]*memItem{}}
	m.c = otter.Must(&otter.Options[string, *memItem]{
		MaximumWeight: cfg.MaxBytes,
		Weigher:       weigh,
		StatsRecorder: m.rec,
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, *memItem]) time.Duration {
			if e.Value.ttl <= 0 {
				return 100 * 365 * 24 * time.Hour
			}
			return e.Value.ttl
		}),
		OnAtomicDeletion: m.unindex,
	})
	return m
}

func weigh(key string, it *memItem) uint32 {
	n := entryOverhead + len(key) + len(it.val)
	for _, t := range it.tags {
		n += len(t) + 16
	}
	return uint32(min(n, 1<<31))
}

// unindex drops a deleted entry from the tag index. It runs under otter's
// bucket lock and touches only m.mu, which is never held across a call
// into otter. A replacement keeps the index: Set already indexed the new
// item under its own tags.
func (m *Memory) unindex(e otter.DeletionEvent[string, *memItem]) {
	if e.Cause == otter.CauseReplacement {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range e.Value.tags {
		if keys := m.tags[t]; keys[e.Key] == e.Value {
			delete(keys, e.Key)
			if len(keys) == 0 {
				delete(m.tags, t)
			}
		}
	}
}

// Kind returns "memory".
func (m *Memory) Kind() string { return "memory" }

// Get returns a copy of the value under key.
func (m *Memory) Get(_ context.Context, key string) ([]byte, bool, error) {
	if m.closed.Load() {
		return nil, false, ErrClosed
	}
	it, ok := m.c.GetIfPresent(key)
	if ok && !it.expires.IsZero() && !m.cfg.Now().Before(it.expires) {
		m.c.Invalidate(key)
		ok = false
	}
	if !ok {
		return nil, false, nil
	}
	return append([]byte(nil), it.val...), true, nil
}

// Set stores a copy of val.
func (m *Memory) Set(_ context.Context, key string, val []byte, ttl time.Duration, tags ...string) error {
	if m.closed.Load() {
		return ErrClosed
	}
	it := &memItem{val: append([]byte(nil), val...), tags: append([]string(nil), tags...), expires: expiry(m.cfg.Now(), ttl), ttl: ttl}
	if len(tags) > 0 {
		m.mu.Lock()
		for _, t := range tags {
			keys := m.tags[t]
			if keys == nil {
				keys = map[string]*memItem{}
				m.tags[t] = keys
			}
			keys[key] = it
		}
		m.mu.Unlock()
	}
	m.c.Set(key, it)
	return nil
}

// Lease begins a load of key: any invalidation from now on voids it.
func (m *Memory) Lease(context.Context, string, time.Duration, ...string) (Lease, error) {
	if m.closed.Load() {
		return Lease{}, ErrClosed
	}
	return m.lease(), nil
}

func (m *Memory) lease() Lease { return Lease{gen: m.gen.Load(), valid: true} }

// SetLeased is Set, done only if no invalidation ran since lease was
// taken.
func (m *Memory) SetLeased(ctx context.Context, lease Lease, key string, val []byte, ttl time.Duration, tags ...string) (bool, error) {
	if !lease.valid {
		return false, nil
	}
	m.leaseMu.RLock()
	defer m.leaseMu.RUnlock()
	if m.gen.Load() != lease.gen {
		return false, nil
	}
	if err := m.Set(ctx, key, val, ttl, tags...); err != nil {
		return false, err
	}
	return true, nil
}

// invalidated voids the leases taken so far; it runs before the entries
// go.
func (m *Memory) invalidated() {
	m.leaseMu.Lock()
	m.gen.Add(1)
	m.leaseMu.Unlock()
}

// Delete removes keys.
func (m *Memory) Delete(_ context.Context, keys ...string) error {
	if m.closed.Load() {
		return ErrClosed
	}
	m.invalidated()
	for _, k := range keys {
		m.c.Invalidate(k)
	}
	return nil
}

// InvalidateTags removes the entries carrying any of tags.
func (m *Memory) InvalidateTags(_ context.Context, tags ...string) error {
	if m.closed.Load() {
		return ErrClosed
	}
	m.invalidated()
	var keys []string
	m.mu.Lock()
	for _, t := range tags {
		for k := range m.tags[t] {
			keys = append(keys, k)
		}
		delete(m.tags, t)
	}
	m.mu.Unlock()
	for _, k := range keys {
		m.c.Invalidate(k)
	}
	return nil
}

// Clear drops every entry.
func (m *Memory) Clear() {
	m.invalidated()
	m.c.InvalidateAll()
}

// Len returns the number of stored entries, expired ones included until
// they are cleaned up.
func (m *Memory) Len() int { return m.c.EstimatedSize() }

// Stats returns hits, misses, evictions and the weighed bytes held.
func (m *Memory) Stats(context.Context) Stats {
	s := m.rec.Snapshot()
	return Stats{Hits: s.Hits, Misses: s.Misses, Evictions: s.Evictions, Bytes: m.c.WeightedSize()}
}

// Ping fails only after Close.
func (m *Memory) Ping(context.Context) error {
	if m.closed.Load() {
		return ErrClosed
	}
	return nil
}

// Close drops every entry and stops otter's goroutines.
func (m *Memory) Close() error {
	if m.closed.Swap(true) {
		return nil
	}
	m.c.InvalidateAll()
	m.c.StopAllGoroutines()
	return nil
}
