package mongo

// The change sequence.
//
// The store contract wants every write to take a _seq, and the feed
// (Changes, LastSeq) to be gap-free in commit order: once a reader has seen
// _seq N, no write with _seq ≤ N may commit later. SQLite gets that from its
// single writer. MongoDB has many writers and commits them in any order, and
// neither transactions nor change streams may be assumed (FerretDB has
// neither, and a plain replica set must do). The only primitive used for
// correctness is the one every MongoDB-wire server keeps atomic: an insert
// into a unique index either happens once or fails with a duplicate key.
//
// Records. Each database has an internal collection _sb_seq. Every record
// in it is inserted once and never updated: an allocation {c, s, k: "a",
// lease, doc} or a resolution {c, s, k: "r", st} whose _id is derived from
// (c, s, k), with a unique index on (c, s, k). Deciding anything by a
// first-insert-wins race keeps every transition atomic on FerretDB too,
// where an update filtered on the old state (a CAS) is not.
//
// Allocation. A writer takes a _seq by inserting the allocation record for
// candidate next+1 with a lease (now + LeaseDuration), where next is the
// highest sequence this process has seen; a duplicate key means another
// writer holds it, so the writer reads the current maximum and tries above
// it. No server-side counter ($inc) is involved.
//
// Commit. The writer calls the commit hook, writes its document with that
// _seq, and then inserts the resolution "committed". A write refused by the
// server (duplicate, version conflict, not found) or by the hook resolves
// its allocation as "abandoned" instead. A write whose outcome is unknown
// (network error) leaves the allocation unresolved, for the lease to settle.
//
// Watermark. Readers only hand out documents with _seq ≤ W, where W is the
// end of the run of resolved sequences that starts at the floor (below). An
// unresolved allocation with a live lease stops the run, and so does a hole:
// a candidate some writer took but has not inserted yet. A hole below a
// higher record whose lease has run out is plugged by inserting an
// allocation and an "abandoned" resolution in its place; if the writer
// then tries to insert, it gets a duplicate key and takes another number. So W never passes a _seq whose
// write might still happen, whatever order writes commit in.
//
// Leases. An allocation whose lease has run out (its writer crashed or
// stalled) must not stall the feed. A reader resolves it as "expired",
// which makes the writer's own commit lose, and then looks for the document
// it was stamped on ({_id: doc, _seq: s}). If the write did land, the
// reader re-stamps the document with a freshly allocated, committed _seq,
// so the write is still delivered above the watermark. The repair is
// idempotent and every reader that meets an expired allocation above its
// last watermark runs it, so a reader that dies half-way leaves it to the
// next. A writer whose commit loses to "expired" re-stamps its document the
// same way. Re-stamping is a CAS on the document's _seq, so of several
// repairers only one moves it (on MongoDB; see the FerretDB note below).
//
// Floor and pruning. Every floorStep sequences the watermark is recorded as
// the collection's floor in _sb_seqfloor (insert-only, unique on (c, s)),
// and records and older floors below it are deleted; readers do it, and so
// do writers of collections nobody reads the feed of. The highest record
// always stays, so allocation never restarts. Because pruned numbers could
// be inserted again by a writer whose idea of next is very old, every
// writer reads the floor after its insert and gives up any allocation at or
// below it; all pruned numbers lie below the floor, and the floor never
// moves back, so no write ever commits under a _seq a reader may already
// have passed.
//
// Residual risks and costs:
//   - A write whose outcome is unknown (network error, the server gone)
//     holds the feed back for up to LeaseDuration. Writes run detached
//     from their caller's context once they have a _seq, so a cancelled
//     request does not cause one.
//   - Leases compare the writer's wall clock (when it wrote the lease) with
//     the reader's. Skew only makes leases expire early or late; an early
//     expiry costs a re-stamp, never a lost write.
//   - A writer that crashes after its document write but before the commit
//     is repaired by the lease. One whose document write is delayed in the
//     network past its lease, lands after a reader has repaired (and found
//     nothing), and whose process then dies before it tries to commit, leaves
//     a document stamped with a _seq below the watermark: readers that
//     already passed it miss that write until the document is written again.
//   - A document written again concurrently can see its _seq move down (an
//     older allocation landing last). Delivery stays gap-free because the
//     older allocation holds the watermark until it commits, but the _seq
//     of a document is not monotonic per document.
//   - Replica-set failover can roll back writes acknowledged with w:1; use
//     majority write concern (the server default since 5.0).
//   - On FerretDB a CAS on a document (an update filtered on the old
//     value) is not atomic under concurrency: the sequence records above do
//     not rely on one, but the _v guard of Replace, Update and Delete and
//     the re-stamp CAS do not hold there (see ferretdb_test.go).
//   - Each write costs four round trips (allocate, check the floor, write,
//     resolve) instead of one; readers pay one extra query per call.

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

