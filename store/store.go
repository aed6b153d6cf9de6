// Package store is the document-database abstraction under everything in
// Skybridge that persists: apps, admins, users, audit entries, objects,
// deployments, devices and shadows.
//
// A Provider opens named databases (the system database, and one per app
// environment); a DB hands out Collections of JSON documents. Two adapters
// implement the contract: store/sqlite (the zero-configuration default) and
// store/mongo (production, many nodes). store/storetest is the conformance
// suite both must pass.
//
// Every document carries the system fields below. The adapters own _v, _seq,
// _createdAt and _updatedAt: whatever a caller puts there is overwritten.
package store

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// System field names carried by every document.
const (
	FieldID        = "_id"
	FieldVersion   = "_v"
	FieldSeq       = "_seq"
	FieldCreatedAt = "_createdAt"
	FieldUpdatedAt = "_updatedAt"
	FieldOwner     = "_owner"
	FieldACL       = "_acl"
	FieldDeleted   = "_deleted"
)

// TimeFormat is how _createdAt and _updatedAt are written: UTC, fixed width,
// microsecond precision, so that the strings sort in time order.
const TimeFormat = "2006-01-02T15:04:05.000000Z"

// FormatTime renders t in TimeFormat.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeFormat) }

// SystemDB is the name of the database that holds system data (apps, admins,
// audit, deployments).
const SystemDB = "system"

// Sentinel errors. Adapters wrap them with context; test with errors.Is.
var (
	// ErrNotFound: no document with that id (or no such database).
	ErrNotFound = errors.New("store: not found")
	// ErrDuplicate: the write would break the _id or a unique index.
	ErrDuplicate = errors.New("store: duplicate key")
	// ErrVersionConflict: the document's _v is not the expected one.
	ErrVersionConflict = errors.New("store: version conflict")
	// ErrInvalid: a name, filter, sort, update or document the store refuses.
	ErrInvalid = errors.New("store: invalid argument")
	// ErrClosed: the provider was closed.
	ErrClosed = errors.New("store: closed")
)

// Doc is one JSON document. Values are JSON-shaped: nil, bool, string,
// int64 (integral numbers within ±2^53), float64 (other numbers), []any and
// map[string]any. Adapters return documents in that shape (see Normalize).
type Doc = map[string]any

// Provider opens the databases of one deployment. It is safe for concurrent
// use; databases it returns stay valid until Close.
type Provider interface {
	// Kind names the adapter: "sqlite" or "mongo".
	Kind() string
	// DB opens (creating on first use) the database with the given name,
	// which must satisfy ValidDBName. Repeated calls return the same DB.
	DB(ctx context.Context, name string) (DB, error)
	// DropDB deletes a database and all of its collections.
	DropDB(ctx context.Context, name string) error
	// Ping reports whether the backing store answers.
	Ping(ctx context.Context) error
	// Close releases every database. Later calls fail with ErrClosed.
	Close() error
}

// DB is one database: a namespace of collections.
type DB interface {
	// Name is the name the database was opened with.
	Name() string
	// Collection returns the named collection; it is created on first write.
	// The name must satisfy ValidCollectionName, else every call on the
	// returned collection fails with ErrInvalid.
	Collection(name string) Collection
	// Collections lists the collections that exist, sorted by name, without
	// the adapters' internal ones.
	Collections(ctx context.Context) ([]string, error)
	// DropCollection deletes a collection, its documents and its indexes.
	DropCollection(ctx context.Context, name string) error
}

