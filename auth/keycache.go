package auth

import (
	"container/list"
	"sync"
	"time"
)

// keyCache is a bounded, least-recently-used cache of values looked up by
// key, each tied to the environment it belongs to so that a rotation can
// drop all of an environment's entries at once.
//
// A lookup that races with a rotation could read the old document and
// cache it after the rotation dropped the entries; put therefore takes the
// generation read before the lookup and stores nothing when an
// invalidation happened since.
type keyCache[V any] struct {
	mu    sync.Mutex
	size  int
	gen   uint64
	ll    *list.List // of *cacheItem[V], most recently used first
	items map[string]*list.Element
}

type cacheItem[V any] struct {
	key, envID string
	expires    time.Time
	val        V
}

func newKeyCache[V any](size int) *keyCache[V] {
	return &keyCache[V]{size: size, ll: list.New(), items: make(map[string]*list.Element)}
}

// get returns the live value for key.
func (c *keyCache[V]) get(key string, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var zero V
	e, ok := c.items[key]
	if !ok {
		return zero, false
	}
	it := e.Value.(*cacheItem[V])
	if !now.Before(it.expires) {
		c.remove(e)
		return zero, false
	}
	c.ll.MoveToFront(e)
	return it.val, true
}

// generation returns the invalidation count, for a later put.
func (c *keyCache[V]) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put stores val until expires, unless an invalidation happened since gen
// was read. The least recently used entry makes room when the cache is
// full.
func (c *keyCache[V]) put(key, envID string, val V, expires time.Time, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if e, ok := c.items[key]; ok {
		it := e.Value.(*cacheItem[V])
		it.envID, it.val, it.expires = envID, val, expires
		c.ll.MoveToFront(e)
		return
	}
	for c.ll.Len() >= c.size {
		c.remove(c.ll.Back())
	}
	c.items[key] = c.ll.PushFront(&cacheItem[V]{key: key, envID: envID, expires: expires, val: val})
}

// invalidateEnv drops every entry of the environment and voids puts of
// lookups started before. It scans the whole cache: rotations are rare.
func (c *keyCache[V]) invalidateEnv(envID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for e := c.ll.Front(); e != nil; {
		next := e.Next()
		if e.Value.(*cacheItem[V]).envID == envID {
			c.remove(e)
		}
		e = next
	}
}

func (c *keyCache[V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}

func (c *keyCache[V]) remove(e *list.Element) {
	c.ll.Remove(e)
	delete(c.items, e.Value.(*cacheItem[V]).key)
}
