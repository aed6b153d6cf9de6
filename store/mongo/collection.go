package mongo

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/skybridgehq/skybridge/store"
)

// Collection is a store collection: the MongoDB collection of the same
// name, with documents keyed by their string _id.
type Collection struct {
	db   *DB
	name string
	err  error // set when the name is invalid
	mc   *mongo.Collection
}

// st returns what this process knows of the collection. It is looked up on
// every call rather than kept, so that DropDB's reset reaches handles
// taken before it.
func (c *Collection) st() *collState { return c.db.state(c.name) }

var _ store.Collection = (*Collection)(nil)

// Name returns the collection's name.
func (c *Collection) Name() string { return c.name }

func (c *Collection) check() error {
	if err := c.db.p.checkOpen(); err != nil {
		return err
	}
	return c.err
}

// ownedFields are the system fields the adapter stamps itself; callers'
// values for them are dropped.
var ownedFields = []string{store.FieldVersion, store.FieldSeq, store.FieldCreatedAt, store.FieldUpdatedAt}

// systemFields may not be targets of an Update.
var systemFields = map[string]bool{
	store.FieldID: true, store.FieldVersion: true, store.FieldSeq: true,
	store.FieldCreatedAt: true, store.FieldUpdatedAt: true,
	store.FieldOwner: true, store.FieldACL: true, store.FieldDeleted: true,
}

// prepare checks a caller's document and returns a normalised copy
// without the fields the adapter owns.
func prepare(doc store.Doc) (store.Doc, error) {
	if err := store.CheckDocument(doc); err != nil {
		return nil, err
	}
	nd, _ := store.Normalize(map[string]any(doc)).(map[string]any)
	if nd == nil {
		nd = map[string]any{}
	}
	for _, f := range ownedFields {
		delete(nd, f)
	}
	return nd, nil
}

// ensureSeqIndex creates the _seq index Changes reads by, once per process.
func (c *Collection) ensureSeqIndex(ctx context.Context) error {
	st := c.st()
	st.idxMu.Lock()
	defer st.idxMu.Unlock()
	if st.indexed {
		return nil
	}
	_, err := c.mc.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: store.FieldSeq, Value: 1}},
		Options: options.Index().SetName(seqIndexName),
	})
	if err != nil {
		return c.db.p.wrap(fmt.Sprintf("create _seq index on %q", c.name), err)
	}
	st.indexed = true
	return nil
}

// write runs one document write under a freshly allocated _seq: allocate,
// call the commit hook, run do, resolve. It returns the document do
// returned, with _seq replaced when the allocation had to be re-stamped.
//
// The caller's cancellation is honoured until the write starts. From then
// on it runs detached, bounded by OpTimeout: a write given up half-way
// would leave an outcome nobody knows, which holds the feed back for a
// whole lease.
func (c *Collection) write(ctx context.Context, id string, do func(ctx context.Context, seq int64) (store.Doc, error)) (store.Doc, error) {
	if err := c.ensureSeqIndex(ctx); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("mongo: write %q in %q: %w", id, c.name, err)
	}
	ctx, cancel := c.db.detached(ctx)
	defer cancel()
	st := c.st()
	seq, err := c.db.allocate(ctx, st, c.name, id)
	if err != nil {
		return nil, err
	}
	if hook := store.CommitHookFrom(ctx); hook != nil {
		if err := hook(c.name, seq); err != nil {
			c.db.release(ctx, c.name, seq)
			return nil, fmt.Errorf("mongo: write %q in %q: commit hook: %w", id, c.name, err)
		}
	}
	doc, err := do(ctx, seq)
	if err != nil {
		if refusedWrite(err) {
			c.db.release(ctx, c.name, seq)
		}
		// Otherwise the write may have happened: the lease settles it.
		return nil, err
	}
	ns := c.db.commit(ctx, st, c.name, seq, id)
	if ns != seq {
		doc[store.FieldSeq] = ns
	}
	c.db.maybePrune(ctx, st, c.name, ns)
	return doc, nil
}