// Kinds of _sb_seq records.
const (
	kindAlloc      = "a" // a writer took the sequence
	kindResolution = "r" // how the allocation ended
)

// Resolutions of an allocation. The first resolution inserted wins.
const (
	stateCommitted = "committed" // its writer wrote the document
	stateAbandoned = "abandoned" // its write did not happen
	// stateExpired: the lease ran out before the writer resolved it; a
	// reader checks whether the write landed and re-stamps it if so.
	stateExpired = "expired"
)

const (
	// floorStep is how far the watermark moves past the floor before a
	// reader records a new floor and prunes below it.
	floorStep = 64
	// scanBatch is how many sequences one watermark query covers.
	scanBatch = 128
	// maxScanRounds bounds the queries of one watermark computation.
	maxScanRounds = 8
	// maxAllocAttempts bounds the inserts of one allocation.
	maxAllocAttempts = 100
	// maxRestamps bounds how often one repair re-stamps a document.
	maxRestamps = 5
)

// seqRecord is one document of _sb_seq: an allocation or a resolution.
// Its _id is recordID(c, s, k), so that every record is written once and
// the unique _id decides races (on FerretDB too, whose updates are not
// atomic), and the read of one record is a primary-key lookup.
type seqRecord struct {
	ID    string `bson:"_id"`
	C     string `bson:"c"`
	S     int64  `bson:"s"`
	K     string `bson:"k"`
	Lease int64  `bson:"lease,omitempty"` // allocation: unix milliseconds
	Doc   string `bson:"doc,omitempty"`   // allocation: the document's _id
	State string `bson:"st,omitempty"`    // resolution
}

// recordID is the _id of a record: the collection name (which cannot
// contain '/'), the zero-padded sequence and the kind.
func recordID(coll string, seq int64, kind string) string {
	return fmt.Sprintf("%s/%020d/%s", coll, seq, kind)
}

func allocation(coll string, seq, lease int64, docID string) seqRecord {
	return seqRecord{ID: recordID(coll, seq, kindAlloc), C: coll, S: seq, K: kindAlloc, Lease: lease, Doc: docID}
}

func resolution(coll string, seq int64, state string) seqRecord {
	return seqRecord{ID: recordID(coll, seq, kindResolution), C: coll, S: seq, K: kindResolution, State: state}
}

// raise sets a to v when v is larger.
func raise(st *collState, v int64) {
	for {
		cur := st.next.Load()
		if v <= cur || st.next.CompareAndSwap(cur, v) {
			return
		}
	}
}

// detached returns a context for cleanup that must run even when the
// caller has given up (its document write may already have happened).
func (db *DB) detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), db.p.opts.OpTimeout)
}

// topSeq returns the highest s of coll in mc (0 when there is none).
func (db *DB) topSeq(ctx context.Context, mc *mongo.Collection, coll string) (int64, error) {
	var rec struct {
		S int64 `bson:"s"`
	}
	err := mc.FindOne(ctx, bson.D{{Key: "c", Value: coll}},
		options.FindOne().SetSort(bson.D{{Key: "s", Value: -1}}).SetProjection(bson.D{{Key: "s", Value: 1}, {Key: "_id", Value: 0}}),
	).Decode(&rec)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, nil
	}
	if err != nil {
		return 0, db.p.wrap(fmt.Sprintf("read %s of %q", mc.Name(), coll), err)
	}
	return rec.S, nil
}

// floorOf reads the current floor of coll.
func (db *DB) floorOf(ctx context.Context, coll string) (int64, error) {
	return db.topSeq(ctx, db.floors, coll)
}

// loadHint initialises st.next from the database once per process.
func (db *DB) loadHint(ctx context.Context, st *collState, coll string) error {
	st.hintMu.Lock()
	defer st.hintMu.Unlock()
	if st.hintLoaded {
		return nil
	}
	top, err := db.topSeq(ctx, db.seqs, coll)
	if err != nil {
		return err
	}
	floor, err := db.floorOf(ctx, coll)
	if err != nil {
		return err
	}
	raise(st, max(top, floor))
	st.hintLoaded = true
	return nil
}

// allocate takes a new _seq for a write of document docID in coll and
// leaves its allocation unresolved under a lease.
func (db *DB) allocate(ctx context.Context, st *collState, coll, docID string) (int64, error) {
	if err := db.ensureInternal(ctx); err != nil {
		return 0, err
	}
	if err := db.loadHint(ctx, st, coll); err != nil {
		return 0, err
	}
	for range maxAllocAttempts {
		s := st.next.Add(1)
		lease := time.Now().Add(db.p.opts.LeaseDuration).UnixMilli()
		_, err := db.seqs.InsertOne(ctx, allocation(coll, s, lease, docID))
		if isDuplicate(err) {
			top, err := db.topSeq(ctx, db.seqs, coll)
			if err != nil {
				return 0, err
			}
			raise(st, top)
			continue
		}
		if err != nil {
			// The record may or may not exist; if it does, its lease
			// settles it.
			return 0, db.p.wrap(fmt.Sprintf("allocate _seq for %q", coll), err)
		}
		floor, err := db.floorOf(ctx, coll)
		if err != nil {
			return 0, err
		}
		if s > floor {
			return s, nil
		}
		// s was pruned before and this process's hint was stale: a reader
		// may already have passed it. Give it up and go above the floor.
		cctx, cancel := db.detached(ctx)
		_, _ = db.seqs.DeleteOne(cctx, bson.D{{Key: "_id", Value: recordID(coll, s, kindAlloc)}})
		cancel()
		raise(st, floor)
	}
	return 0, fmt.Errorf("mongo: allocate _seq for %q: no free sequence after %d attempts", coll, maxAllocAttempts)
}

