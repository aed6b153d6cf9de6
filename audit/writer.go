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
}

// run is the writer goroutine: it owns appending and checkpointing.
func (s *Service) run() {
	defer close(s.done)
	heads := map[string]*head{}
	ticker := time.NewTicker(s.cfg.CheckpointInterval)
	defer ticker.Stop()
	batch := make([]item, 0, s.cfg.BatchSize)
	for {
		select {
		case it := <-s.queue:
			batch = s.fill(append(batch[:0], it))
			s.write(batch, heads)
		case <-ticker.C:
			s.checkpointAll(heads)
		case <-s.stop:
			// Close holds the lock while it closes stop, so no send is in
			// flight any more: drain what is queued and finish.
			for {
				batch = batch[:0]
			drain:
				for len(batch) < s.cfg.BatchSize {
					select {
					case it := <-s.queue:
						batch = append(batch, it)
					default:
						break drain
					}
				}
				if len(batch) == 0 {
					break
				}
				s.write(batch, heads)
			}
			s.checkpointAll(heads)
			return
		}
	}
}

// fill adds queued items to batch until it is full, FlushInterval has
// passed, or (when something waits for the outcome) the queue is empty.
func (s *Service) fill(batch []item) []item {
	urgent := batch[0].done != nil
	timer := time.NewTimer(s.cfg.FlushInterval)
	defer timer.Stop()
	for len(batch) < s.cfg.BatchSize {
		select {
		case it := <-s.queue:
			batch = append(batch, it)
			urgent = urgent || it.done != nil
			continue
		default:
		}
		if urgent {
			return batch
		}
		select {
		case it := <-s.queue:
			batch = append(batch, it)
			urgent = urgent || it.done != nil
		case <-timer.C:
			return batch
		case <-s.stop:
			return batch
		}
	}
	return batch
}

// write appends the batch's records, chain by chain in queue order, and
// reports each outcome to whoever waits for it.
func (s *Service) write(batch []item, heads map[string]*head) {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	var order []string
	byChain := map[string][]*Record{}
	for _, it := range batch {
		if it.rec == nil {
			continue
		}
		c := it.rec.Chain
		if _, ok := byChain[c]; !ok {
			order = append(order, c)
		}
		byChain[c] = append(byChain[c], it.rec)
	}
	errs := map[string]error{}
	var first error
	for _, c := range order {
		recs := byChain[c]
		stored, err := s.appendChain(ctx, c, recs, heads)
		s.written.Add(uint64(stored))
		if err != nil {
			errs[c] = err
			if first == nil {
				first = err
			}
			s.drop(&s.failed, len(recs)-stored, "store write failed", err)
		}
	}
	for _, it := range batch {
		if it.done == nil {
			continue
		}
		if it.rec == nil {
			it.done <- first
		} else {
			it.done <- errs[it.rec.Chain]
		}
	}
}

// appendChain stores recs at the next positions of chain and returns how
// many it stored. A position taken by another writer (ErrDuplicate on the
// position-derived _id) makes it re-read the head and retry; any other
// error is retried twice, then returned.
func (s *Service) appendChain(ctx context.Context, chain string, recs []*Record, heads map[string]*head) (int, error) {
	races, failures := 0, 0
	for i := 0; i < len(recs); {
		h := heads[chain]
		if h == nil {
			var err error
			if h, err = s.loadHead(ctx, chain); err != nil {
				failures++
				if failures > 2 || ctx.Err() != nil {
					return i, err
				}
				continue
			}
			heads[chain] = h
		}
		// Chain the rest of the batch onto the head and store it in one
		// call (one transaction on SQLite). What is stored is a prefix, so
		// the chain never gets a hole; a lost race stores a shorter one.
		docs := make([]store.Doc, 0, len(recs)-i)
		n, prev := h.n, h.hash
		for _, r := range recs[i:] {
			n++
			r.N, r.Prev = n, prev
			r.Hash = r.ComputeHash()
			prev = r.Hash
			docs = append(docs, r.toDoc())
		}
		stored, err := s.records.InsertMany(ctx, docs)
		if k := len(stored); k > 0 {
			last := recs[i+k-1]
			h.n, h.hash = last.N, last.Hash
			i += k
			races = 0
			if h.n-h.cpN >= int64(s.cfg.CheckpointEvery) {
				s.checkpointHead(ctx, chain, h)
			}
		}
		switch {
		case errors.Is(err, store.ErrDuplicate):
			delete(heads, chain)
			if races++; races > maxRaces {
				return i, fmt.Errorf("audit: append to chain %q: lost %d races: %w", chain, races, err)
			}
		case err != nil:
			delete(heads, chain)
			if failures++; failures > 2 || ctx.Err() != nil {
				return i, fmt.Errorf("audit: append to chain %q: %w", chain, err)
			}
		}
	}
	return len(recs), nil
}

// loadHead reads a chain's newest record and newest checkpoint from the
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
		r, err := fromDoc(p.Docs[0])
		if err != nil {
			return nil, err
		}
		h.n, h.hash = r.N, r.Hash
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
// last one.
func (s *Service) checkpointAll(heads map[string]*head) {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	for chain, h := range heads {
		if h.n > h.cpN {
			s.checkpointHead(ctx, chain, h)
		}
	}
}

func (s *Service) checkpointHead(ctx context.Context, chain string, h *head) {
	if err := s.writeCheckpoint(ctx, chain, h.n, h.hash, false); err != nil {
		s.cfg.Logger.Error("audit: checkpoint failed", "chain", chain, "n", h.n, "error", err)
		return
	}
	h.cpN = h.n
}
