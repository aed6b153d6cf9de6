package ratelimit

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
)

// memoryShards spreads keys over independently locked maps, so that
// concurrent requests for different keys rarely wait on each other.
const memoryShards = 32

// MemoryConfig configures a Memory limiter.
type MemoryConfig struct {
	// MaxKeys bounds how many keys the limiter tracks at once. When it is
	// full of live keys even after dropping the expired ones, requests of
	// new keys are allowed untracked: a flood of distinct keys must not
	// lock out or evict the keys already tracked. Default: 100000.
	MaxKeys int
	// SweepEvery is how often expired keys are dropped. Default: 1m.
	SweepEvery time.Duration
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

// Defaults of MemoryConfig.
const (
	DefaultMaxKeys    = 100_000
	DefaultSweepEvery = time.Minute
)

func (c MemoryConfig) withDefaults() MemoryConfig {
	if c.MaxKeys <= 0 {
		c.MaxKeys = DefaultMaxKeys
	}
	if c.SweepEvery <= 0 {
		c.SweepEvery = DefaultSweepEvery
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Memory is a limiter for one process. It is safe for concurrent use and
// needs no goroutine: expired keys are swept on the way, at most once per
// SweepEvery per shard, and whenever a shard is full.
type Memory struct {
	cfg      MemoryConfig
	seed     maphash.Seed
	perShard int
	shards   [memoryShards]memoryShard
}

type memoryShard struct {
	mu        sync.Mutex
	tat       map[string]int64 // key → theoretical arrival time, µs since the epoch
	lastSweep int64
}

// NewMemory returns an empty in-process limiter.
func NewMemory(cfg MemoryConfig) *Memory {
	cfg = cfg.withDefaults()
	m := &Memory{cfg: cfg, seed: maphash.MakeSeed(), perShard: max(1, cfg.MaxKeys/memoryShards)}
	for i := range m.shards {
		m.shards[i].tat = map[string]int64{}
	}
	return m
}

// Allow decides one request of key under p and counts it when allowed. A
// disabled policy allows everything; an invalid one is an error.
func (m *Memory) Allow(_ context.Context, key string, p Policy) (Result, error) {
	if p.Disabled() {
		return Result{Allowed: true, Limit: -1, Remaining: -1}, nil
	}
	if err := p.Validate(); err != nil {
		return Result{}, err
	}
	g := gcraOf(p)
	now := m.cfg.Now().UnixMicro()
	s := &m.shards[maphash.String(m.seed, key)%memoryShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if now-s.lastSweep >= m.cfg.SweepEvery.Microseconds() {
		s.sweep(now)
	}
	tat, tracked := s.tat[key]
	res, newTAT := g.decide(tat, now)
	if !res.Allowed {
		return res, nil
	}
	if !tracked && len(s.tat) >= m.perShard {
		s.sweep(now)
		if len(s.tat) >= m.perShard {
			return res, nil // full of live keys: allow untracked
		}
	}
	s.tat[key] = newTAT
	return res, nil
}

// Len is the number of keys tracked now, expired ones included until the
// next sweep.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.tat)
		s.mu.Unlock()
	}
	return n
}

// sweep drops the keys whose bucket is full again (their theoretical
// arrival time has passed): forgetting them changes no answer. s.mu is
// held.
func (s *memoryShard) sweep(now int64) {
	for k, tat := range s.tat {
		if tat <= now {
			delete(s.tat, k)
		}
	}
	s.lastSweep = now
}
