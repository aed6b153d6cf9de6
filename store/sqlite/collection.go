package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// Collection is one table of JSON documents.
type Collection struct {
	db      *DB
	name    string
	table   string
	nameErr error
}

var _ store.Collection = (*Collection)(nil)

// Name returns the collection name.
func (c *Collection) Name() string { return c.name }

func (c *Collection) usable() error {
	if c.nameErr != nil {
		return c.nameErr
	}
	if c.db.p.isClosed() {
		return store.ErrClosed
	}
	return nil
}

// write runs fn in the database's single write transaction, creating the
// table first when needed, and commits.
func (c *Collection) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if err := c.usable(); err != nil {
		return err
	}
	tx, err := c.db.w.BeginTx(ctx, nil)
	if err != nil {
		return wrap(err)
	}
	defer tx.Rollback()
	created, err := c.db.ensureTable(ctx, tx, c.name)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return wrap(err)
	}
	if created {
		c.db.markTable(c.name)
	}
	return nil
}

// nextSeq takes the collection's next _seq inside tx and calls the commit
// hook, if any, with it.
func (c *Collection) nextSeq(ctx context.Context, tx *sql.Tx) (int64, error) {
	var seq int64
	err := tx.QueryRowContext(ctx,
		"INSERT INTO _sb_seq (coll, seq) VALUES (?, 1) ON CONFLICT (coll) DO UPDATE SET seq = seq + 1 RETURNING seq",
		c.name).Scan(&seq)
	if err != nil {
		return 0, wrap(err)
	}
	return seq, nil
}

func (c *Collection) hook(ctx context.Context, seq int64) error {
	if h := store.CommitHookFrom(ctx); h != nil {
		return h(c.name, seq)
	}
	return nil
}

// adapterFields are the system fields the adapter stamps.
var adapterFields = []string{store.FieldVersion, store.FieldSeq, store.FieldCreatedAt, store.FieldUpdatedAt}

// prepare copies and checks a caller's document.
func prepare(doc store.Doc) (store.Doc, error) {
	if err := store.CheckDocument(doc); err != nil {
		return nil, err
	}
	d, _ := store.Normalize(map[string]any(doc)).(map[string]any)
	if d == nil {
		d = store.Doc{}
	}
	for _, f := range adapterFields {
		delete(d, f)
	}
	return d, nil
}

