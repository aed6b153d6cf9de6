package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache keeps prepared statements of one pool, keyed by SQL text, so
// that hot queries (get by id, insert, the filters an app repeats) skip
// SQLite's parser. It holds at most max statements; an evicted statement
// is closed once its last user releases it.
type stmtCache struct {
	prepare func(ctx context.Context, query string) (*sql.Stmt, error)
	max     int

	mu sync.Mutex
	m  map[string]*cachedStmt
}

type cachedStmt struct {
	stmt    *sql.Stmt
	refs    int
	evicted bool
}

// newStmtCache caches what prepare returns: (*sql.DB).PrepareContext for
// a pool, (*sql.Conn).PrepareContext for the writer's connection.
func newStmtCache(prepare func(ctx context.Context, query string) (*sql.Stmt, error), max int) *stmtCache {
	return &stmtCache{prepare: prepare, max: max, m: make(map[string]*cachedStmt)}
}

// acquire returns the prepared statement for query; call release when
// done with it (and with any rows it returned).
func (c *stmtCache) acquire(ctx context.Context, query string) (*cachedStmt, error) {
	c.mu.Lock()
	if cs, ok := c.m[query]; ok {
		cs.refs++
		c.mu.Unlock()
		return cs, nil
	}
	c.mu.Unlock()
	st, err := c.prepare(ctx, query)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if cs, ok := c.m[query]; ok { // prepared meanwhile by another caller
		cs.refs++
		c.mu.Unlock()
		st.Close()
		return cs, nil
	}
	var drop []*sql.Stmt
	for key, old := range c.m {
		if len(c.m) < c.max {
			break
		}
		delete(c.m, key)
		old.evicted = true
		if old.refs == 0 {
			drop = append(drop, old.stmt)
		}
	}
	cs := &cachedStmt{stmt: st, refs: 1}
	c.m[query] = cs
	c.mu.Unlock()
	for _, s := range drop {
		s.Close()
	}
	return cs, nil
}

func (c *stmtCache) release(cs *cachedStmt) {
	c.mu.Lock()
	cs.refs--
	closeIt := cs.evicted && cs.refs == 0
	c.mu.Unlock()
	if closeIt {
		cs.stmt.Close()
	}
}

// close closes every cached statement.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, cs := range c.m {
		cs.stmt.Close()
		delete(c.m, key)
	}
}