// Collection is a set of JSON documents keyed by _id.
//
// Every write (Insert, Replace, Update) stamps _v (1 on insert, +1 per
// write), a new _seq from the collection's change feed, and _updatedAt;
// Insert also stamps _createdAt. Delete removes a document for good and
// takes no _seq: soft deletes (tombstones) are Replace with _deleted set.
type Collection interface {
	// Name is the collection's name.
	Name() string
	// Insert stores a new document. An empty or absent _id gets a new
	// random one. It fails with ErrDuplicate when the _id or a unique index
	// is taken. It returns the stored document.
	Insert(ctx context.Context, doc Doc) (Doc, error)
	// InsertMany inserts docs in order, as Insert does each, stopping at
	// the first failure. It returns the documents that were stored — a
	// prefix of docs, possibly empty even when some were written before
	// the failure was found (SQLite stores all or none in one
	// transaction) — and the error that stopped it. Callers such as the
	// audit trail rely on the prefix: document k is never stored without
	// documents 0..k-1.
	InsertMany(ctx context.Context, docs []Doc) ([]Doc, error)
	// Get returns the document with that id, or ErrNotFound.
	Get(ctx context.Context, id string) (Doc, error)
	// Replace writes doc as the whole new content of document id when its
	// current _v equals version (compare-and-swap); version 0 skips the
	// check. The _id and _createdAt are kept. It fails with ErrNotFound,
	// ErrVersionConflict or ErrDuplicate.
	Replace(ctx context.Context, id string, version int64, doc Doc) (Doc, error)
	// Update applies field-level changes atomically, guarded by version as
	// Replace is. It returns the document after the update.
	Update(ctx context.Context, id string, version int64, u Update) (Doc, error)
	// Delete removes document id for good, guarded by version as Replace
	// is. It fails with ErrNotFound when there is no such document.
	Delete(ctx context.Context, id string, version int64) error
	// Find returns the documents matching q.Filter in q.Sort order, at most
	// q.Limit of them, and a cursor for the next page ("" on the last).
	Find(ctx context.Context, q Query) (Page, error)
	// Count returns how many documents match f (nil matches all).
	Count(ctx context.Context, f Filter) (int64, error)
	// Changes returns documents whose _seq is above after, in _seq order,
	// at most limit of them. The feed is gap-free and in commit order: once
	// a reader has seen _seq N, no write with _seq ≤ N can commit later.
	// Each document appears once, with its latest content; a document
	// written again moves to its new _seq.
	Changes(ctx context.Context, after int64, limit int) ([]Doc, error)
	// LastSeq returns the highest _seq the feed can hand out now: the
	// watermark below which every write has committed.
	LastSeq(ctx context.Context) (int64, error)
	// EnsureIndex creates the index when missing. Creating an index that
	// exists with the same definition is a no-op; a unique index over
	// documents that already break it fails with ErrDuplicate.
	EnsureIndex(ctx context.Context, idx Index) error
	// Indexes lists the declared indexes, sorted by name.
	Indexes(ctx context.Context) ([]Index, error)
}

// Update is a field-level change: Set assigns values at dotted paths and
// Inc adds numbers to them (a missing field counts as 0). A path may appear
// in only one of the two. System fields cannot be set or incremented.
type Update struct {
	Set map[string]any
	Inc map[string]float64
}

// Index is a declared index on one or more dotted paths.
type Index struct {
	// Name identifies the index; empty means derived from the fields.
	Name string `json:"name,omitempty"`
	// Fields are the indexed dotted paths, in order; a leading '-' makes
	// that field descending.
	Fields []string `json:"fields"`
	// Unique refuses two documents with the same values in Fields.
	// Documents lacking every indexed field are exempt.
	Unique bool `json:"unique,omitempty"`
}

// IndexName returns idx.Name, or a name derived from the fields.
func (idx Index) IndexName() string {
	if idx.Name != "" {
		return idx.Name
	}
	name := "ix"
	for _, f := range idx.Fields {
		name += "_" + f
	}
	if idx.Unique {
		name += "_u"
	}
	return sanitizeIndexName(name)
}

var indexNameRe = regexp.MustCompile(`[^A-Za-z0-9_]`)

func sanitizeIndexName(s string) string {
	s = indexNameRe.ReplaceAllString(s, "_")
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}

// Validate checks the index definition.
func (idx Index) Validate() error {
	if len(idx.Fields) == 0 || len(idx.Fields) > 8 {
		return fmt.Errorf("%w: index needs 1 to 8 fields", ErrInvalid)
	}
	for _, f := range idx.Fields {
		p := f
		if len(p) > 0 && p[0] == '-' {
			p = p[1:]
		}
		if err := ValidPath(p); err != nil {
			return err
		}
	}
	if idx.Name != "" && !identRe.MatchString(idx.Name) {
		return fmt.Errorf("%w: index name %q", ErrInvalid, idx.Name)
	}
	return nil
}

