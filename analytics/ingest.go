package analytics

import (
	"context"
	"errors"
	"fmt"

	"github.com/skybridgehq/skybridge/store"
)

// Result is what an ingested batch came to.
type Result struct {
	// Accepted counts the events stored (or, for a duplicate, that would
	// have been).
	Accepted int `json:"accepted"`
	// Dropped counts the events whose timestamp was older than MaxAge or
	// further ahead than MaxAhead.
	Dropped int `json:"dropped"`
	// Duplicate: the batch id was stored before; nothing was counted
	// again.
	Duplicate bool `json:"duplicate,omitempty"`
}

// Ingest validates b and stores its kept events, aggregated, as one batch
// document in db with one insert: the batch is counted whole or not at
// all. Any invalid event refuses the whole batch with ErrInvalid (the
// faults are *FieldError values naming their fields), as does a new event
// name past Config.MaxEventNames. userID, when not empty, counts towards
// distinct users and is kept only as an opaque hash.
func (s *Service) Ingest(ctx context.Context, db store.DB, b Batch, userID string) (Result, error) {
	c, err := s.check(&b)
	if err != nil {
		return Result{}, err
	}
	res := Result{Accepted: len(c.kept), Dropped: c.dropped}
	if len(c.kept) == 0 {
		return res, nil
	}
	if err := s.ensureIndexes(ctx, db); err != nil {
		return Result{}, err
	}
	if err := s.registerNames(ctx, db, c.kept); err != nil {
		return Result{}, err
	}
	user := ""
	if userID != "" {
		user = hashUser(userID)
	}
	t := tallies{}
	minDay, maxDay := c.kept[0].day, c.kept[0].day
	for _, k := range c.kept {
		x := t.get(group{Day: k.day, Event: k.ev.Name, AppVersion: k.ev.AppVersion, Platform: k.ev.Platform})
		x.count++
		addBounded(x.sessions, k.ev.Session, s.cfg.MaxDistinct)
		addBounded(x.users, user, s.cfg.MaxDistinct)
		minDay, maxDay = min(minDay, k.day), max(maxDay, k.day)
	}
	doc := store.Doc{"minDay": minDay, "maxDay": maxDay, "parts": t.parts(false)}
	if b.BatchID != "" {
		doc[store.FieldID] = b.BatchID
	}
	_, err = db.Collection(collBatches).Insert(ctx, doc)
	switch {
	case errors.Is(err, store.ErrDuplicate):
		res.Duplicate = true
	case err != nil:
		return Result{}, fmt.Errorf("analytics: store batch: %w", err)
	}
	return res, nil
}

// registerNames records the event names of kept that are new to the
// environment, refusing the batch when they would pass MaxEventNames.
// Concurrent batches may together pass the bound by a few names.
func (s *Service) registerNames(ctx context.Context, db store.DB, kept []keptEvent) error {
	v, _ := s.names.LoadOrStore(db, &nameSet{names: map[string]bool{}})
	cached := v.(*nameSet)
	first := map[string]int{} // name → index of its first event
	var names []any
	cached.mu.RLock()
	for _, k := range kept {
		if _, ok := first[k.ev.Name]; !ok && !cached.names[k.ev.Name] {
			first[k.ev.Name] = k.index
			names = append(names, k.ev.Name)
		}
	}
	cached.mu.RUnlock()
	if len(names) == 0 {
		return nil
	}
	remember := func(ns ...string) {
		cached.mu.Lock()
		for _, n := range ns {
			cached.names[n] = true
		}
		cached.mu.Unlock()
	}
	coll := db.Collection(collNames)
	page, err := coll.Find(ctx, store.Query{Filter: store.In{Path: store.FieldID, Values: names}, Limit: store.MaxLimit})
	if err != nil {
		return fmt.Errorf("analytics: read event names: %w", err)
	}
	known := map[string]bool{}
	for _, d := range page.Docs {
		known[store.DocID(d)] = true
		remember(store.DocID(d))
	}
	var fresh []string
	for _, n := range names {
		if !known[n.(string)] {
			fresh = append(fresh, n.(string))
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	total, err := coll.Count(ctx, nil)
	if err != nil {
		return fmt.Errorf("analytics: count event names: %w", err)
	}
	if room := int64(s.cfg.MaxEventNames) - total; int64(len(fresh)) > room {
		n := fresh[max(room, 0)]
		return fieldErr("events["+itoa(first[n])+"].name", "%q would be event name %d of this environment; at most %d distinct names", n, total+max(room, 0)+1, s.cfg.MaxEventNames)
	}
	for _, n := range fresh {
		if _, err := coll.Insert(ctx, store.Doc{store.FieldID: n}); err != nil && !errors.Is(err, store.ErrDuplicate) {
			return fmt.Errorf("analytics: record event name %q: %w", n, err)
		}
		remember(n)
	}
	return nil
}
