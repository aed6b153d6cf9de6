package objectstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/skybridgehq/skybridge/store"
)

// Query bounds.
const (
	// MaxSortKeys bounds the sort fields of a List.
	MaxSortKeys = 3
	// MaxFields bounds the projection of a List.
	MaxFields = 50
	// maxChangeScanPages bounds how many feed pages one Changes call reads
	// past objects the caller may not read.
	maxChangeScanPages = 10
)

// ListQuery selects the objects of a List.
type ListQuery struct {
	// Filter selects objects (nil: all), validated with
	// store.ValidateFilter; the api builds it with store.ParseFilter.
	// Paths are those of the stored objects, system fields included.
	Filter store.Filter
	// Sort orders the objects, at most MaxSortKeys keys; _id ascending
	// breaks ties.
	Sort []store.SortKey
	// Limit caps the page: 0 means store.DefaultLimit, clamped to
	// store.MaxLimit.
	Limit int
	// Cursor continues from a previous Page.Cursor of the same query.
	Cursor string
	// Fields, when not empty, projects each object on these dotted paths;
	// _id always comes back.
	Fields []string
	// Count asks for the number of objects matching the query (all
	// pages).
	Count bool
}

// Page is one page of a List.
type Page struct {
	// Items are the objects of the page.
	Items []Object
	// Cursor continues after the last item; "" on the last page.
	Cursor string
	// Count is the number of matching objects, when asked for.
	Count *int64
}

// notDeleted excludes tombstones.
var notDeleted = store.Compare{Path: store.FieldDeleted, Op: store.OpNe, Value: true}

// List returns one page of the objects of col matching q that the caller
// may read. The read rule is applied as an extra filter: under owner, a
// user sees the objects he owns or whose _acl.read names him, one of his
// roles or "*"; a rule that admits the caller to nothing (role:x without
// the role, server, authenticated for an anonymous caller) is
// ErrForbidden. A collection that does not exist lists empty.
func (s *Service) List(ctx context.Context, env Env, p Principal, col string, q ListQuery) (Page, error) {
	if err := ValidCollectionName(col); err != nil {
		return Page{}, err
	}
	if err := checkListQuery(q); err != nil {
		return Page{}, err
	}
	db, err := s.db(ctx, env)
	if err != nil {
		return Page{}, err
	}
	st, err := s.loadCollection(ctx, db, col, false)
	if err != nil {
		return Page{}, err
	}
	var zero int64
	if !st.exists {
		page := Page{Items: []Object{}}
		if q.Count {
			page.Count = &zero
		}
		return page, nil
	}
	rf, err := readFilter(st.settings.Rules.Read, p)
	if err != nil {
		return Page{}, fmt.Errorf("list %q: %w", col, err)
	}
	f := andFilters(notDeleted, rf, q.Filter)
	s.ensureSortIndex(ctx, db, col, q.Sort)
	c := objects(db, col)
	res, err := c.Find(ctx, store.Query{Filter: f, Sort: q.Sort, Limit: q.Limit, Cursor: q.Cursor})
	if err != nil {
		if errors.Is(err, store.ErrInvalid) {
			return Page{}, fieldErr("cursor", ErrInvalid, "%v", err)
		}
		return Page{}, mapStoreErr("list "+col, err)
	}
	page := Page{Items: make([]Object, 0, len(res.Docs)), Cursor: res.Cursor}
	size := 0
	for i, d := range res.Docs {
		if size += approxJSONSize(d); size > s.cfg.MaxPageBytes && i > 0 {
			// Cut the page here; the next one starts after the last
			// object kept, under the same sort.
			page.Cursor = store.MakeCursor(q.Sort, res.Docs[i-1])
			break
		}
		if len(q.Fields) > 0 {
			d = project(d, q.Fields)
		}
		page.Items = append(page.Items, Object(d))
	}
	if q.Count {
		n, err := c.Count(ctx, f)
		if err != nil {
			return Page{}, mapStoreErr("count "+col, err)
		}
		page.Count = &n
	}
	return page, nil
}

// checkListQuery validates what the caller controls in q.
func checkListQuery(q ListQuery) error {
	if err := store.ValidateFilter(q.Filter); err != nil {
		var fe *store.FilterError
		if errors.As(err, &fe) {
			return &FieldError{Field: "filter", Err: fmt.Errorf("%w: %s: %s", ErrInvalid, fe.Field, fe.Reason)}
		}
		return fieldErr("filter", ErrInvalid, "%v", err)
	}
	if len(q.Sort) > MaxSortKeys {
		return fieldErr("sort", ErrInvalid, "more than %d sort fields", MaxSortKeys)
	}
	if err := store.ValidateSort(q.Sort); err != nil {
		return fieldErr("sort", ErrInvalid, "%v", err)
	}
	if len(q.Fields) > MaxFields {
		return fieldErr("fields", ErrInvalid, "more than %d fields", MaxFields)
	}
	for _, f := range q.Fields {
		if strings.HasPrefix(f, "_") && !strings.Contains(f, ".") {
			continue // a system field
		}
		if err := store.ValidPath(f); err != nil {
			return fieldErr("fields", ErrInvalid, "%q: %v", f, err)
		}
	}
	if q.Limit < 0 {
		return fieldErr("limit", ErrInvalid, "must not be negative")
	}
	return nil
}