// refusedWrite reports whether err means the document write certainly did
// not happen, so that its allocation can be released at once. Any other
// error (network, timeout, write concern) leaves the outcome unknown.
func refusedWrite(err error) bool {
	for _, e := range []error{store.ErrDuplicate, store.ErrNotFound, store.ErrVersionConflict, store.ErrInvalid} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Insert stores a new document; see store.Collection. Like every write,
// once it has taken its _seq it runs to the end within OpTimeout even when
// ctx is cancelled, so that its outcome is never left unknown.
// InsertMany inserts docs one after the other, each with its own _seq
// allocation, and stops at the first failure; what it returns is exactly
// what was stored.
func (c *Collection) InsertMany(ctx context.Context, docs []store.Doc) ([]store.Doc, error) {
	out := make([]store.Doc, 0, len(docs))
	for i, d := range docs {
		stored, err := c.Insert(ctx, d)
		if err != nil {
			return out, fmt.Errorf("document %d: %w", i, err)
		}
		out = append(out, stored)
	}
	return out, nil
}

func (c *Collection) Insert(ctx context.Context, doc store.Doc) (store.Doc, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	nd, err := prepare(doc)
	if err != nil {
		return nil, err
	}
	id := ""
	switch v := nd[store.FieldID].(type) {
	case nil:
	case string:
		id = v
	default:
		return nil, fmt.Errorf("%w: _id must be a string, not %T", store.ErrInvalid, v)
	}
	if id == "" {
		id = store.NewID()
	}
	now := store.FormatTime(time.Now())
	nd[store.FieldID] = id
	nd[store.FieldVersion] = int64(1)
	nd[store.FieldCreatedAt] = now
	nd[store.FieldUpdatedAt] = now
	ctx, cancel := c.db.p.opContext(ctx)
	defer cancel()
	return c.write(ctx, id, func(ctx context.Context, seq int64) (store.Doc, error) {
		nd[store.FieldSeq] = seq
		if _, err := c.mc.InsertOne(ctx, nd); err != nil {
			return nil, c.db.p.wrap(fmt.Sprintf("insert %q into %q", id, c.name), err)
		}
		return nd, nil
	})
}

// Get returns document id or store.ErrNotFound.
func (c *Collection) Get(ctx context.Context, id string) (store.Doc, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	ctx, cancel := c.db.p.opContext(ctx)
	defer cancel()
	return c.get(ctx, id, nil)
}

func (c *Collection) get(ctx context.Context, id string, projection bson.D) (store.Doc, error) {
	opts := options.FindOne()
	if projection != nil {
		opts.SetProjection(projection)
	}
	raw, err := c.mc.FindOne(ctx, bson.D{{Key: store.FieldID, Value: id}}, opts).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, fmt.Errorf("mongo: %q in %q: %w", id, c.name, store.ErrNotFound)
	}
	if err != nil {
		return nil, c.db.p.wrap(fmt.Sprintf("get %q from %q", id, c.name), err)
	}
	return docFromRaw(raw)
}

// missOrConflict tells why a write guarded by {_id, _v} matched nothing.
func (c *Collection) missOrConflict(ctx context.Context, id string) error {
	_, err := c.get(ctx, id, bson.D{{Key: store.FieldVersion, Value: 1}})
	if err != nil {
		return err
	}
	return fmt.Errorf("mongo: %q in %q: %w", id, c.name, store.ErrVersionConflict)
}

// Replace writes doc as the whole content of document id, guarded by
// version; see store.Collection.
func (c *Collection) Replace(ctx context.Context, id string, version int64, doc store.Doc) (store.Doc, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	nd, err := prepare(doc)
	if err != nil {
		return nil, err
	}
	ctx, cancel := c.db.p.opContext(ctx)
	defer cancel()
	cur, err := c.get(ctx, id, bson.D{{Key: store.FieldVersion, Value: 1}, {Key: store.FieldCreatedAt, Value: 1}})
	if err != nil {
		return nil, err
	}
	if version != 0 && store.DocVersion(cur) != version {
		return nil, fmt.Errorf("mongo: %q in %q: %w", id, c.name, store.ErrVersionConflict)
	}
	nd[store.FieldID] = id
	nd[store.FieldUpdatedAt] = store.FormatTime(time.Now())
	return c.write(ctx, id, func(ctx context.Context, seq int64) (store.Doc, error) {
		nd[store.FieldSeq] = seq
		for {
			// The replacement carries absolute _v and _createdAt, so it is
			// guarded by the _v it was computed from; an unguarded Replace
			// (version 0) that loses a race recomputes and tries again.
			curV := store.DocVersion(cur)
			nd[store.FieldVersion] = curV + 1
			if ca, ok := cur[store.FieldCreatedAt]; ok {
				nd[store.FieldCreatedAt] = ca
			}
			res, err := c.mc.ReplaceOne(ctx, bson.D{{Key: store.FieldID, Value: id}, {Key: store.FieldVersion, Value: curV}}, nd)
			if err != nil {
				return nil, c.db.p.wrap(fmt.Sprintf("replace %q in %q", id, c.name), err)
			}
			if res.MatchedCount == 1 {
				return nd, nil
			}
			if version != 0 {
				return nil, c.missOrConflict(ctx, id)
			}
			cur, err = c.get(ctx, id, bson.D{{Key: store.FieldVersion, Value: 1}, {Key: store.FieldCreatedAt, Value: 1}})
			if err != nil {
				return nil, err
			}
		}
	})
}

