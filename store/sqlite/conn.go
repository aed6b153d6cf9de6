package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"net/url"
	"path/filepath"

	msqlite "modernc.org/sqlite"
)

// newDriver returns a modernc.org/sqlite driver of our own, so that the
// SQL functions we add reach only our connections and are registered
// before any of them opens (the package-level registry is shared with
// every other user of modernc.org/sqlite in the process).
func newDriver() (*msqlite.Driver, error) {
	drv := &msqlite.Driver{}
	re := newRegexpCache(regexpCacheSize)
	if err := drv.RegisterDeterministicScalarFunction("sb_regexp", 2, re.sqlFunc); err != nil {
		return nil, fmt.Errorf("sqlite: register sb_regexp: %w", err)
	}
	return drv, nil
}

// connector opens connections of one DSN through our driver.
type connector struct {
	drv *msqlite.Driver
	dsn string
}

func (c connector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }
func (c connector) Driver() driver.Driver                        { return c.drv }

// dsn builds the connection string: a file: URI (so that any character
// of the path is escaped) with the pragmas every connection needs.
// Readers are query_only; the writer issues BEGIN IMMEDIATE itself
// (writer.go).
func dsn(path string, o Options, readOnly bool) string {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path)}
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(o.BusyTimeout.Milliseconds()))
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "NORMAL")
	q.Set("_foreign_keys", "0")
	q.Add("_pragma", fmt.Sprintf("cache_size(%d)", -o.CacheSizeKiB))
	q.Add("_pragma", "temp_store(MEMORY)")
	if readOnly {
		q.Set("_query_only", "1")
	}
	return u.String() + "?" + q.Encode()
}

// openPool opens a pool of at most conns connections that never expire.
func openPool(drv *msqlite.Driver, path string, o Options, readOnly bool, conns int) *sql.DB {
	db := sql.OpenDB(connector{drv: drv, dsn: dsn(path, o, readOnly)})
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	return db
}
