package objectstore

import (
	"sync"
	"time"
)

// maxCachedCollections bounds the settings cache; when full it starts
// over, which costs one store read per collection.
const maxCachedCollections = 10000

// settingsCache keeps collection states by database and collection name
// until they expire. A node forgets an entry when it writes the settings.
type settingsCache struct {
	mu sync.Mutex
	m  map[string]cachedColl
}

type cachedColl struct {
	st      *collState
	expires time.Time
}

func newSettingsCache() settingsCache { return settingsCache{m: map[string]cachedColl{}} }

func cacheKey(db, col string) string { return db + "\x00" + col }

func (c *settingsCache) get(db, col string, now time.Time) *collState {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[cacheKey(db, col)]
	if !ok || !now.Before(e.expires) {
		return nil
	}
	return e.st
}

func (c *settingsCache) put(db, col string, st *collState, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCachedCollections {
		clear(c.m)
	}
	c.m[cacheKey(db, col)] = cachedColl{st: st, expires: expires}
}

func (c *settingsCache) forget(db, col string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, cacheKey(db, col))
}
