package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// writeTimeout bounds one batch's store work, so that a hung store cannot
// wedge the writer forever.
const writeTimeout = 30 * time.Second

// maxRaces is how many times in a row the writer re-reads a chain head
// after losing a position to another writer before it gives up on a batch.
const maxRaces = 1000

// head is the writer's view of a chain's newest position and of its newest
// checkpoint.
type head struct {
	n    int64
	hash string
	cpN  int64
	// seenN is n at the previous checkpointAll.
	seenN int64
}

// run is the writer goroutine: it owns appending and checkpointing. It
// sleeps until a batch's worth of records is queued (full), someone waits
// for an outcome (urgent), FlushInterval has passed, or Close; then it
// stores what is queued.
func (s *Service) run() {
	defer close(s.done)
	heads := map[string]*head{}
	checkpoints := time.NewTicker(s.cfg.CheckpointInterval)
	defer checkpoints.Stop()
	flush := time.NewTicker(s.cfg.FlushInterval)
	defer flush.Stop()
	batch := make([]item, 0, s.cfg.BatchSize)
	for {
		select {
		case <-s.full:
			s.drain(batch, heads, false)
		case <-s.urgent:
			s.drain(batch, heads, true)
		case <-flush.C:
			s.drain(batch, heads, true)
		case <-checkpoints.C:
			s.checkpointAll(heads)
		case <-s.stop:
			// Close holds the lock while it closes stop, so no send is in
			// flight any more: store what is queued and finish.
			s.drain(batch, heads, true)
			s.checkpointAll(heads)
			return
		}
	}
}

// drain stores the items that were queued when the writer woke, in
// batches of at most BatchSize: whole batches only, unless all is set.
// Items queued while it writes wait for their own wakeup (a full batch,
// an urgent item, FlushInterval): chasing them would store a trickle of
// tiny segments under load, each costing the store a transaction of its
// own, and split a caller's batch in two behind its back. Records left
// waiting are stored within FlushInterval.
func (s *Service) drain(batch []item, heads map[string]*head, all bool) {
	left := len(s.queue) // only the writer receives: these stay queued
	for left > 0 && (all || left >= s.cfg.BatchSize) {
		batch = batch[:0]
		for len(batch) < min(left, s.cfg.BatchSize) {
			batch = append(batch, <-s.queue)
		}
		left -= len(batch)
		s.write(batch, heads)
	}
}

// chainWork is what a batch still has to append to one chain.
type chainWork struct {
	chain string
	recs  []*Record // not stored yet, in queue order
	err   error     // set when the writer gave up on the chain
}

// write appends the batch's records, one segment per chain in queue order
// (more when a chain's records span more than maxSegmentSpan), and reports
// each outcome to whoever waits for it.
func (s *Service) write(batch []item, heads map[string]*head) {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	var work []*chainWork
	byChain := map[string]*chainWork{}
	for _, it := range batch {
		if it.rec == nil {
			continue
		}
		w := byChain[it.rec.Chain]
		if w == nil {
			w = &chainWork{chain: it.rec.Chain}
			byChain[w.chain] = w
			work = append(work, w)
		}
		w.recs = append(w.recs, it.rec)
	}
	s.appendSegments(ctx, work, heads)
	var first error
	for _, w := range work {
		if w.err != nil {
			if first == nil {
				first = w.err
			}
			s.drop(&s.failed, len(w.recs), "store write failed", w.err)
		}
	}
	for _, it := range batch {
		if it.done == nil {
			continue
		}
		if it.rec == nil {
			it.done <- first
		} else {
			it.done <- byChain[it.rec.Chain].err
		}
	}
	// Nobody holds the records any more: whoever waited has its answer
	// and Record copied the caller's value.
	for i, it := range batch {
		if it.rec != nil {
			*it.rec = Record{}
			s.pool.Put(it.rec)
		}
		batch[i] = item{}
	}
}

// segmentRef ties a segment document being inserted to the chain work it
// comes from and the number of records it holds.
type segmentRef struct {
	w     *chainWork
	count int
}

