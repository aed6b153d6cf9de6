package objectstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// Store collections of an environment database that offline sync relies
// on: the base versions kept for merge-fields, and how far tombstone
// compaction has gone per collection.
const (
	collHistory    = "objectHistory"
	collCompaction = "objectCompaction"
)

// Stored returns object id of col as stored, tombstones included, without
// a rule check: sync compares versions against it. A missing object is
// ErrNotFound. Callers decide what of it the principal may see (CanRead).
func (s *Service) Stored(ctx context.Context, env Env, col, id string) (Object, error) {
	if err := ValidCollectionName(col); err != nil {
		return nil, err
	}
	if err := ValidID(id); err != nil {
		return nil, err
	}
	db, err := s.db(ctx, env)
	if err != nil {
		return nil, err
	}
	d, err := objects(db, col).Get(ctx, id)
	if err != nil {
		return nil, mapStoreErr("get "+id, err)
	}
	return Object(d), nil
}

// keepBase remembers the user fields of a version written to a
// merge-fields collection, so that a later offline change based on it can
// be merged field by field (BaseVersion). It is best effort: a lost base
// makes a merge a plain conflict, never a wrong merge.
func (s *Service) keepBase(ctx context.Context, db store.DB, col string, obj Object) {
	st, err := s.loadCollection(ctx, db, col, false)
	if err != nil || !st.exists || st.settings.Conflict != ConflictMergeFields || obj.Deleted() {
		return
	}
	doc := store.Doc{
		store.FieldID: historyID(col, obj.ID(), obj.Version()),
		"col":         col,
		"at":          store.FormatTime(s.now()),
		"doc":         map[string]any(userFields(obj)),
	}
	if _, err := db.Collection(collHistory).Insert(context.WithoutCancel(ctx), doc); err != nil && !errors.Is(err, store.ErrDuplicate) {
		s.log.Warn("keep base version", "collection", col, "id", obj.ID(), "error", err)
	}
}

func historyID(col, id string, v int64) string { return fmt.Sprintf("%s/%s/%d", col, id, v) }

// BaseVersion returns the user fields of version v of object id, as kept
// for merge-fields collections, or ErrNotFound when it was not kept (or
// was compacted).
func (s *Service) BaseVersion(ctx context.Context, env Env, col, id string, v int64) (map[string]any, error) {
	db, err := s.db(ctx, env)
	if err != nil {
		return nil, err
	}
	d, err := db.Collection(collHistory).Get(ctx, historyID(col, id, v))
	if err != nil {
		return nil, mapStoreErr("base version", err)
	}
	m, _ := d["doc"].(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

// CompactTombstones removes the tombstones of col last written before
// before, and the base versions kept before it, for good. It remembers
// the highest _seq removed (CompactedThrough), so that a sync checkpoint
// at or below it, which may have missed a deletion, is known to be stale.
func (s *Service) CompactTombstones(ctx context.Context, env Env, col string, before time.Time) (int, error) {
	if err := ValidCollectionName(col); err != nil {
		return 0, err
	}
	db, err := s.db(ctx, env)
	if err != nil {
		return 0, err
	}
	c := objects(db, col)
	cutoff := store.FormatTime(before)
	f := store.And{Filters: []store.Filter{
		store.Compare{Path: store.FieldDeleted, Op: store.OpEq, Value: true},
		store.Compare{Path: store.FieldUpdatedAt, Op: store.OpLt, Value: cutoff},
	}}
	// Find the highest _seq first and record it before deleting, so a
	// crash between the two leaves the watermark ahead, never behind.
	top, err := c.Find(ctx, store.Query{Filter: f, Sort: []store.SortKey{{Path: store.FieldSeq, Desc: true}}, Limit: 1})
	if err != nil {
		return 0, mapStoreErr("compact "+col, err)
	}
	if len(top.Docs) == 0 {
		return 0, nil
	}
	seq := store.DocSeq(top.Docs[0])
	if err := s.raiseCompaction(ctx, db, col, seq); err != nil {
		return 0, err
	}
	n, err := store.DeleteMatching(ctx, c, store.Query{Filter: store.And{Filters: []store.Filter{f,
		store.Compare{Path: store.FieldSeq, Op: store.OpLte, Value: seq}}}, Limit: 500})
	if err != nil {
		return n, mapStoreErr("compact "+col, err)
	}
	if _, err := store.DeleteMatching(ctx, db.Collection(collHistory), store.Query{Filter: store.And{Filters: []store.Filter{
		store.Compare{Path: "col", Op: store.OpEq, Value: col},
		store.Compare{Path: "at", Op: store.OpLt, Value: cutoff},
	}}, Limit: 500}); err != nil {
		return n, mapStoreErr("compact history of "+col, err)
	}
	return n, nil
}

func (s *Service) raiseCompaction(ctx context.Context, db store.DB, col string, seq int64) error {
	c := db.Collection(collCompaction)
	for range maxWriteTries {
		cur, err := c.Get(ctx, col)
		if errors.Is(err, store.ErrNotFound) {
			_, err = c.Insert(ctx, store.Doc{store.FieldID: col, "through": seq})
			if errors.Is(err, store.ErrDuplicate) {
				continue
			}
			if err != nil {
				return mapStoreErr("compaction mark", err)
			}
			return nil
		}
		if err != nil {
			return mapStoreErr("compaction mark", err)
		}
		if through, _ := cur["through"].(int64); through >= seq {
			return nil
		}
		_, err = c.Replace(ctx, col, store.DocVersion(cur), store.Doc{"through": seq})
		if errors.Is(err, store.ErrVersionConflict) {
			continue
		}
		if err != nil {
			return mapStoreErr("compaction mark", err)
		}
		return nil
	}
	return fmt.Errorf("%w: compaction mark of %s kept changing", ErrConflict, col)
}

// CompactedThrough returns the highest _seq of col whose tombstone was
// compacted away: 0 when none was.
func (s *Service) CompactedThrough(ctx context.Context, env Env, col string) (int64, error) {
	db, err := s.db(ctx, env)
	if err != nil {
		return 0, err
	}
	d, err := db.Collection(collCompaction).Get(ctx, col)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, mapStoreErr("compaction mark", err)
	}
	n, _ := d["through"].(int64)
	return n, nil
}
