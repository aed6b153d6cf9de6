// Package sqlite is the default store adapter: SQLite through
// modernc.org/sqlite (pure Go, no cgo), one file per database under a
// directory, in WAL mode with one writer connection and a pool of readers.
//
// Each collection is a table of (id, seq, doc) rows, doc holding the whole
// JSON document. A write takes its _seq from a per-database counter table
// inside the same transaction that writes the row; SQLite has one writer,
// so commit order is _seq order and the change feed is gap-free by
// construction.
package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// Options configure the provider.
type Options struct {
	// Dir holds one <name>.db file per database. Required.
	Dir string
	// BusyTimeout is how long a connection waits for a lock. Default: 5s.
	BusyTimeout time.Duration
	// ReadConns is the size of each database's reader pool.
	// Default: max(4, GOMAXPROCS).
	ReadConns int
}

func (o Options) withDefaults() Options {
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = 5 * time.Second
	}
	if o.ReadConns <= 0 {
		o.ReadConns = max(4, runtime.GOMAXPROCS(0))
	}
	return o
}

// Provider opens the SQLite databases under one directory.
type Provider struct {
	opts   Options
	mu     sync.Mutex
	dbs    map[string]*DB
	closed bool
}

var _ store.Provider = (*Provider)(nil)

// Open prepares the directory. Databases are opened on first use.
func Open(opts Options) (*Provider, error) {
	opts = opts.withDefaults()
	if opts.Dir == "" {
		return nil, fmt.Errorf("%w: sqlite: Options.Dir is required", store.ErrInvalid)
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: create %s: %w", opts.Dir, err)
	}
	registerFunctions()
	return &Provider{opts: opts, dbs: map[string]*DB{}}, nil
}

// Kind returns "sqlite".
func (p *Provider) Kind() string { return "sqlite" }

// DB opens (creating on first use) the database file <Dir>/<name>.db.
func (p *Provider) DB(ctx context.Context, name string) (store.DB, error) {
	return p.db(ctx, name)
}

func (p *Provider) db(ctx context.Context, name string) (*DB, error) {
	if err := store.ValidDBName(name); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, store.ErrClosed
	}
	if db, ok := p.dbs[name]; ok {
		return db, nil
	}
	db, err := openDB(ctx, p, name, filepath.Join(p.opts.Dir, name+".db"))
	if err != nil {
		return nil, err
	}
	p.dbs[name] = db
	return db, nil
}

// DropDB closes and deletes a database's files.
func (p *Provider) DropDB(ctx context.Context, name string) error {
	if err := store.ValidDBName(name); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return store.ErrClosed
	}
	if db, ok := p.dbs[name]; ok {
		db.close()
		delete(p.dbs, name)
	}
	path := filepath.Join(p.opts.Dir, name+".db")
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("sqlite: drop %s: %w", name, err)
		}
	}
	return nil
}

// Ping checks that the system database answers a query.
func (p *Provider) Ping(ctx context.Context) error {
	db, err := p.db(ctx, store.SystemDB)
	if err != nil {
		return err
	}
	var one int
	if err := db.r.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Close closes every database. Later calls fail with store.ErrClosed.
func (p *Provider) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	for _, db := range p.dbs {
		db.close()
	}
	p.dbs = nil
	return nil
}

func (p *Provider) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// dsn builds a connection string with the pragmas every connection needs.
func dsn(path string, busy time.Duration, readOnly bool) string {
	s := "file:" + filepath.ToSlash(path) +
		fmt.Sprintf("?_pragma=busy_timeout(%d)", busy.Milliseconds()) +
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(0)" +
		"&_pragma=cache_size(-16000)&_pragma=temp_store(MEMORY)"
	if readOnly {
		return s + "&_pragma=query_only(1)"
	}
	return s + "&_txlock=immediate"
}

func openPool(path string, busy time.Duration, readOnly bool, conns int) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn(path, busy, readOnly))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	return db, nil
}
