package trigger

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/skybridgehq/skybridge/events"
	"github.com/skybridgehq/skybridge/orchestration"
	"github.com/skybridgehq/skybridge/store"
)

// objectsCollection is the store collection of an object collection
// (objectstore keeps client collection c in "o_c").
func objectsCollection(col string) string { return "o_" + col }

// readFeed reads one event trigger's change feed after its cursor,
// enqueues a firing per matching change, and then advances the cursor. A
// trigger seen for the first time starts at the feed's end: it fires for
// changes made after it went live on a node.
func (s *Service) readFeed(ctx context.Context, env Env, version int, ti orchestration.TriggerInfo) error {
	db, err := s.stores.DB(ctx, env.DB)
	if err != nil {
		return fmt.Errorf("open %s: %w", env.DB, err)
	}
	feed := db.Collection(objectsCollection(ti.Collection))
	cursors := s.sys.Collection(CursorsCollection)
	cid := hashID("feed", env.AppID, env.Name, ti.Name)
	cur, err := cursors.Get(ctx, cid)
	if errors.Is(err, store.ErrNotFound) || err == nil && cur["collection"] != ti.Collection {
		last, err := feed.LastSeq(ctx)
		if err != nil {
			return fmt.Errorf("feed position: %w", err)
		}
		doc := store.Doc{store.FieldID: cid, "app": env.AppID, "env": env.Name, "trigger": ti.Name, "collection": ti.Collection, "after": last}
		if cur == nil {
			_, err = cursors.Insert(ctx, doc)
		} else {
			_, err = cursors.Replace(ctx, cid, store.DocVersion(cur), doc)
		}
		if err != nil && !errors.Is(err, store.ErrDuplicate) && !errors.Is(err, store.ErrVersionConflict) {
			return fmt.Errorf("create cursor: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("read cursor: %w", err)
	}
	m, err := events.NewMatcher(ti.Filter)
	if err != nil {
		return fmt.Errorf("filter: %w", err)
	}
	after := toInt64(cur["after"])
	docs, err := feed.Changes(ctx, after, s.cfg.BatchSize)
	if err != nil {
		return fmt.Errorf("read changes: %w", err)
	}
	if len(docs) == 0 {
		return nil
	}
	for _, d := range docs {
		ev, ok := eventOf(ti.Collection, d)
		if !ok || !slices.Contains(ti.Events, ev.Type) {
			continue
		}
		// Deletions are tombstones without content: the filter selects
		// created and updated objects only.
		if ev.Type != orchestration.EventDeleted && !m.Match(d) {
			continue
		}
		if ti.Delay > 0 {
			err = s.upsertDelayed(ctx, env, version, ti, ev)
		} else {
			id := hashID(env.AppID, env.Name, ti.Name, kindEvent, ev.ID, strconv.FormatInt(ev.Seq, 10))
			var doc store.Doc
			if doc, err = newFiring(id, id, kindEvent, env, version, ti.Name, ev.Time, ev); err == nil {
				err = s.insertFiring(ctx, doc)
			}
		}
		if err != nil {
			return err // the cursor stays: the next round reads again
		}
	}
	next := copyFields(cur)
	next["after"] = toInt64(docs[len(docs)-1][store.FieldSeq])
	if _, err := cursors.Replace(ctx, cid, store.DocVersion(cur), next); err != nil && !errors.Is(err, store.ErrVersionConflict) {
		return fmt.Errorf("advance cursor: %w", err)
	}
	if len(docs) == s.cfg.BatchSize {
		select { // more to read: another round at once
		case s.nudge <- struct{}{}:
		default:
		}
	}
	return nil
}

// eventOf classifies a change: created (first version), deleted
// (tombstone) or updated.
func eventOf(col string, d store.Doc) (orchestration.TriggerEvent, bool) {
	id := store.DocID(d)
	if id == "" {
		return orchestration.TriggerEvent{}, false
	}
	ev := orchestration.TriggerEvent{Collection: col, ID: id, Seq: toInt64(d[store.FieldSeq]), Object: d}
	switch {
	case d[store.FieldDeleted] == true:
		ev.Type = orchestration.EventDeleted
	case store.DocVersion(d) == 1:
		ev.Type = orchestration.EventCreated
	default:
		ev.Type = orchestration.EventUpdated
	}
	ev.Time = time.Now().UTC()
	if t, ok := d[store.FieldUpdatedAt].(string); ok {
		if pt, err := time.Parse(store.TimeFormat, t); err == nil {
			ev.Time = pt
		}
	}
	return ev, true
}
