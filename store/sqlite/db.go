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

	"github.com/skybridgehq/skybridge/store"
)

// DB is one SQLite database file.
type DB struct {
	p    *Provider
	name string
	w    *sql.DB // one connection: SQLite has one writer
	r    *sql.DB // readers (query_only)

	mu     sync.RWMutex
	tables map[string]bool // collections whose table exists
	// arrays records, per collection, the paths that have ever held an
	// array. Filters on other paths skip the array-element branch, which
	// keeps them usable by expression indexes. It may over-approximate
	// (a path noted by a write that then rolled back), never under.
	arrays map[string]map[string]bool
}

var _ store.DB = (*DB)(nil)

const schema = `
CREATE TABLE IF NOT EXISTS _sb_collections (name TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS _sb_seq (coll TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS _sb_arrays (coll TEXT NOT NULL, path TEXT NOT NULL, PRIMARY KEY (coll, path)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS _sb_indexes (coll TEXT NOT NULL, name TEXT NOT NULL, def TEXT NOT NULL, PRIMARY KEY (coll, name)) WITHOUT ROWID;
`

func openDB(ctx context.Context, p *Provider, name, path string) (*DB, error) {
	// Create the file with owner-only permissions before SQLite opens it.
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", name, err)
	}
	f.Close()
	w, err := openPool(path, p.opts.BusyTimeout, false, 1)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", name, err)
	}
	if _, err := w.ExecContext(ctx, schema); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: prepare %s: %w", name, err)
	}
	r, err := openPool(path, p.opts.BusyTimeout, true, p.opts.ReadConns)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", name, err)
	}
	db := &DB{p: p, name: name, w: w, r: r, tables: map[string]bool{}, arrays: map[string]map[string]bool{}}
	if err := db.loadArrays(ctx); err != nil {
		db.close()
		return nil, err
	}
	rows, err := w.QueryContext(ctx, "SELECT name FROM _sb_collections")
	if err != nil {
		db.close()
		return nil, fmt.Errorf("sqlite: list collections of %s: %w", name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			db.close()
			return nil, err
		}
		db.tables[c] = true
	}
	return db, rows.Err()
}

func (db *DB) close() {
	db.w.Close()
	db.r.Close()
}

// Name returns the database name.
func (db *DB) Name() string { return db.name }

// Collection returns the named collection.
func (db *DB) Collection(name string) store.Collection {
	return &Collection{db: db, name: name, table: tableName(name), nameErr: store.ValidCollectionName(name)}
}

// Collections lists the collections that exist.
func (db *DB) Collections(ctx context.Context) ([]string, error) {
	if db.p.isClosed() {
		return nil, store.ErrClosed
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

// DropCollection deletes a collection's table, counter and indexes.
func (db *DB) DropCollection(ctx context.Context, name string) error {
	if err := store.ValidCollectionName(name); err != nil {
		return err
	}
	if db.p.isClosed() {
		return store.ErrClosed
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return wrap(err)
	}
	defer tx.Rollback()
	stmts := []struct {
		q    string
		args []any
	}{
		{"DROP TABLE IF EXISTS " + tableName(name), nil},
		{"DELETE FROM _sb_collections WHERE name = ?", []any{name}},
		{"DELETE FROM _sb_indexes WHERE coll = ?", []any{name}},
		{"DELETE FROM _sb_arrays WHERE coll = ?", []any{name}},
	}
	// The _seq counter stays, so that a collection created again under the
	// same name never reuses a _seq a reader may have seen.
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s.q, s.args...); err != nil {
			return wrap(err)
		}
	}
	if err := tx.Commit(); err != nil {
		return wrap(err)
	}
	delete(db.tables, name)
	delete(db.arrays, name)
	return nil
}

func (db *DB) loadArrays(ctx context.Context) error {
	rows, err := db.w.QueryContext(ctx, "SELECT coll, path FROM _sb_arrays")
	if err != nil {
		return fmt.Errorf("sqlite: read array paths of %s: %w", db.name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var coll, path string
		if err := rows.Scan(&coll, &path); err != nil {
			return err
		}
		if db.arrays[coll] == nil {
			db.arrays[coll] = map[string]bool{}
		}
		db.arrays[coll][path] = true
	}
	return rows.Err()
}

// hasArrays returns a function telling whether a path of coll has ever
// held an array.
func (db *DB) hasArrays(coll string) func(path string) bool {
	return func(path string) bool {
		db.mu.RLock()
		defer db.mu.RUnlock()
		return db.arrays[coll][path]
	}
}

// noteArrays records, inside tx, the array paths of doc not yet known.
func (db *DB) noteArrays(ctx context.Context, tx *sql.Tx, coll string, doc map[string]any) error {
	found := map[string]bool{}
	arrayPaths(doc, "", 0, found)
	if len(found) == 0 {
		return nil
	}
	db.mu.Lock()
	known := db.arrays[coll]
	if known == nil {
		known = map[string]bool{}
		db.arrays[coll] = known
	}
	var fresh []string
	for p := range found {
		if !known[p] {
			known[p] = true // before commit: over-approximating is safe
			fresh = append(fresh, p)
		}
	}
	db.mu.Unlock()
	for _, p := range fresh {
		if _, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO _sb_arrays (coll, path) VALUES (?, ?)", coll, p); err != nil {
			return wrap(err)
		}
	}
	return nil
}

// arrayPaths collects the dotted paths of doc whose values are arrays.
func arrayPaths(doc map[string]any, prefix string, depth int, out map[string]bool) {
	if depth >= store.MaxPathDepth {
		return
	}
	for k, v := range doc {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		switch x := v.(type) {
		case []any:
			out[p] = true
		case map[string]any:
			arrayPaths(x, p, depth+1, out)
		}
	}
}

// hasTable reports whether the collection's table exists.
func (db *DB) hasTable(name string) bool {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return db.tables[name]
}

// ensureTable creates the collection's table inside tx when missing. The
// caller holds the writer connection (tx), so creations are serialized.
func (db *DB) ensureTable(ctx context.Context, tx *sql.Tx, name string) (created bool, err error) {
	if db.hasTable(name) {
		return false, nil
	}
	t := tableName(name)
	q := "CREATE TABLE IF NOT EXISTS " + t + " (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, doc TEXT NOT NULL) WITHOUT ROWID;" +
		"CREATE UNIQUE INDEX IF NOT EXISTS " + quoteIdent("sq_"+name) + " ON " + t + " (seq);"
	if _, err := tx.ExecContext(ctx, q); err != nil {
		return false, wrap(err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO _sb_collections (name) VALUES (?)", name); err != nil {
		return false, wrap(err)
	}
	return true, nil
}

// markTable records a table created by a committed transaction.
func (db *DB) markTable(name string) {
	db.mu.Lock()
	db.tables[name] = true
	db.mu.Unlock()
}

func tableName(coll string) string { return quoteIdent("c_" + coll) }

// quoteIdent quotes an SQL identifier. Collection names are validated to
// letters, digits, '_' and '-', so no quote can occur; doubling is a second
// line of defence.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// wrap maps SQLite errors onto the store's sentinels.
func wrap(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrConnDone) || strings.Contains(err.Error(), "sql: database is closed") {
		return store.ErrClosed
	}
	msg := err.Error()
	if strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "constraint failed: UNIQUE") {
		return fmt.Errorf("%w: %v", store.ErrDuplicate, err)
	}
	return fmt.Errorf("sqlite: %w", err)
}
