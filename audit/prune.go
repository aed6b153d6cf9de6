package audit

import (
	"context"
	"fmt"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// Prune removes chain's oldest segments whose records are all older than
// before, and returns how many records it removed. It removes whole
// segments only, and only a prefix of the chain: it stops at the first
// segment holding a record stamped at or after before, so a segment that
// straddles the cutoff stays whole with its older records (they outlive
// the cutoff by at most maxSegmentSpan, since a segment spans no more
// record time). It refuses a chain that does not verify (ErrBroken):
// anchoring a tampered chain would launder the tampering. It first writes
// a signed prune anchor for the newest record it removes, so that Verify
// accepts the shortened chain, then deletes the segments and the
// checkpoints below the anchor.
func (s *Service) Prune(ctx context.Context, chain string, before time.Time) (int, error) {
	rep, err := s.Verify(ctx, chain)
	if err != nil {
		return 0, err
	}
	if !rep.OK {
		return 0, fmt.Errorf("%w: chain %q at n=%d: %s", ErrBroken, chain, rep.Break.N, rep.Break.Reason)
	}
	if rep.Records == 0 {
		return 0, nil
	}
	var ids []string
	var sizes []int // records of each segment of ids
	var upTo int64
	var hash string
	removed := 0
	q := store.Query{
		Filter: store.Compare{Path: "chain", Op: store.OpEq, Value: chain},
		Sort:   []store.SortKey{{Path: "n"}},
		Limit:  verifyPage,
	}
scan:
	for {
		p, err := s.records.Find(ctx, q)
		if err != nil {
			return 0, fmt.Errorf("audit: prune chain %q: %w", chain, err)
		}
		for _, d := range p.Docs {
			if !segmentTo(d).Before(before) {
				break scan
			}
			sg, err := segmentFromDoc(d)
			if err != nil {
				return 0, err
			}
			if len(sg.records) == 0 {
				return 0, fmt.Errorf("%w: segment %q holds no records", ErrCorrupt, sg.id)
			}
			last := sg.records[len(sg.records)-1]
			ids = append(ids, sg.id)
			sizes = append(sizes, len(sg.records))
			upTo, hash = last.N, last.Hash
			removed += len(sg.records)
		}
		if p.Cursor == "" {
			break
		}
		q.Cursor = p.Cursor
	}
	if len(ids) == 0 {
		return 0, nil
	}
	if err := s.writeCheckpoint(ctx, chain, upTo, hash, true); err != nil {
		return 0, err
	}
	deleted := 0
	for i, id := range ids {
		if err := s.records.Delete(ctx, id, 0); err != nil {
			return deleted, fmt.Errorf("audit: prune chain %q: %w", chain, err)
		}
		deleted += sizes[i]
	}
	if _, err := s.deleteBelow(ctx, s.checkpoints, chain, upTo); err != nil {
		return removed, err
	}
	return removed, nil
}

// deleteBelow deletes chain's documents of col whose n is below limit.
func (s *Service) deleteBelow(ctx context.Context, col store.Collection, chain string, limit int64) (int, error) {
	q := store.Query{
		Filter: store.And{Filters: []store.Filter{
			store.Compare{Path: "chain", Op: store.OpEq, Value: chain},
			store.Compare{Path: "n", Op: store.OpLt, Value: limit}}},
		Sort:  []store.SortKey{{Path: "n"}},
		Limit: store.MaxLimit,
	}
	removed, err := store.DeleteMatching(ctx, col, q)
	if err != nil {
		return removed, fmt.Errorf("audit: prune chain %q: %w", chain, err)
	}
	return removed, nil
}
