package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// Collection is one table of JSON documents.
type Collection struct {
	db      *DB
	name    string
	table   string // quoted table name
	nameErr error
}

var _ store.Collection = (*Collection)(nil)

// Name returns the collection name.
func (c *Collection) Name() string { return c.name }

func (c *Collection) usable() error {
	if c.nameErr != nil {
		return c.nameErr
	}
	return c.db.usable()
}

// maxIDLen bounds client-chosen ids.
const maxIDLen = 512

// nextSeq takes the collection's next _seq inside w.
func (c *Collection) nextSeq(w *wtx) (int64, error) { return c.takeSeqs(w, 1) }

// takeSeqs allocates n consecutive _seq values in one statement and
// returns the highest; the batch owns last-n+1 to last.
func (c *Collection) takeSeqs(w *wtx, n int) (int64, error) {
	row, err := w.queryRow("INSERT INTO _sb_seq (coll, seq) VALUES (?1, ?2) ON CONFLICT (coll) DO UPDATE SET seq = seq + ?2 RETURNING seq", c.name, int64(n))
	if err != nil {
		return 0, c.db.wrap(err)
	}
	var seq int64
	if err := row.Scan(&seq); err != nil {
		return 0, c.db.wrap(err)
	}
	return seq, nil
}

// hook calls the commit hook of the write's context, if any: after the
// write took its _seq, before it commits.
func (c *Collection) hook(w *wtx, seq int64) error {
	if h := store.CommitHookFrom(w.ctx); h != nil {
		if err := h(c.name, seq); err != nil {
			return fmt.Errorf("sqlite: commit hook: %w", err)
		}
	}
	return nil
}

// Insert stores a new document.
func (c *Collection) Insert(ctx context.Context, doc store.Doc) (store.Doc, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	in, err := prepareInsert(doc)
	if err != nil {
		return nil, err
	}
	err = c.db.w.do(ctx, false, func(w *wtx) error {
		if err := c.db.ensureTable(w, c.name); err != nil {
			return err
		}
		return c.insertIn(w, in)
	})
	if err != nil {
		return nil, err
	}
	return in.doc, nil
}

// InsertMany inserts docs in one transaction: all of them, or none.
func (c *Collection) InsertMany(ctx context.Context, docs []store.Doc) ([]store.Doc, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	ins := make([]pendingInsert, len(docs))
	for i, doc := range docs {
		in, err := prepareInsert(doc)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		ins[i] = in
	}
	if len(ins) == 0 {
		return []store.Doc{}, nil
	}
	err := c.db.w.do(ctx, false, func(w *wtx) error {
		if err := c.db.ensureTable(w, c.name); err != nil {
			return err
		}
		last, err := c.takeSeqs(w, len(ins))
		if err != nil {
			return err
		}
		first := last - int64(len(ins)) + 1
		for i, in := range ins {
			if err := c.insertAt(w, in, first+int64(i)); err != nil {
				return fmt.Errorf("document %d: %w", i, err)
			}
		}
		return nil
	})
	if err != nil {
		return []store.Doc{}, err
	}
	out := make([]store.Doc, len(ins))
	for i, in := range ins {
		out[i] = in.doc
	}
	return out, nil
}

// pendingInsert is a document checked and encoded outside the write
// transaction, waiting for its _seq.
type pendingInsert struct {
	doc    store.Doc
	body   []byte
	arrays []string
}

func prepareInsert(doc store.Doc) (pendingInsert, error) {
	d, err := prepareDoc(doc)
	if err != nil {
		return pendingInsert{}, err
	}
	switch id := d[store.FieldID].(type) {
	case nil:
		d[store.FieldID] = store.NewID()
	case string:
		if id == "" {
			d[store.FieldID] = store.NewID()
		} else if len(id) > maxIDLen {
			return pendingInsert{}, fmt.Errorf("%w: _id longer than %d bytes", store.ErrInvalid, maxIDLen)
		}
	default:
		return pendingInsert{}, fmt.Errorf("%w: _id must be a string", store.ErrInvalid)
	}
	now := store.FormatTime(time.Now())
	d[store.FieldVersion] = int64(1)
	d[store.FieldCreatedAt], d[store.FieldUpdatedAt] = now, now
	body, err := encode(d) // all but _seq, which only the transaction knows
	if err != nil {
		return pendingInsert{}, err
	}
	return pendingInsert{doc: d, body: body, arrays: collectArrayPaths(d)}, nil
}

// insertIn writes one prepared document inside the write transaction.
func (c *Collection) insertIn(w *wtx, in pendingInsert) error {
	seq, err := c.nextSeq(w)
	if err != nil {
		return err
	}
	return c.insertAt(w, in, seq)
}

// insertAt writes one prepared document with an allocated _seq.
func (c *Collection) insertAt(w *wtx, in pendingInsert, seq int64) error {
	if err := c.db.noteArrays(w, c.name, in.arrays); err != nil {
		return err
	}
	if _, err := w.exec("INSERT INTO "+c.table+" (id, seq, doc) VALUES (?1, ?2, ?3)",
		in.doc[store.FieldID], seq, splice(in.body, intField(store.FieldSeq, seq))); err != nil {
		return c.db.wrap(err)
	}
	if err := c.hook(w, seq); err != nil {
		return err
	}
	in.doc[store.FieldSeq] = seq
	return nil
}

