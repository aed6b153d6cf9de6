package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/skybridgehq/skybridge/store"
)

// DB is one SQLite database file.
type DB struct {
	p      *Provider
	name   string
	w      *writer // the one writer connection, with group commit
	r      *sql.DB // readers (query_only)
	rstmts *stmtCache
	closed atomic.Bool

	mu     sync.RWMutex
	tables map[string]bool // collections whose table exists (committed)
	// arrays records, per collection, the paths that have ever held an
	// array. Filters on other paths skip the array-element branch, which
	// keeps them usable by expression indexes. It may over-approximate
	// (a path noted by a write that then rolled back), never under.
	arrays map[string]*arrayPaths
}

var _ store.DB = (*DB)(nil)

// The adapter's own tables. Their names start with "_sb_"; collection
// tables with "c_", so the two never meet.
const schema = `
CREATE TABLE IF NOT EXISTS _sb_collections (name TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS _sb_seq (coll TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS _sb_arrays (coll TEXT NOT NULL, path TEXT NOT NULL, PRIMARY KEY (coll, path)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS _sb_indexes (coll TEXT NOT NULL, name TEXT NOT NULL, def TEXT NOT NULL, PRIMARY KEY (coll, name)) WITHOUT ROWID;
`

func openDB(ctx context.Context, p *Provider, name, path string) (*DB, error) {
	// Create the file with owner-only permissions before SQLite opens it;
	// SQLite gives its -wal and -shm files the same mode.
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", name, err)
	}
	f.Close()
	db := &DB{p: p, name: name, tables: map[string]bool{}, arrays: map[string]*arrayPaths{}}
	wpool := openPool(p.driver, path, p.opts, false, 1)
	if db.w, err = newWriter(ctx, wpool, p.opts.StmtCache, p.opts.MaxBatch, db.wrap); err != nil {
		wpool.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", name, err)
	}
	db.r = openPool(p.driver, path, p.opts, true, p.opts.ReadConns)
	db.rstmts = newStmtCache(db.r.PrepareContext, p.opts.StmtCache)
	if err := db.load(ctx); err != nil {
		db.close()
		return nil, err
	}
	return db, nil
}

// load creates the adapter's tables and reads what it keeps in memory.
func (db *DB) load(ctx context.Context) error {
	w := db.w.conn
	if _, err := w.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("sqlite: prepare %s: %w", db.name, err)
	}
	rows, err := w.QueryContext(ctx, "SELECT name FROM _sb_collections")
	if err != nil {
		return fmt.Errorf("sqlite: list collections of %s: %w", db.name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return fmt.Errorf("sqlite: list collections of %s: %w", db.name, err)
		}
		db.tables[c] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: list collections of %s: %w", db.name, err)
	}
	return db.loadArrays(ctx)
}

func (db *DB) close() {
	db.closed.Store(true)
	db.w.close()
	db.rstmts.close()
	db.r.Close()
}

// usable fails once the database or its provider is closed.
func (db *DB) usable() error {
	if db.closed.Load() || db.p.isClosed() {
		return store.ErrClosed
	}
	return nil
}

// Name returns the database name.
func (db *DB) Name() string { return db.name }

// Collection returns the named collection.
func (db *DB) Collection(name string) store.Collection {
	return &Collection{db: db, name: name, table: tableName(name), nameErr: store.ValidCollectionName(name)}
}

// Collections lists the collections that exist.
func (db *DB) Collections(ctx context.Context) ([]string, error) {
	if err := db.usable(); err != nil {
		return nil, err
	}
	db.mu.RLock()
	defer db.mu.RUnlock()
	out := make([]string, 0, len(db.tables))
	for c := range db.tables {
		out = append(out, c)
	}
	sort.Strings(out)
	return out, nil
}

// DropCollection deletes a collection's table, indexes and array paths.
// Its _seq counter stays, so that a collection created again under the
// same name never reuses a _seq a reader may have seen.
func (db *DB) DropCollection(ctx context.Context, name string) error {
	if err := store.ValidCollectionName(name); err != nil {
		return err
	}
	if err := db.usable(); err != nil {
		return err
	}
	return db.w.do(ctx, true, func(w *wtx) error {
		steps := []struct {
			q    string
			args []any
		}{
			{"DROP TABLE IF EXISTS " + tableName(name), nil},
			{"DELETE FROM _sb_collections WHERE name = ?", []any{name}},
			{"DELETE FROM _sb_indexes WHERE coll = ?", []any{name}},
			{"DELETE FROM _sb_arrays WHERE coll = ?", []any{name}},
		}
		for _, s := range steps {
			if err := w.execScript(s.q, s.args...); err != nil {
				return db.wrap(err)
			}
		}
		w.onCommit(func() {
			db.mu.Lock()
			delete(db.tables, name)
			delete(db.arrays, name)
			db.mu.Unlock()
		})
		return nil
	})
}

// hasTable reports whether the collection's table exists.
func (db *DB) hasTable(name string) bool {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return db.tables[name]
}

// ensureTable creates the collection's table inside w when missing.
func (db *DB) ensureTable(w *wtx, name string) error {
	if w.b.created[name] || db.hasTable(name) {
		return nil
	}
	t := tableName(name)
	q := "CREATE TABLE IF NOT EXISTS " + t + " (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, doc TEXT NOT NULL) WITHOUT ROWID;" +
		"CREATE UNIQUE INDEX IF NOT EXISTS " + seqIndexName(name) + " ON " + t + " (seq);"
	if err := w.execScript(q); err != nil {
		return db.wrap(err)
	}
	if err := w.execScript("INSERT OR IGNORE INTO _sb_collections (name) VALUES (?)", name); err != nil {
		return db.wrap(err)
	}
	w.b.created[name] = true
	w.created = append(w.created, name)
	w.onCommit(func() {
		db.mu.Lock()
		db.tables[name] = true
		db.mu.Unlock()
	})
	return nil
}

// SQLite compares identifiers without regard to ASCII case, and index
// names share one namespace per file; collection and index names are
// case-sensitive and per collection. So names are encoded: an upper-case
// letter X becomes "^x", and ':' (in neither kind of name) separates a
// collection from its index.
func encodeName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			b.WriteByte('^')
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}

func tableName(coll string) string    { return quoteIdent("c_" + encodeName(coll)) }
func seqIndexName(coll string) string { return quoteIdent("s_" + encodeName(coll)) }
func indexName(coll, idx string) string {
	return quoteIdent("x_" + encodeName(coll) + ":" + encodeName(idx))
}

// quoteIdent quotes an SQL identifier. Collection and index names are
// validated to letters, digits, '_' and '-', so no quote can occur;
// doubling is a second line of defence.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// wrap maps driver errors onto the store's sentinels.
func (db *DB) wrap(err error) error {
	if err == nil {
		return nil
	}
	if db.closed.Load() || db.p.isClosed() || errors.Is(err, sql.ErrConnDone) || strings.Contains(err.Error(), "sql: database is closed") {
		return fmt.Errorf("%w: %v", store.ErrClosed, err)
	}
	var se *msqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %v", store.ErrDuplicate, err)
		}
	}
	return fmt.Errorf("sqlite %s: %w", db.name, err)
}

// missingTable reports whether err says a table is gone: a read that
// raced with DropCollection.
func missingTable(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no such table")
}