// Update applies u atomically (one findAndModify), guarded by version; see
// store.Collection.
func (c *Collection) Update(ctx context.Context, id string, version int64, u store.Update) (store.Doc, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	set, inc, err := compileUpdate(u)
	if err != nil {
		return nil, err
	}
	ctx, cancel := c.db.p.opContext(ctx)
	defer cancel()
	filter := bson.D{{Key: store.FieldID, Value: id}}
	if version != 0 {
		filter = append(filter, bson.E{Key: store.FieldVersion, Value: version})
	}
	return c.write(ctx, id, func(ctx context.Context, seq int64) (store.Doc, error) {
		s := append(set, bson.E{Key: store.FieldSeq, Value: seq}, bson.E{Key: store.FieldUpdatedAt, Value: store.FormatTime(time.Now())})
		i := append(inc, bson.E{Key: store.FieldVersion, Value: int64(1)})
		raw, err := c.mc.FindOneAndUpdate(ctx, filter,
			bson.D{{Key: "$set", Value: s}, {Key: "$inc", Value: i}},
			options.FindOneAndUpdate().SetReturnDocument(options.After)).Raw()
		if errors.Is(err, mongo.ErrNoDocuments) {
			if version == 0 {
				return nil, fmt.Errorf("mongo: %q in %q: %w", id, c.name, store.ErrNotFound)
			}
			return nil, c.missOrConflict(ctx, id)
		}
		if err != nil {
			return nil, c.db.p.wrap(fmt.Sprintf("update %q in %q", id, c.name), err)
		}
		return docFromRaw(raw)
	})
}

// compileUpdate checks u and turns it into $set and $inc documents, keys
// sorted. Inc amounts that are integral become int64, so that counters
// stay integers.
func compileUpdate(u store.Update) (set, inc bson.D, err error) {
	check := func(p string) error {
		if err := store.ValidPath(p); err != nil {
			return fmt.Errorf("%w: update path: %v", store.ErrInvalid, err)
		}
		first, _, _ := strings.Cut(p, ".")
		if systemFields[first] {
			return fmt.Errorf("%w: update of system field %q", store.ErrInvalid, p)
		}
		return nil
	}
	for _, p := range sortedKeys(u.Set) {
		if err := check(p); err != nil {
			return nil, nil, err
		}
		if _, both := u.Inc[p]; both {
			return nil, nil, fmt.Errorf("%w: update path %q both set and incremented", store.ErrInvalid, p)
		}
		if err := store.CheckDocument(store.Doc{"v": u.Set[p]}); err != nil {
			return nil, nil, fmt.Errorf("%w: update value at %q", err, p)
		}
		set = append(set, bson.E{Key: p, Value: store.Normalize(u.Set[p])})
	}
	for _, p := range sortedKeys(u.Inc) {
		if err := check(p); err != nil {
			return nil, nil, err
		}
		d := u.Inc[p]
		if math.IsNaN(d) || math.IsInf(d, 0) {
			return nil, nil, fmt.Errorf("%w: increment of %q is not finite", store.ErrInvalid, p)
		}
		inc = append(inc, bson.E{Key: p, Value: store.Normalize(d)})
	}
	return set, inc, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Delete removes document id for good, guarded by version; it takes no
// _seq.
func (c *Collection) Delete(ctx context.Context, id string, version int64) error {
	if err := c.check(); err != nil {
		return err
	}
	ctx, cancel := c.db.p.opContext(ctx)
	defer cancel()
	filter := bson.D{{Key: store.FieldID, Value: id}}
	if version != 0 {
		filter = append(filter, bson.E{Key: store.FieldVersion, Value: version})
	}
	res, err := c.mc.DeleteOne(ctx, filter)
	if err != nil {
		return c.db.p.wrap(fmt.Sprintf("delete %q from %q", id, c.name), err)
	}
	if res.DeletedCount == 1 {
		return nil
	}
	if version == 0 {
		return fmt.Errorf("mongo: %q in %q: %w", id, c.name, store.ErrNotFound)
	}
	return c.missOrConflict(ctx, id)
}

// readAll drains a cursor into documents.
func (c *Collection) readAll(ctx context.Context, cur *mongo.Cursor) ([]store.Doc, error) {
	defer cur.Close(ctx)
	out := []store.Doc{}
	for cur.Next(ctx) {
		d, err := docFromRaw(cur.Current)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	if err := cur.Err(); err != nil {
		return nil, c.db.p.wrap(fmt.Sprintf("read %q", c.name), err)
	}
	return out, nil
}