// andFilters joins the non-nil filters.
func andFilters(fs ...store.Filter) store.Filter {
	var out []store.Filter
	for _, f := range fs {
		if f != nil {
			out = append(out, f)
		}
	}
	if len(out) == 1 {
		return out[0]
	}
	return store.And{Filters: out}
}

// project keeps the _id of d and the values at the dotted paths fields.
func project(d store.Doc, fields []string) store.Doc {
	out := store.Doc{store.FieldID: d[store.FieldID]}
	for _, f := range fields {
		v, ok := store.Lookup(d, f)
		if !ok {
			continue
		}
		segs := strings.Split(f, ".")
		m := out
		for _, seg := range segs[:len(segs)-1] {
			next, ok := m[seg].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[seg] = next
			}
			m = next
		}
		m[segs[len(segs)-1]] = v
	}
	return out
}

// ChangeBatch is one read of a collection's change feed.
type ChangeBatch struct {
	// Objects are the changed objects the caller may read, in _seq
	// order, with their latest content; deletions are tombstones
	// (_deleted true, system fields only).
	Objects []Object
	// Last is the _seq to continue after: the highest one examined,
	// which passes the objects the caller may not read. It is the after
	// of the call when nothing was examined.
	Last int64
}

// Changes returns the objects of col written after _seq after that the
// caller may read, at most limit of them (0: store.DefaultLimit, clamped
// to store.MaxLimit), tombstones included. The feed is gap-free: resuming
// after Last misses nothing and repeats nothing. A rule that admits the
// caller to nothing is ErrForbidden; a missing collection has no changes.
func (s *Service) Changes(ctx context.Context, env Env, p Principal, col string, after int64, limit int) (ChangeBatch, error) {
	if err := ValidCollectionName(col); err != nil {
		return ChangeBatch{}, err
	}
	if limit <= 0 {
		limit = store.DefaultLimit
	}
	limit = min(limit, store.MaxLimit)
	db, err := s.db(ctx, env)
	if err != nil {
		return ChangeBatch{}, err
	}
	st, err := s.loadCollection(ctx, db, col, false)
	if err != nil {
		return ChangeBatch{}, err
	}
	out := ChangeBatch{Objects: []Object{}, Last: after}
	if !st.exists {
		return out, nil
	}
	rule := st.settings.Rules.Read
	if _, err := readFilter(rule, p); err != nil {
		return ChangeBatch{}, fmt.Errorf("changes of %q: %w", col, err)
	}
	c := objects(db, col)
	for range maxChangeScanPages {
		want := limit - len(out.Objects)
		docs, err := c.Changes(ctx, out.Last, want)
		if err != nil {
			return ChangeBatch{}, mapStoreErr("changes of "+col, err)
		}
		for _, d := range docs {
			obj := Object(d)
			out.Last = obj.Seq()
			if mayAccess(rule, p, obj, aclRead) {
				out.Objects = append(out.Objects, obj)
			}
		}
		if len(docs) < want || len(out.Objects) >= limit {
			break // the feed's end, or a full batch
		}
	}
	return out, nil
}

// LastSeq returns the highest _seq of col's change feed: where a
// subscriber that wants only new changes starts. A missing collection is
// at 0.
func (s *Service) LastSeq(ctx context.Context, env Env, col string) (int64, error) {
	if err := ValidCollectionName(col); err != nil {
		return 0, err
	}
	db, err := s.db(ctx, env)
	if err != nil {
		return 0, err
	}
	n, err := objects(db, col).LastSeq(ctx)
	if err != nil {
		return 0, mapStoreErr("last seq of "+col, err)
	}
	return n, nil
}

// approxJSONSize estimates the encoded size of a stored value without
// encoding it: exact for strings without escapes, close for the rest.
func approxJSONSize(v any) int {
	switch x := v.(type) {
	case string:
		return len(x) + 2
	case map[string]any:
		n := 2
		for k, e := range x {
			n += len(k) + 4 + approxJSONSize(e)
		}
		return n
	case []any:
		n := 2
		for _, e := range x {
			n += 1 + approxJSONSize(e)
		}
		return n
	default:
		return 8
	}
}
