package client

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	_ "modernc.org/sqlite" // the local store's SQL engine (pure Go)
)

// local is the client's on-device store: one SQLite file with the
// documents of every synced collection, their sync state and the
// collections' checkpoints.
type local struct {
	db   *sql.DB
	conn querier // db, or the transaction of inTx
}

// querier is what local reads and writes through: the database or one
// transaction.
type querier interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// inTx runs fn on a local bound to one transaction: a pulled page is
// stored in one commit.
func (l *local) inTx(ctx context.Context, fn func(*local) error) error {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(&local{db: l.db, conn: tx}); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// row is one local document and its sync state.
type row struct {
	col, id string
	doc     map[string]any // user fields; nil for a deletion
	deleted bool
	// base is the server _v the local content derives from (0: never
	// seen by the server).
	base int64
	// dirty marks a local change not yet acknowledged; changeID names it.
	dirty      bool
	changeID   string
	clientTime string
}

const schema = `
CREATE TABLE IF NOT EXISTS docs (
  col TEXT NOT NULL, id TEXT NOT NULL, doc TEXT, deleted INTEGER NOT NULL,
  base INTEGER NOT NULL, dirty INTEGER NOT NULL, change_id TEXT NOT NULL, client_time TEXT NOT NULL,
  PRIMARY KEY (col, id));
CREATE TABLE IF NOT EXISTS checkpoints (col TEXT PRIMARY KEY, checkpoint TEXT NOT NULL);`

func openLocal(ctx context.Context, path string) (*local, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("sync client: open %s: %w", path, err)
	}
	return &local{db: db, conn: db}, nil
}

func (l *local) close() error { return l.db.Close() }

func (l *local) get(ctx context.Context, col, id string) (row, bool, error) {
	r := row{col: col, id: id}
	var doc sql.NullString
	var deleted, dirty int
	err := l.conn.QueryRowContext(ctx, `SELECT doc, deleted, base, dirty, change_id, client_time FROM docs WHERE col=? AND id=?`, col, id).
		Scan(&doc, &deleted, &r.base, &dirty, &r.changeID, &r.clientTime)
	if errors.Is(err, sql.ErrNoRows) {
		return row{}, false, nil
	}
	if err != nil {
		return row{}, false, err
	}
	r.deleted, r.dirty = deleted != 0, dirty != 0
	if doc.Valid {
		if err := json.Unmarshal([]byte(doc.String), &r.doc); err != nil {
			return row{}, false, err
		}
	}
	return r, true, nil
}

func (l *local) put(ctx context.Context, r row) error {
	var doc any
	if r.doc != nil && !r.deleted {
		b, err := json.Marshal(r.doc)
		if err != nil {
			return err
		}
		doc = string(b)
	}
	_, err := l.conn.ExecContext(ctx, `INSERT INTO docs (col, id, doc, deleted, base, dirty, change_id, client_time) VALUES (?,?,?,?,?,?,?,?)
ON CONFLICT (col, id) DO UPDATE SET doc=excluded.doc, deleted=excluded.deleted, base=excluded.base, dirty=excluded.dirty,
change_id=excluded.change_id, client_time=excluded.client_time`,
		r.col, r.id, doc, b2i(r.deleted), r.base, b2i(r.dirty), r.changeID, r.clientTime)
	return err
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// rows returns the rows of col; dirtyOnly keeps the unacknowledged ones.
func (l *local) rows(ctx context.Context, col string, dirtyOnly bool) ([]row, error) {
	q := `SELECT id FROM docs WHERE col=?`
	if dirtyOnly {
		q += ` AND dirty=1`
	}
	rs, err := l.conn.QueryContext(ctx, q+` ORDER BY id`, col)
	if err != nil {
		return nil, err
	}
	var ids []string
	for rs.Next() {
		var id string
		if err := rs.Scan(&id); err != nil {
			rs.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return nil, err
	}
	out := make([]row, 0, len(ids))
	for _, id := range ids {
		r, ok, err := l.get(ctx, col, id)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// dropClean removes the acknowledged rows of col (before a resync).
func (l *local) dropClean(ctx context.Context, col string) error {
	_, err := l.conn.ExecContext(ctx, `DELETE FROM docs WHERE col=? AND dirty=0`, col)
	return err
}

func (l *local) checkpoint(ctx context.Context, col string) (string, error) {
	var cp string
	err := l.conn.QueryRowContext(ctx, `SELECT checkpoint FROM checkpoints WHERE col=?`, col).Scan(&cp)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return cp, err
}

func (l *local) setCheckpoint(ctx context.Context, col, cp string) error {
	_, err := l.conn.ExecContext(ctx, `INSERT INTO checkpoints (col, checkpoint) VALUES (?,?) ON CONFLICT (col) DO UPDATE SET checkpoint=excluded.checkpoint`, col, cp)
	return err
}