// Insert stores a new document.
func (c *Collection) Insert(ctx context.Context, doc store.Doc) (store.Doc, error) {
	d, err := prepare(doc)
	if err != nil {
		return nil, err
	}
	switch id := d[store.FieldID].(type) {
	case nil:
		d[store.FieldID] = store.NewID()
	case string:
		if id == "" {
			d[store.FieldID] = store.NewID()
		} else if len(id) > 512 {
			return nil, fmt.Errorf("%w: _id longer than 512 bytes", store.ErrInvalid)
		}
	default:
		return nil, fmt.Errorf("%w: _id must be a string", store.ErrInvalid)
	}
	now := store.FormatTime(time.Now())
	err = c.write(ctx, func(tx *sql.Tx) error {
		seq, err := c.nextSeq(ctx, tx)
		if err != nil {
			return err
		}
		d[store.FieldVersion], d[store.FieldSeq] = int64(1), seq
		d[store.FieldCreatedAt], d[store.FieldUpdatedAt] = now, now
		body, err := json.Marshal(d)
		if err != nil {
			return fmt.Errorf("%w: %v", store.ErrInvalid, err)
		}
		if err := c.db.noteArrays(ctx, tx, c.name, d); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO "+c.table+" (id, seq, doc) VALUES (?, ?, ?)", d[store.FieldID], seq, string(body)); err != nil {
			return wrap(err)
		}
		return c.hook(ctx, seq)
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// Get returns one document.
func (c *Collection) Get(ctx context.Context, id string) (store.Doc, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	if !c.db.hasTable(c.name) {
		return nil, store.ErrNotFound
	}
	var body string
	err := c.db.r.QueryRowContext(ctx, "SELECT doc FROM "+c.table+" WHERE id = ?", id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, wrap(err)
	}
	return decode(body)
}

// current reads a document inside the write transaction.
func (c *Collection) current(ctx context.Context, tx *sql.Tx, id string, version int64) (store.Doc, error) {
	var body string
	err := tx.QueryRowContext(ctx, "SELECT doc FROM "+c.table+" WHERE id = ?", id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, wrap(err)
	}
	cur, err := decode(body)
	if err != nil {
		return nil, err
	}
	if version != 0 && store.DocVersion(cur) != version {
		return nil, fmt.Errorf("%w: %s/%s is at _v %d, not %d", store.ErrVersionConflict, c.name, id, store.DocVersion(cur), version)
	}
	return cur, nil
}

// rewrite stores next as the new content of cur's document.
func (c *Collection) rewrite(ctx context.Context, tx *sql.Tx, cur, next store.Doc) error {
	seq, err := c.nextSeq(ctx, tx)
	if err != nil {
		return err
	}
	next[store.FieldID] = cur[store.FieldID]
	next[store.FieldCreatedAt] = cur[store.FieldCreatedAt]
	next[store.FieldVersion] = store.DocVersion(cur) + 1
	next[store.FieldSeq] = seq
	next[store.FieldUpdatedAt] = store.FormatTime(time.Now())
	body, err := json.Marshal(next)
	if err != nil {
		return fmt.Errorf("%w: %v", store.ErrInvalid, err)
	}
	if err := c.db.noteArrays(ctx, tx, c.name, next); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE "+c.table+" SET seq = ?, doc = ? WHERE id = ?", seq, string(body), cur[store.FieldID]); err != nil {
		return wrap(err)
	}
	return c.hook(ctx, seq)
}

// Replace writes a whole new content, guarded by version.
func (c *Collection) Replace(ctx context.Context, id string, version int64, doc store.Doc) (store.Doc, error) {
	d, err := prepare(doc)
	if err != nil {
		return nil, err
	}
	if err := c.usable(); err != nil {
		return nil, err
	}
	if !c.db.hasTable(c.name) {
		return nil, store.ErrNotFound
	}
	err = c.write(ctx, func(tx *sql.Tx) error {
		cur, err := c.current(ctx, tx, id, version)
		if err != nil {
			return err
		}
		return c.rewrite(ctx, tx, cur, d)
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// Update applies Set and Inc, guarded by version.
func (c *Collection) Update(ctx context.Context, id string, version int64, u store.Update) (store.Doc, error) {
	if err := checkUpdate(u); err != nil {
		return nil, err
	}
	if err := c.usable(); err != nil {
		return nil, err
	}
	if !c.db.hasTable(c.name) {
		return nil, store.ErrNotFound
	}
	var out store.Doc
	err := c.write(ctx, func(tx *sql.Tx) error {
		cur, err := c.current(ctx, tx, id, version)
		if err != nil {
			return err
		}
		next, err := applyUpdate(cur, u)
		if err != nil {
			return err
		}
		if err := c.rewrite(ctx, tx, cur, next); err != nil {
			return err
		}
		out = next
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Delete removes a document for good, guarded by version.
func (c *Collection) Delete(ctx context.Context, id string, version int64) error {
	if err := c.usable(); err != nil {
		return err
	}
	if !c.db.hasTable(c.name) {
		return store.ErrNotFound
	}
	return c.write(ctx, func(tx *sql.Tx) error {
		if _, err := c.current(ctx, tx, id, version); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM "+c.table+" WHERE id = ?", id)
		return wrap(err)
	})
}

// Find runs a query with keyset pagination.
func (c *Collection) Find(ctx context.Context, q store.Query) (store.Page, error) {
	if err := c.usable(); err != nil {
		return store.Page{}, err
	}
	if err := store.ValidateSort(q.Sort); err != nil {
		return store.Page{}, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = store.DefaultLimit
	}
	limit = min(limit, store.MaxLimit)
	f := q.Filter
	ks, err := store.KeysetFilter(q.Sort, q.Cursor)
	if err != nil {
		return store.Page{}, err
	}
	if ks != nil {
		if f == nil {
			f = ks
		} else {
			f = store.And{Filters: []store.Filter{f, ks}}
		}
	}
	where, args, err := compileFilter(f, c.db.hasArrays(c.name))
	if err != nil {
		return store.Page{}, err
	}
	if !c.db.hasTable(c.name) {
		return store.Page{Docs: []store.Doc{}}, nil
	}
	query := "SELECT doc FROM " + c.table + " WHERE " + where + " ORDER BY " + orderBy(q.Sort) + " LIMIT ?"
	docs, err := c.query(ctx, query, append(args, limit+1)...)
	if err != nil {
		return store.Page{}, err
	}
	page := store.Page{Docs: docs}
	if len(docs) > limit {
		page.Docs = docs[:limit]
		page.Cursor = store.MakeCursor(q.Sort, page.Docs[limit-1])
	}
	return page, nil
}

func (c *Collection) query(ctx context.Context, query string, args ...any) ([]store.Doc, error) {
	rows, err := c.db.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	docs := []store.Doc{}
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, wrap(err)
		}
		d, err := decode(body)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d)
	}
	return docs, wrap(rows.Err())
}

// Count counts matching documents.
func (c *Collection) Count(ctx context.Context, f store.Filter) (int64, error) {
	if err := c.usable(); err != nil {
		return 0, err
	}
	where, args, err := compileFilter(f, c.db.hasArrays(c.name))
	if err != nil {
		return 0, err
	}
	if !c.db.hasTable(c.name) {
		return 0, nil
	}
	var n int64
	err = c.db.r.QueryRowContext(ctx, "SELECT count(*) FROM "+c.table+" WHERE "+where, args...).Scan(&n)
	return n, wrap(err)
}

// Changes returns documents above a _seq in _seq order.
func (c *Collection) Changes(ctx context.Context, after int64, limit int) ([]store.Doc, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = store.DefaultLimit
	}
	if !c.db.hasTable(c.name) {
		return []store.Doc{}, nil
	}
	return c.query(ctx, "SELECT doc FROM "+c.table+" WHERE seq > ? ORDER BY seq LIMIT ?", after, min(limit, store.MaxLimit))
}

// LastSeq returns the collection's last committed _seq.
func (c *Collection) LastSeq(ctx context.Context) (int64, error) {
	if err := c.usable(); err != nil {
		return 0, err
	}
	var seq int64
	err := c.db.r.QueryRowContext(ctx, "SELECT seq FROM _sb_seq WHERE coll = ?", c.name).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return seq, wrap(err)
}

func decode(body string) (store.Doc, error) {
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("sqlite: corrupt document: %w", err)
	}
	d, _ := store.Normalize(m).(map[string]any)
	return d, nil
}
