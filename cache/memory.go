package cache

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// MemoryConfig configures an in-process cache.
type MemoryConfig struct {
	// MaxEntries bounds the number of keys; the least recently used go
	// first. Default: 100000.
	MaxEntries int
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

func (c MemoryConfig) withDefaults() MemoryConfig {
	if c.MaxEntries <= 0 {
		c.MaxEntries = 100000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Memory is an in-process LRU cache with per-key expiry. It is the default
// when no Redis is configured; it is not shared between nodes.
type Memory struct {
	cfg    MemoryConfig
	mu     sync.Mutex
	items  map[string]*list.Element
	lru    *list.List // front = most recently used
	closed bool
}

type memEntry struct {
	key     string
	val     []byte
	expires time.Time // zero: never
}

var _ Cache = (*Memory)(nil)

// NewMemory returns an empty in-process cache.
func NewMemory(cfg MemoryConfig) *Memory {
	return &Memory{cfg: cfg.withDefaults(), items: map[string]*list.Element{}, lru: list.New()}
}

// Kind returns "memory".
func (m *Memory) Kind() string { return "memory" }

// Get returns a copy of the value under key.
func (m *Memory) Get(_ context.Context, key string) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, false, ErrClosed
	}
	el, ok := m.items[key]
	if !ok {
		return nil, false, nil
	}
	e := el.Value.(*memEntry)
	if !e.expires.IsZero() && !m.cfg.Now().Before(e.expires) {
		m.remove(el)
		return nil, false, nil
	}
	m.lru.MoveToFront(el)
	return append([]byte(nil), e.val...), true, nil
}

// Set stores a copy of val.
func (m *Memory) Set(_ context.Context, key string, val []byte, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	e := &memEntry{key: key, val: append([]byte(nil), val...)}
	if ttl > 0 {
		e.expires = m.cfg.Now().Add(ttl)
	}
	if el, ok := m.items[key]; ok {
		el.Value = e
		m.lru.MoveToFront(el)
		return nil
	}
	m.items[key] = m.lru.PushFront(e)
	for m.lru.Len() > m.cfg.MaxEntries {
		m.remove(m.lru.Back())
	}
	return nil
}

// Delete removes keys.
func (m *Memory) Delete(_ context.Context, keys ...string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	for _, k := range keys {
		if el, ok := m.items[k]; ok {
			m.remove(el)
		}
	}
	return nil
}

func (m *Memory) remove(el *list.Element) {
	m.lru.Remove(el)
	delete(m.items, el.Value.(*memEntry).key)
}

// Len returns the number of stored keys, expired ones included until
// they are next touched or evicted.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lru.Len()
}

// Ping fails only after Close.
func (m *Memory) Ping(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	return nil
}

// Close drops every entry.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.items = map[string]*list.Element{}
	m.lru.Init()
	return nil
}
