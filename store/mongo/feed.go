package mongo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/skybridgehq/skybridge/store"
)

// Changes returns the documents with after < _seq ≤ the watermark, in _seq
// order, at most limit of them (≤ 0 means store.DefaultLimit; capped at
// store.MaxLimit).
func (c *Collection) Changes(ctx context.Context, after int64, limit int) ([]store.Doc, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = store.DefaultLimit
	}
	limit = min(limit, store.MaxLimit)
	ctx, cancel := c.db.p.opContext(ctx)
	defer cancel()
	w, err := c.db.watermark(ctx, c.st(), c.name)
	if err != nil {
		return nil, err
	}
	if after >= w {
		return []store.Doc{}, nil
	}
	cur, err := c.mc.Find(ctx,
		bson.D{{Key: store.FieldSeq, Value: bson.D{{Key: "$gt", Value: after}, {Key: "$lte", Value: w}}}},
		options.Find().SetSort(bson.D{{Key: store.FieldSeq, Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, c.db.p.wrap(fmt.Sprintf("changes of %q", c.name), err)
	}
	return c.readAll(ctx, cur)
}

// LastSeq returns the watermark: every write with a _seq at or below it
// has committed, and no later write can take one.
func (c *Collection) LastSeq(ctx context.Context) (int64, error) {
	if err := c.check(); err != nil {
		return 0, err
	}
	ctx, cancel := c.db.p.opContext(ctx)
	defer cancel()
	return c.db.watermark(ctx, c.st(), c.name)
}

// watermark computes the feed's safe watermark for coll (see seq.go):
// the end of the run of resolved sequences above the floor, expiring
// leases, repairing their writes and plugging holes on the way.
func (db *DB) watermark(ctx context.Context, st *collState, coll string) (int64, error) {
	st.wmMu.Lock()
	defer st.wmMu.Unlock()
	return db.watermarkLocked(ctx, st, coll)
}

// maybePrune lets writers advance the floor (and so prune allocation
// records) of a collection nobody reads the feed of. After a write with
// _seq seq it computes the watermark when seq is two floor steps past the
// floor this process knows of, at most once per floor step of writes, and
// not while another call is computing it.
func (db *DB) maybePrune(ctx context.Context, st *collState, coll string, seq int64) {
	if !st.wmMu.TryLock() {
		return
	}
	defer st.wmMu.Unlock()
	if st.wmLoaded && (seq-st.floor < 2*floorStep || seq-st.pruneTried < floorStep) {
		return
	}
	st.pruneTried = seq
	if _, err := db.watermarkLocked(ctx, st, coll); err != nil && ctx.Err() == nil {
		db.p.opts.Logger.Warn("store/mongo: advance floor", "db", db.name, "collection", coll, "err", err)
	}
}

func (db *DB) watermarkLocked(ctx context.Context, st *collState, coll string) (int64, error) {
	if !st.wmLoaded {
		f, err := db.floorOf(ctx, coll)
		if err != nil {
			return 0, err
		}
		st.floor = max(st.floor, f)
		st.wm = max(st.wm, f)
		st.wmLoaded = true
	}
	w := st.wm
	floorChecked := false
rounds:
	for range maxScanRounds {
		cur, err := db.seqs.Find(ctx,
			bson.D{{Key: "c", Value: coll}, {Key: "s", Value: bson.D{{Key: "$gt", Value: w}}}},
			options.Find().SetSort(bson.D{{Key: "s", Value: 1}, {Key: "k", Value: 1}}).SetLimit(2*scanBatch))
		if err != nil {
			return 0, db.p.wrap(fmt.Sprintf("read _seq records of %q", coll), err)
		}
		var recs []seqRecord
		if err := cur.All(ctx, &recs); err != nil {
			return 0, db.p.wrap(fmt.Sprintf("read _seq records of %q", coll), err)
		}
		groups := groupRecords(recs)
		complete := len(recs) < 2*scanBatch
		if !complete && len(groups) > 0 {
			groups = groups[:len(groups)-1] // may lack its resolution
		}
		now := time.Now().UnixMilli()
		for _, g := range groups {
			if g.seq > w+1 {
				// A gap: either pruned by another process (the floor has
				// moved past w) or numbers taken but not inserted yet.
				if !floorChecked {
					floorChecked = true
					f, err := db.floorOf(ctx, coll)
					if err != nil {
						return 0, err
					}
					st.floor = max(st.floor, f)
					if f > w {
						w = f
						continue rounds
					}
				}
				if g.alloc != nil && g.alloc.Lease > now {
					// The write above the gap is recent: the numbers below
					// it are most likely about to be inserted. Give them
					// the lease of that write before plugging them.
					break rounds
				}
				to := min(g.seq, w+1+scanBatch)
				if !db.plug(ctx, coll, w+1, to) {
					break rounds
				}
				w = to - 1
				if to < g.seq {
					break rounds // a long gap: plugged a batch at a time
				}
			}
			state := ""
			if g.res != nil {
				state = g.res.State
			} else if g.alloc != nil {
				if g.alloc.Lease > now {
					break rounds // a live write: the feed waits for it
				}
				won, cur, err := db.resolve(ctx, coll, g.seq, stateExpired)
				if err != nil {
					return 0, err
				}
				state = cur
				if won {
					db.p.opts.Logger.Warn("store/mongo: lease expired, repairing the write",
						"db", db.name, "collection", coll, "seq", g.seq, "id", g.alloc.Doc)
				}
			}
			if state == stateExpired && g.alloc != nil {
				if err := db.repair(ctx, st, coll, g.seq, g.alloc.Doc); err != nil {
					return 0, err
				}
			}
			w = g.seq
		}
		if complete {
			break
		}
	}
	st.wm = w
	if w-st.floor >= floorStep {
		db.advanceFloor(ctx, coll, w)
		st.floor = w
	}
	return w, nil
}

// seqGroup is the records of one sequence number.
type seqGroup struct {
	seq   int64
	alloc *seqRecord
	res   *seqRecord
}

// groupRecords groups records sorted by (s, k) by sequence.
func groupRecords(recs []seqRecord) []seqGroup {
	var out []seqGroup
	for i := range recs {
		r := &recs[i]
		if len(out) == 0 || out[len(out)-1].seq != r.S {
			out = append(out, seqGroup{seq: r.S})
		}
		g := &out[len(out)-1]
		if r.K == kindAlloc {
			g.alloc = r
		} else {
			g.res = r
		}
	}
	return out
}

// plug fills the holes [from, to) with abandoned allocations, so that a
// writer that took one of those numbers but has not inserted it yet has to
// take another. Long gaps (a process whose hint survived a DropDB
// elsewhere) are plugged a batch per call. It reports false when a hole turned out to be filled by
// such a writer meanwhile (the caller then stops there) or on error.
func (db *DB) plug(ctx context.Context, coll string, from, to int64) bool {
	for s := from; s < to; s++ {
		if _, err := db.seqs.InsertOne(ctx, allocation(coll, s, 0, "")); err != nil {
			return false
		}
		if _, state, err := db.resolve(ctx, coll, s, stateAbandoned); err != nil || state != stateAbandoned {
			return false
		}
	}
	return true
}

// repair handles an allocation whose lease expired: when document docID
// still carries that _seq, its write landed after all, and it is
// re-stamped with a fresh _seq so that readers who have passed the old one
// still get it. Repair is idempotent, so every reader that meets an
// expired allocation runs it; a failure leaves the watermark where it was.
func (db *DB) repair(ctx context.Context, st *collState, coll string, seq int64, docID string) error {
	if docID == "" {
		return nil
	}
	err := db.mdb.Collection(coll).FindOne(ctx,
		bson.D{{Key: store.FieldID, Value: docID}, {Key: store.FieldSeq, Value: seq}},
		options.FindOne().SetProjection(bson.D{{Key: store.FieldID, Value: 1}})).Err()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil // never landed, or superseded, or re-stamped already
	}
	if err != nil {
		return db.p.wrap(fmt.Sprintf("look up %q in %q", docID, coll), err)
	}
	_, err = db.restamp(ctx, st, coll, docID, seq)
	return err
}

// advanceFloor records w as the floor of coll and prunes allocation
// records and floors below it. Failures only delay pruning.
func (db *DB) advanceFloor(ctx context.Context, coll string, w int64) {
	log := db.p.opts.Logger
	if _, err := db.floors.InsertOne(ctx, bson.D{{Key: "c", Value: coll}, {Key: "s", Value: w}}); err != nil && !isDuplicate(err) {
		log.Warn("store/mongo: record floor", "db", db.name, "collection", coll, "seq", w, "err", err)
		return
	}
	below := bson.D{{Key: "c", Value: coll}, {Key: "s", Value: bson.D{{Key: "$lt", Value: w}}}}
	if _, err := db.seqs.DeleteMany(ctx, below); err != nil {
		log.Warn("store/mongo: prune _seq records", "db", db.name, "collection", coll, "err", err)
	}
	if _, err := db.floors.DeleteMany(ctx, below); err != nil {
		log.Warn("store/mongo: prune floors", "db", db.name, "collection", coll, "err", err)
	}
}