// Get returns one document.
func (c *Collection) Get(ctx context.Context, id string) (store.Doc, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	docs, err := c.read(ctx, "SELECT doc FROM "+c.table+" WHERE id = ?1", id)
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("%w: %s/%s", store.ErrNotFound, c.name, id)
	}
	return docs[0], nil
}

// stamp reads the _v and _createdAt of document id inside w and checks the
// expected version (0: any).
func (c *Collection) stamp(w *wtx, id string, version int64) (v int64, createdAt []byte, err error) {
	row, err := w.queryRow(`SELECT json_extract(doc, '$."_v"'), doc -> '$."_createdAt"' FROM `+c.table+" WHERE id = ?1", id)
	if err != nil {
		return 0, nil, c.db.wrap(err)
	}
	var created sql.NullString
	if err := row.Scan(&v, &created); errors.Is(err, sql.ErrNoRows) {
		return 0, nil, fmt.Errorf("%w: %s/%s", store.ErrNotFound, c.name, id)
	} else if err != nil {
		return 0, nil, c.db.wrap(err)
	}
	if version != 0 && v != version {
		return 0, nil, fmt.Errorf("%w: %s/%s is at _v %d, not %d", store.ErrVersionConflict, c.name, id, v, version)
	}
	return v, []byte(created.String), nil
}