// Query selects documents for Collection.Find.
type Query struct {
	// Filter selects documents; nil matches all.
	Filter Filter
	// Sort orders the result; _id ascending is always the last key, so
	// that the order is total and keyset pagination is stable.
	Sort []SortKey
	// Limit caps the page; 0 means DefaultLimit, and it is clamped to
	// MaxLimit.
	Limit int
	// Cursor continues from a previous Page.Cursor; it is only valid with
	// the same Filter and Sort.
	Cursor string
}

// Page limits.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// SortKey orders by one dotted path.
type SortKey struct {
	Path string
	Desc bool
}

// Page is one page of a Find.
type Page struct {
	Docs []Doc
	// Cursor continues after the last document; "" when there are no more.
	Cursor string
}

var (
	identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
	collRe  = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,99}$`)
	dbRe    = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,47}$`)
)

// ValidCollectionName reports whether name can name a collection: a letter,
// then up to 99 letters, digits, '_' or '-'. Names starting with '_' are
// reserved for the adapters.
func ValidCollectionName(name string) error {
	if !collRe.MatchString(name) {
		return fmt.Errorf("%w: collection name %q (want a letter, then letters, digits, '_' or '-', at most 100)", ErrInvalid, name)
	}
	return nil
}

// ValidDBName reports whether name can name a database: lower-case letters,
// digits, '_' and '-', at most 48, starting with a letter or digit.
func ValidDBName(name string) error {
	if !dbRe.MatchString(name) {
		return fmt.Errorf("%w: database name %q", ErrInvalid, name)
	}
	return nil
}

// EnvDBName is the database name of one app environment.
func EnvDBName(appID, env string) string { return appID + "_" + env }

type commitHookKey struct{}

// CommitHook is called by an adapter after a write has taken its _seq and
// before that write commits. Tests install one with WithCommitHook to hold a
// write open and force commits out of allocation order; an error it returns
// aborts the write.
type CommitHook func(collection string, seq int64) error

// WithCommitHook returns a context that makes writes under it call h.
func WithCommitHook(ctx context.Context, h CommitHook) context.Context {
	return context.WithValue(ctx, commitHookKey{}, h)
}

// CommitHookFrom returns the hook installed on ctx, or nil.
func CommitHookFrom(ctx context.Context) CommitHook {
	h, _ := ctx.Value(commitHookKey{}).(CommitHook)
	return h
}

// EnsureIndexes creates every index of byCollection (collection name →
// indexes) in db, as Collection.EnsureIndex does each.
func EnsureIndexes(ctx context.Context, db DB, byCollection map[string][]Index) error {
	for coll, idxs := range byCollection {
		for _, idx := range idxs {
			if err := db.Collection(coll).EnsureIndex(ctx, idx); err != nil {
				return fmt.Errorf("index %s on %s: %w", idx.IndexName(), coll, err)
			}
		}
	}
	return nil
}

// DeleteMatching deletes every document of c that q selects (q.Filter, in
// q.Sort order, q.Limit per round; q.Cursor is ignored) and says how many
// it deleted. Each delete is guarded by the version it read, so a document
// changed meanwhile is left alone; it stops when a round deletes nothing.
func DeleteMatching(ctx context.Context, c Collection, q Query) (int, error) {
	q.Cursor = ""
	n := 0
	for {
		page, err := c.Find(ctx, q)
		if err != nil {
			return n, err
		}
		deleted := 0
		for _, d := range page.Docs {
			err := c.Delete(ctx, DocID(d), DocVersion(d))
			switch {
			case err == nil:
				deleted++
			case errors.Is(err, ErrNotFound), errors.Is(err, ErrVersionConflict):
			default:
				return n + deleted, err
			}
		}
		n += deleted
		if deleted == 0 || page.Cursor == "" {
			return n, nil
		}
	}
}