// resolve records how allocation (coll, seq) ended. It reports whether
// this call decided it; when another did first, it returns that decision.
func (db *DB) resolve(ctx context.Context, coll string, seq int64, state string) (bool, string, error) {
	_, err := db.seqs.InsertOne(ctx, resolution(coll, seq, state))
	if err == nil {
		return true, state, nil
	}
	if !isDuplicate(err) {
		return false, "", db.p.wrap(fmt.Sprintf("resolve _seq %d of %q as %s", seq, coll, state), err)
	}
	var cur seqRecord
	if err := db.seqs.FindOne(ctx, bson.D{{Key: "_id", Value: recordID(coll, seq, kindResolution)}}).Decode(&cur); err != nil {
		return false, "", db.p.wrap(fmt.Sprintf("read resolution of _seq %d of %q", seq, coll), err)
	}
	return false, cur.State, nil
}

// release abandons an allocation whose write did not happen. It runs
// detached from the caller's context and only logs failures: the lease
// settles a record release could not reach.
func (db *DB) release(ctx context.Context, coll string, seq int64) {
	cctx, cancel := db.detached(ctx)
	defer cancel()
	if _, _, err := db.resolve(cctx, coll, seq, stateAbandoned); err != nil {
		db.p.opts.Logger.Warn("store/mongo: release _seq", "db", db.name, "collection", coll, "seq", seq, "err", err)
	}
}

// commit resolves the write (coll, seq) of docID as committed. When a
// reader has resolved it as expired meanwhile (the lease ran out), it
// re-stamps the document and returns the new _seq; otherwise it returns
// seq.
func (db *DB) commit(ctx context.Context, st *collState, coll string, seq int64, docID string) int64 {
	cctx, cancel := db.detached(ctx)
	defer cancel()
	ok, _, err := db.resolve(cctx, coll, seq, stateCommitted)
	if err != nil {
		// The write happened; the lease and the repair path deliver it.
		db.p.opts.Logger.Warn("store/mongo: commit _seq", "db", db.name, "collection", coll, "seq", seq, "err", err)
		return seq
	}
	if ok {
		return seq
	}
	ns, err := db.restamp(cctx, st, coll, docID, seq)
	if err != nil {
		db.p.opts.Logger.Warn("store/mongo: re-stamp after lease expiry", "db", db.name, "collection", coll, "seq", seq, "err", err)
		return seq
	}
	if ns == 0 {
		return seq
	}
	return ns
}

// restamp gives document docID, if it still carries _seq old, a freshly
// allocated _seq, committed. It returns the new _seq, or 0 when the
// document no longer carries old (written again, deleted, or re-stamped by
// another repairer).
func (db *DB) restamp(ctx context.Context, st *collState, coll, docID string, old int64) (int64, error) {
	mc := db.mdb.Collection(coll)
	for range maxRestamps {
		ns, err := db.allocate(ctx, st, coll, docID)
		if err != nil {
			return 0, err
		}
		res, err := mc.UpdateOne(ctx,
			bson.D{{Key: store.FieldID, Value: docID}, {Key: store.FieldSeq, Value: old}},
			bson.D{{Key: "$set", Value: bson.D{{Key: store.FieldSeq, Value: ns}}}})
		if err != nil {
			// Unknown outcome: leave ns unresolved for its lease.
			return 0, db.p.wrap(fmt.Sprintf("re-stamp %q in %q", docID, coll), err)
		}
		if res.MatchedCount == 0 {
			_, _, _ = db.resolve(ctx, coll, ns, stateAbandoned)
			return 0, nil
		}
		ok, _, err := db.resolve(ctx, coll, ns, stateCommitted)
		if err != nil {
			return ns, nil // unresolved: repaired after its lease
		}
		if ok {
			db.p.opts.Logger.Info("store/mongo: re-stamped a write whose lease expired",
				"db", db.name, "collection", coll, "id", docID, "old_seq", old, "seq", ns)
			return ns, nil
		}
		old = ns // expired under us again: move on from ns
	}
	return 0, fmt.Errorf("mongo: re-stamp %q in %q: lease expired %d times", docID, coll, maxRestamps)
}