// appendSegments stores every chain's records at the chain's next
// positions, as segments, all in one InsertMany (one transaction on
// SQLite). What InsertMany stores is a prefix of the segments, so a chain
// never gets a hole. It leaves in each chainWork the records it could not
// store and the error it gave up with.
//
// Why a unique (chain, n) index on the segment's first position detects
// every race between writers: each writer starts a segment at h+1, where
// h is a head it observed, which is always a segment boundary — the last
// position of a committed segment (its own last insert, or the newest
// segment it read), or the position of a checkpoint, which is only ever
// signed at a head or, by Prune, at the last position of a removed
// segment. Committed segments tile the chain's positions without gaps
// (induction: true of the empty chain; an insert that commits keeps it
// true, below). If h is the chain's newest position H, the segment
// extends the tiling. If h < H, position h+1 is the first position of a
// committed segment, because h is a boundary and the tiling has no gap,
// so the insert collides on (chain, h+1) and fails with ErrDuplicate; the
// loser re-reads the head and renumbers. Two segments can therefore never
// overlap. (The one exception would be a head older than a Prune that
// removed the segment at h+1: checkpointAll forgets idle heads, and Prune
// removes only segments older than a retention of at least a day in
// practice, so a cached head is never that old.)
func (s *Service) appendSegments(ctx context.Context, work []*chainWork, heads map[string]*head) {
	races, failures := 0, 0
	// canon holds one record's canonical encoding (what its hash covers);
	// b builds segments in compact lines. Both buffers are the writer's and
	// live across batches: regrowing them for every batch allocated more
	// than storing the batch did.
	canon := s.canon[:0]
	defer func() { s.canon = canon }()
	b := &s.seg
	b.format = s.format
	if b.format == 0 {
		b.format = newestFormat
	}
	giveUp := func(live []*chainWork, err error) {
		for _, w := range live {
			w.err = fmt.Errorf("audit: append to chain %q: %w", w.chain, err)
		}
	}
	for {
		var live []*chainWork
		for _, w := range work {
			if w.err == nil && len(w.recs) > 0 {
				live = append(live, w)
			}
		}
		if len(live) == 0 {
			return
		}
		var docs []store.Doc
		var refs []segmentRef
		var loadErr error
		for _, w := range live {
			h := heads[w.chain]
			if h == nil {
				var err error
				if h, err = s.loadHead(ctx, w.chain); err != nil {
					loadErr = err
					break
				}
				heads[w.chain] = h
			}
			// Chain the records onto the head; they are renumbered from
			// scratch on every round.
			n, prev := h.n, h.hash
			for rest := w.recs; len(rest) > 0; {
				k := segmentEnd(rest, s.cfg.BatchSize)
				b.reset()
				for _, r := range rest[:k] {
					n++
					r.N, r.Prev = n, prev
					canon = r.appendCanonical(canon[:0])
					r.Hash = hashOf(canon)
					prev = r.Hash
					b.add(r, canon)
				}
				docs = append(docs, b.doc())
				refs = append(refs, segmentRef{w: w, count: k})
				rest = rest[k:]
			}
		}
		if loadErr != nil {
			if failures++; failures > 2 || ctx.Err() != nil {
				giveUp(live, loadErr)
				return
			}
			continue
		}
		stored, err := s.records.InsertMany(ctx, docs)
		for _, ref := range refs[:len(stored)] {
			w := ref.w
			last := w.recs[ref.count-1]
			h := heads[w.chain]
			h.n, h.hash = last.N, last.Hash
			w.recs = w.recs[ref.count:]
			s.written.Add(uint64(ref.count))
			if h.n-h.cpN >= int64(s.cfg.CheckpointEvery) {
				s.checkpointHead(ctx, w.chain, h)
			}
		}
		if len(stored) > 0 {
			races = 0
		}
		if err == nil {
			continue
		}
		// Which segment failed is not known (SQLite stores all or none):
		// every chain with a segment left re-reads its head.
		for _, ref := range refs[len(stored):] {
			delete(heads, ref.w.chain)
		}
		switch {
		case errors.Is(err, store.ErrDuplicate):
			if races++; races > maxRaces {
				giveUp(live, fmt.Errorf("lost %d races: %w", races, err))
				return
			}
		default:
			if failures++; failures > 2 || ctx.Err() != nil {
				giveUp(live, err)
				return
			}
		}
	}
}

// loadHead reads a chain's newest segment and newest checkpoint from the
// store; the head is whichever is further (a fully pruned chain continues
// from its checkpoint).
func (s *Service) loadHead(ctx context.Context, chain string) (*head, error) {
	q := store.Query{
		Filter: store.Compare{Path: "chain", Op: store.OpEq, Value: chain},
		Sort:   []store.SortKey{{Path: "n", Desc: true}},
		Limit:  1,
	}
	h := &head{}
	p, err := s.records.Find(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("audit: read head of chain %q: %w", chain, err)
	}
	if len(p.Docs) == 1 {
		sg, err := segmentFromDoc(p.Docs[0])
		if err != nil {
			return nil, err
		}
		if len(sg.records) == 0 {
			return nil, fmt.Errorf("%w: segment %q holds no records", ErrCorrupt, sg.id)
		}
		last := sg.records[len(sg.records)-1]
		h.n, h.hash = last.N, last.Hash
	}
	cp, err := s.latestCheckpoint(ctx, chain)
	if err != nil {
		return nil, err
	}
	if cp != nil {
		h.cpN = cp.N
		if cp.N > h.n {
			h.n, h.hash = cp.N, cp.Hash
		}
	}
	return h, nil
}

// checkpointAll signs a checkpoint for every chain that grew since its
// last one, and forgets the heads of chains that did not grow since the
// previous call: a head cached for long could predate a Prune (see
// appendSegments), and re-reading an idle chain's head costs one query.
func (s *Service) checkpointAll(heads map[string]*head) {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	for chain, h := range heads {
		if h.n > h.cpN {
			s.checkpointHead(ctx, chain, h)
		}
		if h.n == h.seenN {
			delete(heads, chain)
			continue
		}
		h.seenN = h.n
	}
}

func (s *Service) checkpointHead(ctx context.Context, chain string, h *head) {
	if err := s.writeCheckpoint(ctx, chain, h.n, h.hash, false); err != nil {
		s.cfg.Logger.Error("audit: checkpoint failed", "chain", chain, "n", h.n, "error", err)
		return
	}
	h.cpN = h.n
}
