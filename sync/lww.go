package sync

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/skybridgehq/skybridge/objectstore"
	"github.com/skybridgehq/skybridge/store"
)

// collEdits is the environment database collection remembering, per
// object written through sync, the edit time and change id of its
// current version: what last-write-wins compares a new change with.
const collEdits = "syncEdits"

// editAt is the field of an edit record saying when the server noted it
// (unix microseconds), for pruning.
const editAt = "at"

// pruneEdits forgets edit times noted before cutoff.
func pruneEdits(ctx context.Context, db store.DB, cutoff time.Time) (int, error) {
	return store.DeleteMatching(ctx, db.Collection(collEdits), store.Query{Filter: olderThan(editAt, cutoff)})
}

// editTime is when c was made, as last-write-wins counts it: its
// clientTime, no later than the server's clock plus ClockSkew; the
// server's clock when it has none.
func (s *Service) editTime(c Change) time.Time {
	now := s.cfg.Now().UTC()
	if c.ClientTime == nil {
		return now
	}
	t := c.ClientTime.UTC()
	if limit := now.Add(s.cfg.ClockSkew); t.After(limit) {
		t = limit
	}
	return t
}

// noteEdit remembers the edit time and change id of obj's new version.
func (s *Service) noteEdit(ctx context.Context, env objectstore.Env, col string, obj objectstore.Object, c Change) error {
	db, err := s.provider.DB(ctx, env.DB)
	if err != nil {
		return err
	}
	e := db.Collection(collEdits)
	id := col + "/" + obj.ID()
	doc := store.Doc{"v": obj.Version(), "t": s.editTime(c).UnixMicro(), "cid": c.ChangeID, editAt: s.cfg.Now().UnixMicro()}
	for range maxApplyTries {
		cur, err := e.Get(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			doc[store.FieldID] = id
			if _, err = e.Insert(ctx, doc); errors.Is(err, store.ErrDuplicate) {
				delete(doc, store.FieldID)
				continue
			}
			return err
		}
		if err != nil {
			return err
		}
		if v, _ := cur["v"].(int64); v > obj.Version() {
			return nil // a later version noted already
		}
		if _, err = e.Replace(ctx, id, store.DocVersion(cur), doc); errors.Is(err, store.ErrVersionConflict) {
			continue
		}
		return err
	}
	return fmt.Errorf("sync: edit time of %s kept changing", id)
}

// clientIsLater reports whether c wins over the server's version cur by
// last-write-wins: by edit time, then by change id, never by arrival. A
// version written outside sync counts as edited at its _updatedAt, with
// an empty change id.
func (s *Service) clientIsLater(ctx context.Context, env objectstore.Env, col string, cur objectstore.Object, c Change) bool {
	if cur == nil {
		return true
	}
	st, sid := serverEdit(ctx, s, env, col, cur)
	ct := s.editTime(c).UnixMicro()
	if ct != st {
		return ct > st
	}
	return c.ChangeID > sid
}

func serverEdit(ctx context.Context, s *Service, env objectstore.Env, col string, cur objectstore.Object) (int64, string) {
	t := int64(0)
	if u, ok := cur[store.FieldUpdatedAt].(string); ok {
		if pt, err := time.Parse(store.TimeFormat, u); err == nil {
			t = pt.UnixMicro()
		}
	}
	db, err := s.provider.DB(ctx, env.DB)
	if err != nil {
		return t, ""
	}
	d, err := db.Collection(collEdits).Get(ctx, col+"/"+cur.ID())
	if err != nil {
		return t, ""
	}
	if v, _ := d["v"].(int64); v != cur.Version() {
		return t, ""
	}
	et, _ := d["t"].(int64)
	cid, _ := d["cid"].(string)
	return et, cid
}
