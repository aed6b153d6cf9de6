// Package sqlite is the default store adapter: SQLite through
// modernc.org/sqlite (pure Go, no cgo), one file per database under a
// directory, in WAL mode with one writer connection and a pool of readers.
//
// Each collection is a table of (id, seq, doc) rows, doc holding the whole
// JSON document. A write takes its _seq from a per-database counter table
// inside the same transaction that writes the row; SQLite has one writer,
// so commit order is _seq order and the change feed is gap-free by
// construction. Concurrent writes are grouped into one transaction (group
// commit, see writer.go), each in its own savepoint, so that many small
// writes share one WAL append.
package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	msqlite "modernc.org/sqlite"

	"github.com/skybridgehq/skybridge/store"
)

// Options configure the provider. The zero value of every field but Dir
// means its default.
type Options struct {
	// Dir holds one <name>.db file per database; it is created with mode
	// 0700 when missing, and database files with mode 0600. Required.
	Dir string
	// BusyTimeout is how long a connection waits for a lock held by
	// another process. Default: 5s.
	BusyTimeout time.Duration
	// ReadConns is the size of each database's reader pool.
	// Default: max(4, GOMAXPROCS).
	ReadConns int
	// CacheSizeKiB is SQLite's page cache per connection, in KiB.
	// Default: 16384 (16 MiB).
	CacheSizeKiB int
	// MaxBatch caps how many concurrent writes share one transaction.
	// Default: 128.
	MaxBatch int
	// StmtCache caps the prepared statements kept per connection pool.
	// Default: 256.
	StmtCache int
}

func (o Options) withDefaults() Options {
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = 5 * time.Second
	}
	if o.ReadConns <= 0 {
		o.ReadConns = max(4, runtime.GOMAXPROCS(0))
	}
	if o.CacheSizeKiB <= 0 {
		o.CacheSizeKiB = 16384
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 128
	}
	if o.StmtCache <= 0 {
		o.StmtCache = 256
	}
	return o
}

// Provider opens the SQLite databases under one directory.
type Provider struct {
	opts   Options
	driver *msqlite.Driver // private: carries sb_regexp, reaches no other package

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
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("sqlite: data directory %q: %w", opts.Dir, err)
	}
	opts.Dir = dir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: create %s: %w", dir, err)
	}
	drv, err := newDriver()
	if err != nil {
		return nil, err
	}
	return &Provider{opts: opts, driver: drv, dbs: map[string]*DB{}}, nil
}

// Kind returns "sqlite".
func (p *Provider) Kind() string { return "sqlite" }

// DB opens (creating on first use) the database file <Dir>/<name>.db.
func (p *Provider) DB(ctx context.Context, name string) (store.DB, error) {
	return p.db(ctx, name)
}

func (p *Provider) db(ctx context.Context, name string) (*DB, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, store.ErrClosed
	}
	if db, ok := p.dbs[name]; ok {
		return db, nil // only valid names get in: checked once, below
	}
	if err := store.ValidDBName(name); err != nil {
		return nil, err
	}
	db, err := openDB(ctx, p, name, p.path(name))
	if err != nil {
		return nil, err
	}
	p.dbs[name] = db
	return db, nil
}

func (p *Provider) path(name string) string { return filepath.Join(p.opts.Dir, name+".db") }

// DropDB closes and deletes a database's files. Dropping a database that
// does not exist is not an error.
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
	path := p.path(name)
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("sqlite: drop %s: %w", name, err)
		}
	}
	return nil
}

// Ping checks that the system database file answers a query.
func (p *Provider) Ping(ctx context.Context) error {
	db, err := p.db(ctx, store.SystemDB)
	if err != nil {
		return err
	}
	var n int
	if err := db.r.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
		return fmt.Errorf("sqlite: ping: %w", db.wrap(err))
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
