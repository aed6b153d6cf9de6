package audit

import (
	"context"
	"fmt"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// Kinds of Break.
const (
	// BreakMalformed: a stored segment or record cannot be decoded, or
	// its _id, chain, positions, times or app environment do not match
	// the records it holds.
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
	// ID is the stored _id of the segment holding the record concerned
	// (or of the checkpoint), when there is one.
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

// verifyPage is how many segments Verify reads at a time.
const verifyPage = 16

// Verify walks chain from its oldest record to its newest and reports the
// first broken link: an edited record, a missing one (a deleted segment,
// or a record taken out of one), a broken prev link, a start with no prune
// anchor, a segment whose metadata contradicts its records, a record that
// contradicts a signed checkpoint, a forged checkpoint, or a tail cut
// short of the newest checkpoint. A chain being appended to concurrently
// verifies up to wherever the walk ends; running Verify alongside Prune
// can report a spurious break at the start.
func (s *Service) Verify(ctx context.Context, chain string) (VerifyReport, error) {
	rep := VerifyReport{Chain: chain}
	cps, err := s.listCheckpoints(ctx, chain)
	if err != nil {
		return rep, err
	}
	rep.Checkpoints = len(cps)
	v := &verifier{chain: chain, rep: &rep, signed: map[int64]Checkpoint{}, pruned: map[int64]Checkpoint{}}
	var newest *Checkpoint
	for i, c := range cps {
		if !s.validMAC(c) {
			rep.Break = &Break{N: c.N, ID: recordID(chain, c.N), Kind: BreakCheckpoint, Reason: "checkpoint signature does not verify"}
			return rep, nil
		}
		if c.Pruned {
			v.pruned[c.N] = c
		} else {
			v.signed[c.N] = c
		}
		if newest == nil || c.N >= newest.N {
			newest = &cps[i]
		}
	}

	q := store.Query{
		Filter: store.Compare{Path: "chain", Op: store.OpEq, Value: chain},
		Sort:   []store.SortKey{{Path: "n"}},
		Limit:  verifyPage,
	}
	for {
		p, err := s.records.Find(ctx, q)
		if err != nil {
			return rep, fmt.Errorf("audit: verify chain %q: %w", chain, err)
		}
		for _, d := range p.Docs {
			sg, err := segmentFromDoc(d)
			if b := v.segment(&sg, err); b != nil {
				b.ID = sg.id
				rep.Break = b
				return rep, nil
			}
		}
		if p.Cursor == "" {
			break
		}
		q.Cursor = p.Cursor
	}
	if newest != nil && newest.N > rep.Last && !(rep.Records == 0 && v.pruned[newest.N].MAC != "") {
		rep.Break = &Break{N: rep.Last + 1, Kind: BreakTruncated,
			Reason: fmt.Sprintf("chain ends at n=%d but a checkpoint signs n=%d: newer records were deleted", rep.Last, newest.N)}
		return rep, nil
	}
	rep.OK = true
	return rep, nil
}

// verifier carries Verify's walk from one segment to the next.
type verifier struct {
	chain          string
	rep            *VerifyReport
	prev           *Record // the last record checked
	signed, pruned map[int64]Checkpoint
}

// segment checks one segment (decoded with error err) after the previous
// ones: its metadata, then each record. A record missing from its segment
// shows as missing at its position, like a deleted segment does.
func (v *verifier) segment(sg *segment, err error) *Break {
	malformed := func(n int64, format string, args ...any) *Break {
		return &Break{N: n, Kind: BreakMalformed, Reason: fmt.Sprintf(format, args...)}
	}
	missing := func(from, to int64) *Break {
		return &Break{N: from, Kind: BreakMissing, Reason: fmt.Sprintf("records %d..%d are missing", from, to)}
	}
	switch {
	case err != nil:
		return malformed(sg.first, "%v", err)
	case sg.chain != v.chain:
		return malformed(sg.first, "segment of chain %q stored as chain %q", sg.chain, v.chain)
	case sg.id != recordID(v.chain, sg.first):
		return malformed(sg.first, "_id %q does not match first position %d", sg.id, sg.first)
	case sg.last < sg.first:
		return malformed(sg.first, "segment ends (n=%d) before it starts", sg.last)
	case v.prev != nil && sg.first > v.prev.N+1:
		return missing(v.prev.N+1, sg.first-1)
	case v.prev != nil && sg.first <= v.prev.N:
		return malformed(sg.first, "segment overlaps the previous one (n=%d)", v.prev.N)
	}
	var from, to time.Time // of the records
	for i := range sg.records {
		r := &sg.records[i]
		want := sg.first + int64(i)
		switch {
		case r.N > want:
			return missing(want, r.N-1)
		case r.N < want || r.N > sg.last:
			return malformed(r.N, "record n=%d out of place in segment %d..%d", r.N, sg.first, sg.last)
		case r.Chain != v.chain:
			return malformed(r.N, "record of chain %q in chain %q", r.Chain, v.chain)
		}
		if b := checkLink(v.prev, r, v.pruned, v.signed); b != nil {
			return b
		}
		if hashOf([]byte(sg.raw[i])) != r.Hash { // the same content, stored otherwise
			return &Break{N: r.N, Kind: BreakEdited, Reason: "stored record does not match its hash"}
		}
		if sg.format >= 2 && (len(sg.short[i]) != shortHashLen || r.Hash[:shortHashLen] != sg.short[i]) {
			return &Break{N: r.N, Kind: BreakEdited, Reason: "record content does not match its stored hash"}
		}
		if v.rep.Records == 0 {
			v.rep.First = r.N
		}
		v.rep.Records++
		v.rep.Last, v.rep.Head = r.N, r.Hash
		v.prev = r
		if i == 0 || r.Time.Before(from) {
			from = r.Time
		}
		if i == 0 || r.Time.After(to) {
			to = r.Time
		}
	}
	if n := sg.first + int64(len(sg.records)); n <= sg.last {
		return missing(n, sg.last)
	}
	if sg.format >= 2 && v.prev.Hash != sg.hash {
		return &Break{N: sg.last, Kind: BreakEdited, Reason: "segment content does not end in its stored hash"}
	}
	if !from.Equal(sg.from) || !to.Equal(sg.to) {
		return malformed(sg.first, "segment times %s..%s do not match its records' %s..%s",
			store.FormatTime(sg.from), store.FormatTime(sg.to), store.FormatTime(from), store.FormatTime(to))
	}
	if r := sg.records[0]; r.App != sg.app || r.Env != sg.env {
		return malformed(sg.first, "segment app environment %q/%q does not match its records'", sg.app, sg.env)
	}
	return nil
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