// Replace writes a whole new content, guarded by version.
func (c *Collection) Replace(ctx context.Context, id string, version int64, doc store.Doc) (store.Doc, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	d, err := prepareDoc(doc)
	if err != nil {
		return nil, err
	}
	if !c.db.hasTable(c.name) {
		return nil, fmt.Errorf("%w: %s/%s", store.ErrNotFound, c.name, id)
	}
	d[store.FieldID] = id
	d[store.FieldUpdatedAt] = store.FormatTime(time.Now())
	body, err := encode(d) // all but _createdAt, _v and _seq
	if err != nil {
		return nil, err
	}
	arrays := collectArrayPaths(d)
	err = c.db.w.do(ctx, false, func(w *wtx) error {
		v, created, err := c.stamp(w, id, version)
		if err != nil {
			return err
		}
		seq, err := c.nextSeq(w)
		if err != nil {
			return err
		}
		if err := c.db.noteArrays(w, c.name, arrays); err != nil {
			return err
		}
		stored := splice(body, field{store.FieldCreatedAt, created}, intField(store.FieldSeq, seq), intField(store.FieldVersion, v+1))
		if _, err := w.exec("UPDATE "+c.table+" SET seq = ?1, doc = ?2 WHERE id = ?3", seq, stored, id); err != nil {
			return c.db.wrap(err)
		}
		if err := c.hook(w, seq); err != nil {
			return err
		}
		var createdAt any
		if err := json.Unmarshal(created, &createdAt); err != nil {
			return fmt.Errorf("sqlite: %s/%s: corrupt _createdAt: %w", c.name, id, err)
		}
		d[store.FieldCreatedAt], d[store.FieldSeq], d[store.FieldVersion] = createdAt, seq, v+1
		return nil
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// Update applies Set and Inc, guarded by version.
func (c *Collection) Update(ctx context.Context, id string, version int64, u store.Update) (store.Doc, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	if err := checkUpdate(u); err != nil {
		return nil, err
	}
	if !c.db.hasTable(c.name) {
		return nil, fmt.Errorf("%w: %s/%s", store.ErrNotFound, c.name, id)
	}
	now := store.FormatTime(time.Now())
	var out store.Doc
	err := c.db.w.do(ctx, false, func(w *wtx) error {
		row, err := w.queryRow("SELECT doc FROM "+c.table+" WHERE id = ?1", id)
		if err != nil {
			return c.db.wrap(err)
		}
		var body []byte
		if err := row.Scan(&body); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: %s/%s", store.ErrNotFound, c.name, id)
		} else if err != nil {
			return c.db.wrap(err)
		}
		cur, err := decode(body)
		if err != nil {
			return err
		}
		if v := store.DocVersion(cur); version != 0 && v != version {
			return fmt.Errorf("%w: %s/%s is at _v %d, not %d", store.ErrVersionConflict, c.name, id, v, version)
		}
		next, err := applyUpdate(cur, u)
		if err != nil {
			return err
		}
		if err := store.CheckDocument(next); err != nil {
			return err
		}
		seq, err := c.nextSeq(w)
		if err != nil {
			return err
		}
		next[store.FieldVersion] = store.DocVersion(cur) + 1
		next[store.FieldSeq] = seq
		next[store.FieldUpdatedAt] = now
		stored, err := encode(next)
		if err != nil {
			return err
		}
		if err := c.db.noteArrays(w, c.name, collectArrayPaths(next)); err != nil {
			return err
		}
		if _, err := w.exec("UPDATE "+c.table+" SET seq = ?1, doc = ?2 WHERE id = ?3", seq, string(stored), id); err != nil {
			return c.db.wrap(err)
		}
		if err := c.hook(w, seq); err != nil {
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

// Delete removes a document for good, guarded by version. It takes no
// _seq.
func (c *Collection) Delete(ctx context.Context, id string, version int64) error {
	if err := c.usable(); err != nil {
		return err
	}
	if !c.db.hasTable(c.name) {
		return fmt.Errorf("%w: %s/%s", store.ErrNotFound, c.name, id)
	}
	return c.db.w.do(ctx, false, func(w *wtx) error {
		if _, _, err := c.stamp(w, id, version); err != nil {
			return err
		}
		if _, err := w.exec("DELETE FROM "+c.table+" WHERE id = ?1", id); err != nil {
			return c.db.wrap(err)
		}
		return nil
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
	if q.Limit < 0 {
		return store.Page{}, fmt.Errorf("%w: negative limit", store.ErrInvalid)
	}
	limit := q.Limit
	if limit == 0 {
		limit = store.DefaultLimit
	}
	limit = min(limit, store.MaxLimit)
	ks, err := store.KeysetFilter(q.Sort, q.Cursor)
	if err != nil {
		return store.Page{}, err
	}
	where, args, err := compileFilter(c.db.mayHoldArray(c.name), q.Filter, ks)
	if err != nil {
		return store.Page{}, err
	}
	args = append(args, limit+1)
	query := fmt.Sprintf("SELECT doc FROM %s WHERE %s ORDER BY %s LIMIT ?%d", c.table, where, orderBy(q.Sort), len(args))
	docs, err := c.read(ctx, query, args...)
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

// Count counts matching documents.
func (c *Collection) Count(ctx context.Context, f store.Filter) (int64, error) {
	if err := c.usable(); err != nil {
		return 0, err
	}
	where, args, err := compileFilter(c.db.mayHoldArray(c.name), f)
	if err != nil {
		return 0, err
	}
	return c.readInt(ctx, "SELECT count(*) FROM "+c.table+" WHERE "+where, args...)
}

// Changes returns documents above a _seq in _seq order.
func (c *Collection) Changes(ctx context.Context, after int64, limit int) ([]store.Doc, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = store.DefaultLimit
	}
	return c.read(ctx, "SELECT doc FROM "+c.table+" WHERE seq > ?1 ORDER BY seq LIMIT ?2", after, min(limit, store.MaxLimit))
}

// LastSeq returns the collection's last committed _seq: with one writer,
// everything at or below it has committed.
func (c *Collection) LastSeq(ctx context.Context) (int64, error) {
	if err := c.usable(); err != nil {
		return 0, err
	}
	cs, err := c.db.rstmts.acquire(ctx, "SELECT seq FROM _sb_seq WHERE coll = ?1")
	if err != nil {
		return 0, c.db.wrap(err)
	}
	defer c.db.rstmts.release(cs)
	var seq int64
	err = cs.stmt.QueryRowContext(ctx, c.name).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return seq, c.db.wrap(err)
}

// read runs a query of documents on the reader pool. A collection that
// does not exist (or was dropped meanwhile) has none.
func (c *Collection) read(ctx context.Context, query string, args ...any) ([]store.Doc, error) {
	docs := []store.Doc{}
	if !c.db.hasTable(c.name) {
		return docs, nil
	}
	cs, err := c.db.rstmts.acquire(ctx, query)
	if err != nil {
		return c.gone(docs, err)
	}
	defer c.db.rstmts.release(cs)
	rows, err := cs.stmt.QueryContext(ctx, args...)
	if err != nil {
		return c.gone(docs, err)
	}
	defer rows.Close()
	for rows.Next() {
		var body sql.RawBytes
		if err := rows.Scan(&body); err != nil {
			return nil, c.db.wrap(err)
		}
		d, err := decode(body)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d)
	}
	if err := rows.Err(); err != nil {
		return c.gone(docs[:0], err)
	}
	return docs, nil
}

// readInt runs a query of one integer on the reader pool.
func (c *Collection) readInt(ctx context.Context, query string, args ...any) (int64, error) {
	if !c.db.hasTable(c.name) {
		return 0, nil
	}
	cs, err := c.db.rstmts.acquire(ctx, query)
	if err != nil {
		_, err = c.gone(nil, err)
		return 0, err
	}
	defer c.db.rstmts.release(cs)
	var n int64
	if err := cs.stmt.QueryRowContext(ctx, args...).Scan(&n); err != nil {
		_, err = c.gone(nil, err)
		return 0, err
	}
	return n, nil
}

// gone turns the error of a read that raced with DropCollection into an
// empty answer; other errors pass. The table may already exist again (a
// write re-created it after the drop): the read still saw the dropped
// state, and empty is what a read at that moment answers.
func (c *Collection) gone(empty []store.Doc, err error) ([]store.Doc, error) {
	if missingTable(err) {
		return empty, nil
	}
	return nil, c.db.wrap(err)
}
