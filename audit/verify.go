package audit

import (
	"context"
	"fmt"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// Kinds of Break.
const (
	// BreakMalformed: a stored record cannot be decoded, or its _id does
	// not match its position.
	BreakMalformed = "malformed"
	// BreakEdited: a record's content no longer matches its hash.
	BreakEdited = "edited"
	// BreakLink: a record's prev is not its predecessor's hash.
	BreakLink = "link"
	// BreakMissing: positions are missing (a record was deleted), or the
	// chain starts after n = 1 with no prune anchor before it.
	BreakMissing = "missing"
	// BreakCheckpoint: a checkpoint's signature is invalid, or a record
	// differs from the signed checkpoint at its position.
	BreakCheckpoint = "checkpoint"
	// BreakTruncated: the chain ends before its newest checkpoint.
	BreakTruncated = "truncated"
)

// Break is the first broken link Verify found.
type Break struct {
	// N is the chain position where the break shows.
	N int64 `json:"n"`
	// ID is the stored _id of the record (or checkpoint) concerned, when
	// there is one.
	ID string `json:"id,omitempty"`
	// Kind is one of the Break* constants.
	Kind string `json:"kind"`
	// Reason says what is wrong, in words.
	Reason string `json:"reason"`
}

// VerifyReport is the outcome of Verify.
type VerifyReport struct {
	Chain string `json:"chain"`
	// OK is true when no break was found.
	OK bool `json:"ok"`
	// Records is how many records were checked.
	Records int64 `json:"records"`
	// First and Last are the positions of the oldest and newest records
	// checked (0 when none).
	First int64 `json:"first"`
	Last  int64 `json:"last"`
	// Head is the hash of record Last.
	Head string `json:"head,omitempty"`
	// Checkpoints is how many checkpoints the chain has.
	Checkpoints int `json:"checkpoints"`
	// Break is the first broken link, nil when OK.
	Break *Break `json:"break,omitempty"`
}

// Verify walks chain from its oldest record to its newest and reports the
// first broken link: an edited record, a missing one, a broken prev link,
// a start with no prune anchor, a record that contradicts a signed
// checkpoint, a forged checkpoint, or a tail cut short of the newest
// checkpoint. A chain being appended to concurrently verifies up to
// wherever the walk ends; running Verify alongside Prune can report a
// spurious break at the start.
func (s *Service) Verify(ctx context.Context, chain string) (VerifyReport, error) {
	rep := VerifyReport{Chain: chain}
	cps, err := s.listCheckpoints(ctx, chain)
	if err != nil {
		return rep, err
	}
	rep.Checkpoints = len(cps)
	signed := map[int64]Checkpoint{} // normal checkpoints by position
	pruned := map[int64]Checkpoint{} // prune anchors by position
	var newest *Checkpoint
	for i, c := range cps {
		if !s.validMAC(c) {
			rep.Break = &Break{N: c.N, ID: recordID(chain, c.N), Kind: BreakCheckpoint, Reason: "checkpoint signature does not verify"}
			return rep, nil
		}
		if c.Pruned {
			pruned[c.N] = c
		} else {
			signed[c.N] = c
		}
		if newest == nil || c.N >= newest.N {
			newest = &cps[i]
		}
	}

	q := store.Query{
		Filter: store.Compare{Path: "chain", Op: store.OpEq, Value: chain},
		Sort:   []store.SortKey{{Path: "n"}},
		Limit:  store.MaxLimit,
	}
	var prev *Record
	for {
		p, err := s.records.Find(ctx, q)
		if err != nil {
			return rep, fmt.Errorf("audit: verify chain %q: %w", chain, err)
		}
		for _, d := range p.Docs {
			r, err := fromDoc(d)
			id, _ := d[store.FieldID].(string)
			if err == nil && id != recordID(chain, r.N) {
				err = fmt.Errorf("_id %q does not match position %d", id, r.N)
			}
			if err != nil {
				rep.Break = &Break{N: r.N, ID: id, Kind: BreakMalformed, Reason: err.Error()}
				return rep, nil
			}
			if b := checkLink(prev, &r, pruned, signed); b != nil {
				b.ID = id
				rep.Break = b
				return rep, nil
			}
			if rep.Records == 0 {
				rep.First = r.N
			}
			rep.Records++
			rep.Last, rep.Head = r.N, r.Hash
			prev = &r
		}
		if p.Cursor == "" {
			break
		}
		q.Cursor = p.Cursor
	}
	if newest != nil && newest.N > rep.Last && !(rep.Records == 0 && pruned[newest.N].MAC != "") {
		rep.Break = &Break{N: rep.Last + 1, Kind: BreakTruncated,
			Reason: fmt.Sprintf("chain ends at n=%d but a checkpoint signs n=%d: newer records were deleted", rep.Last, newest.N)}
		return rep, nil
	}
	rep.OK = true
	return rep, nil
}

// checkLink checks record r against its predecessor (nil for the oldest
// record) and the checkpoints.
func checkLink(prev, r *Record, pruned, signed map[int64]Checkpoint) *Break {
	switch {
	case prev == nil && r.N == 1:
		if r.Prev != "" {
			return &Break{N: r.N, Kind: BreakLink, Reason: "first record has a prev hash"}
		}
	case prev == nil:
		a, ok := pruned[r.N-1]
		if !ok {
			return &Break{N: r.N, Kind: BreakMissing, Reason: fmt.Sprintf("records 1..%d are missing and no prune anchor covers them", r.N-1)}
		}
		if a.Hash != r.Prev {
			return &Break{N: r.N, Kind: BreakLink, Reason: fmt.Sprintf("prev does not match the prune anchor at n=%d", a.N)}
		}
	case r.N != prev.N+1:
		return &Break{N: prev.N + 1, Kind: BreakMissing, Reason: fmt.Sprintf("records %d..%d are missing", prev.N+1, r.N-1)}
	case r.Prev != prev.Hash:
		return &Break{N: r.N, Kind: BreakLink, Reason: fmt.Sprintf("prev does not match the hash of record n=%d", prev.N)}
	}
	if r.ComputeHash() != r.Hash {
		return &Break{N: r.N, Kind: BreakEdited, Reason: "record content does not match its hash"}
	}
	for _, m := range []map[int64]Checkpoint{signed, pruned} {
		if c, ok := m[r.N]; ok && c.Hash != r.Hash {
			return &Break{N: r.N, Kind: BreakCheckpoint, Reason: "record differs from the signed checkpoint at its position"}
		}
	}
	return nil
}

// Prune removes chain's records older than before (its oldest records, up
// to the first one stamped at or after before) and returns how many it
// removed. It refuses a chain that does not verify (ErrBroken): anchoring
// a tampered chain would launder the tampering. It first writes a signed
// prune anchor for the newest record it removes, so that Verify accepts
// the shortened chain, then deletes the records and the checkpoints below
// the anchor.
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
	chainF := store.Compare{Path: "chain", Op: store.OpEq, Value: chain}
	p, err := s.records.Find(ctx, store.Query{
		Filter: store.And{Filters: []store.Filter{chainF,
			store.Compare{Path: "time", Op: store.OpGte, Value: store.FormatTime(before)}}},
		Sort:  []store.SortKey{{Path: "n"}},
		Limit: 1,
	})
	if err != nil {
		return 0, fmt.Errorf("audit: prune chain %q: %w", chain, err)
	}
	upTo, hash := rep.Last, rep.Head
	if len(p.Docs) == 1 {
		keep, err := fromDoc(p.Docs[0])
		if err != nil {
			return 0, err
		}
		upTo, hash = keep.N-1, keep.Prev
	}
	if upTo < rep.First {
		return 0, nil
	}
	if err := s.writeCheckpoint(ctx, chain, upTo, hash, true); err != nil {
		return 0, err
	}
	removed, err := s.deleteBelow(ctx, s.records, chain, upTo+1)
	if err != nil {
		return removed, err
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
	removed := 0
	for {
		p, err := col.Find(ctx, q)
		if err != nil {
			return removed, fmt.Errorf("audit: prune chain %q: %w", chain, err)
		}
		if len(p.Docs) == 0 {
			return removed, nil
		}
		for _, d := range p.Docs {
			if err := col.Delete(ctx, store.DocID(d), 0); err != nil {
				return removed, fmt.Errorf("audit: prune chain %q: %w", chain, err)
			}
			removed++
		}
	}
}
