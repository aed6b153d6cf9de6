package analytics

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/skybridgehq/skybridge/store"
)

// CompactReport says what one Compact did.
type CompactReport struct {
	// Folded counts the day documents written.
	Folded int
	// Removed counts the day and batch documents deleted.
	Removed int
}

// Compact folds the days of db older than Config.CompactAfter days into
// one document per day, strips them from the batch documents (deleting
// the emptied ones), and deletes the days past the environment's
// retention. It is safe to stop at any point and run again: a day's
// document is written before its parts leave the batches, and Query
// prefers the day document, so nothing is counted twice or lost. Runs
// must not overlap (the maintenance lease serialises them).
func (s *Service) Compact(ctx context.Context, db store.DB) (CompactReport, error) {
	return s.compact(ctx, db, true)
}

// compact is Compact; without stripBatches it stops after writing the day
// documents, as a pass interrupted there would (for the tests).
func (s *Service) compact(ctx context.Context, db store.DB, stripBatches bool) (CompactReport, error) {
	var rep CompactReport
	st, err := s.Settings(ctx, db)
	if err != nil {
		return rep, err
	}
	today := s.today()
	foldBefore := day(today.AddDate(0, 0, -s.cfg.CompactAfter))
	keepFrom := day(today.AddDate(0, 0, -st.RetentionDays))

	batches := db.Collection(collBatches)
	var old []store.Doc
	err = each(ctx, batches, store.Compare{Path: "minDay", Op: store.OpLt, Value: foldBefore}, func(d store.Doc) error {
		old = append(old, d)
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("analytics: read batches: %w", err)
	}
	// Fold each old day still within retention, from every batch holding
	// it: all of them have minDay ≤ that day, so all are in old.
	byDay := map[string]tallies{}
	for _, d := range old {
		for _, p := range docParts(d) {
			dd := str(p["day"])
			if dd >= foldBefore || dd < keepFrom {
				continue
			}
			if byDay[dd] == nil {
				byDay[dd] = tallies{}
			}
			byDay[dd].merge(p, s.cfg.MaxDistinct, nil)
		}
	}
	days := make([]string, 0, len(byDay))
	for dd := range byDay {
		days = append(days, dd)
	}
	sort.Strings(days)
	stripped := map[string]bool{} // days whose parts may leave the batches
	var errs []error
	for _, dd := range days {
		_, err := db.Collection(collDays).Insert(ctx, store.Doc{store.FieldID: dd, "parts": byDay[dd].parts(true)})
		switch {
		case err == nil:
			rep.Folded++
		case errors.Is(err, store.ErrDuplicate): // folded by an earlier, interrupted run
		default:
			errs = append(errs, fmt.Errorf("analytics: fold day %s: %w", dd, err))
			continue
		}
		stripped[dd] = true
	}
	if !stripBatches {
		return rep, errors.Join(errs...)
	}
	strip := func(dd string) bool { return stripped[dd] || dd < keepFrom }
	for _, d := range old {
		n, err := s.strip(ctx, batches, d, strip)
		rep.Removed += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	n, err := store.DeleteMatching(ctx, db.Collection(collDays), store.Query{
		Filter: store.Compare{Path: store.FieldID, Op: store.OpLt, Value: keepFrom}, Limit: store.MaxLimit,
	})
	rep.Removed += n
	if err != nil {
		errs = append(errs, fmt.Errorf("analytics: remove days past retention: %w", err))
	}
	return rep, errors.Join(errs...)
}

// strip removes the parts of the days drop selects from batch document d:
// it rewrites d with the rest, or deletes it when nothing is left. It
// says how many documents it deleted.
func (s *Service) strip(ctx context.Context, batches store.Collection, d store.Doc, drop func(string) bool) (int, error) {
	var rest []any
	minDay, maxDay := "", ""
	parts := docParts(d)
	for _, p := range parts {
		dd := str(p["day"])
		if drop(dd) {
			continue
		}
		rest = append(rest, p)
		if minDay == "" || dd < minDay {
			minDay = dd
		}
		maxDay = max(maxDay, dd)
	}
	id := store.DocID(d)
	var err error
	switch {
	case len(rest) == len(parts):
		return 0, nil
	case len(rest) == 0:
		err = batches.Delete(ctx, id, store.DocVersion(d))
		if err == nil {
			return 1, nil
		}
	default:
		_, err = batches.Replace(ctx, id, store.DocVersion(d), store.Doc{"minDay": minDay, "maxDay": maxDay, "parts": rest})
	}
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrVersionConflict) {
		return 0, nil // changed by another pass; the next one strips what is left
	}
	if err != nil {
		return 0, fmt.Errorf("analytics: strip batch %s: %w", id, err)
	}
	return 0, nil
}
