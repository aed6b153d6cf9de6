package mongo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/skybridgehq/skybridge/store"
)

// heldWrite runs an Insert in a goroutine whose commit hook stops it after
// it has taken its _seq, until release is called.
type heldWrite struct {
	seq     chan int64
	release chan struct{}
	done    chan struct{}
	doc     store.Doc
	err     error
}

func holdInsert(c store.Collection, doc store.Doc) *heldWrite {
	h := &heldWrite{seq: make(chan int64, 1), release: make(chan struct{}), done: make(chan struct{})}
	ctx := store.WithCommitHook(context.Background(), func(_ string, seq int64) error {
		h.seq <- seq
		<-h.release
		return nil
	})
	go func() {
		defer close(h.done)
		h.doc, h.err = c.Insert(ctx, doc)
	}()
	return h
}

func (h *heldWrite) finish(t *testing.T) store.Doc {
	t.Helper()
	close(h.release)
	<-h.done
	if h.err != nil {
		t.Fatalf("held write: %v", h.err)
	}
	return h.doc
}

func changeIDs(t *testing.T, c store.Collection, after int64) []string {
	t.Helper()
	docs, err := c.Changes(context.Background(), after, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range docs {
		ids = append(ids, fmt.Sprintf("%s@%d", store.DocID(d), store.DocSeq(d)))
	}
	return ids
}

func lastSeq(t *testing.T, c store.Collection) int64 {
	t.Helper()
	n, err := c.LastSeq(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestOutOfOrderCommits(t *testing.T) {
	eachBackend(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		c := testColl(t, open(t, Options{}), "ooo")
		if _, err := c.Insert(ctx, store.Doc{"_id": "first"}); err != nil {
			t.Fatal(err)
		}
		a := holdInsert(c, store.Doc{"_id": "a"})
		seqA := <-a.seq
		b, err := c.Insert(ctx, store.Doc{"_id": "b"})
		if err != nil {
			t.Fatal(err)
		}
		if store.DocSeq(b) <= seqA {
			t.Fatalf("b took _seq %d, not above a's %d", store.DocSeq(b), seqA)
		}
		if got := lastSeq(t, c); got != seqA-1 {
			t.Fatalf("LastSeq with a pending = %d, want %d", got, seqA-1)
		}
		if got := changeIDs(t, c, 0); fmt.Sprint(got) != "[first@1]" {
			t.Fatalf("Changes with a pending = %v, want only first", got)
		}
		docA := a.finish(t)
		if store.DocSeq(docA) != seqA {
			t.Fatalf("a committed with _seq %d, want %d", store.DocSeq(docA), seqA)
		}
		if got := lastSeq(t, c); got != store.DocSeq(b) {
			t.Fatalf("LastSeq after a commits = %d, want %d", got, store.DocSeq(b))
		}
		want := fmt.Sprintf("[a@%d b@%d]", seqA, store.DocSeq(b))
		if got := changeIDs(t, c, 1); fmt.Sprint(got) != want {
			t.Fatalf("Changes after 1 = %v, want %s", got, want)
		}
	})
}

// TestLeaseExpiryRestampsLateCommit: a write held past its lease stops
// holding the feed back; when it finally commits, its document is stamped
// with a new _seq above what readers have seen, so it is still delivered.
func TestLeaseExpiryRestampsLateCommit(t *testing.T) {
	eachBackend(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		c := testColl(t, open(t, Options{LeaseDuration: 200 * time.Millisecond}), "lease")
		a := holdInsert(c, store.Doc{"_id": "late"})
		seqA := <-a.seq
		b, err := c.Insert(ctx, store.Doc{"_id": "b"})
		if err != nil {
			t.Fatal(err)
		}
		var seen int64
		waitFor(t, 10*time.Second, "feed to pass the expired allocation", func() (bool, error) {
			n, err := c.LastSeq(ctx)
			seen = n
			return n >= store.DocSeq(b), err
		})
		if got := changeIDs(t, c, 0); fmt.Sprint(got) != fmt.Sprintf("[b@%d]", store.DocSeq(b)) {
			t.Fatalf("Changes = %v, want only b", got)
		}
		late := a.finish(t)
		if store.DocSeq(late) <= seen {
			t.Fatalf("late write kept _seq %d (allocated %d), not above the watermark %d readers saw", store.DocSeq(late), seqA, seen)
		}
		got, err := c.Get(ctx, "late")
		if err != nil {
			t.Fatal(err)
		}
		if store.DocSeq(got) != store.DocSeq(late) {
			t.Fatalf("stored _seq %d, Insert returned %d", store.DocSeq(got), store.DocSeq(late))
		}
		waitFor(t, 10*time.Second, "late write delivered", func() (bool, error) {
			docs, err := c.Changes(ctx, seen, 10)
			return len(docs) == 1 && store.DocID(docs[0]) == "late", err
		})
	})
}

// TestAbandonedAllocation: an allocation whose writer vanished before
// writing holds the feed only until its lease runs out.
func TestAbandonedAllocation(t *testing.T) {
	const lease = time.Second
	eachBackend(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		c := testColl(t, open(t, Options{LeaseDuration: lease}), "crash")
		allocated := time.Now()
		s, err := c.db.allocate(ctx, c.st(), c.name, "ghost")
		if err != nil {
			t.Fatal(err)
		}
		d, err := c.Insert(ctx, store.Doc{"_id": "after"})
		if err != nil {
			t.Fatal(err)
		}
		if got := lastSeq(t, c); got != s-1 {
			t.Fatalf("LastSeq with a live lease = %d, want %d", got, s-1)
		}
		waitFor(t, 10*time.Second, "feed to pass the abandoned allocation", func() (bool, error) {
			n, err := c.LastSeq(ctx)
			return n == store.DocSeq(d), err
		})
		if held := time.Since(allocated); held < lease {
			t.Fatalf("the lease was ignored: feed passed %v after the allocation", held)
		}
		var rec seqRecord
		if err := c.db.seqs.FindOne(ctx, bson.D{{Key: "_id", Value: recordID(c.name, s, kindResolution)}}).Decode(&rec); err != nil {
			t.Fatal(err)
		}
		if rec.State != stateExpired {
			t.Fatalf("resolution = %q, want expired", rec.State)
		}
	})
}

// TestCrashAfterWriteIsRepaired: the writer wrote its document and died
// before committing; the reader that expires the lease re-stamps the
// document, so the write is delivered.
func TestCrashAfterWriteIsRepaired(t *testing.T) {
	eachBackend(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		c := testColl(t, open(t, Options{LeaseDuration: time.Second}), "repair")
		if err := c.ensureSeqIndex(ctx); err != nil {
			t.Fatal(err)
		}
		s, err := c.db.allocate(ctx, c.st(), c.name, "orphan")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.mc.InsertOne(ctx, bson.D{{Key: "_id", Value: "orphan"}, {Key: "_v", Value: int64(1)}, {Key: "_seq", Value: s}}); err != nil {
			t.Fatal(err)
		}
		if got := changeIDs(t, c, 0); len(got) != 0 {
			t.Fatalf("uncommitted write visible: %v", got)
		}
		waitFor(t, 10*time.Second, "repair", func() (bool, error) {
			n, err := c.LastSeq(ctx)
			return n > s, err
		})
		d, err := c.Get(ctx, "orphan")
		if err != nil {
			t.Fatal(err)
		}
		if store.DocSeq(d) <= s {
			t.Fatalf("orphan keeps _seq %d, want it re-stamped above %d", store.DocSeq(d), s)
		}
		if got := changeIDs(t, c, s); fmt.Sprint(got) != fmt.Sprintf("[orphan@%d]", store.DocSeq(d)) {
			t.Fatalf("Changes after %d = %v", s, got)
		}
	})
}

// TestHoleIsPlugged: a number taken but never inserted (the writer died
// between picking and inserting) holds the feed for the lease of the write
// above it, then is filled so the feed moves on; the writer, if it comes
// back, must take another number.
func TestHoleIsPlugged(t *testing.T) {
	const lease = time.Second
	eachBackend(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		c := testColl(t, open(t, Options{LeaseDuration: lease}), "hole")
		if _, err := c.Insert(ctx, store.Doc{}); err != nil {
			t.Fatal(err)
		}
		hole := c.st().next.Add(1)
		d, err := c.Insert(ctx, store.Doc{})
		if err != nil {
			t.Fatal(err)
		}
		if store.DocSeq(d) != hole+1 {
			t.Fatalf("second insert _seq = %d, want %d", store.DocSeq(d), hole+1)
		}
		if got := lastSeq(t, c); got != hole-1 {
			t.Fatalf("LastSeq = %d right after the write above the hole, want %d", got, hole-1)
		}
		waitFor(t, 10*time.Second, "feed to pass the hole", func() (bool, error) {
			n, err := c.LastSeq(ctx)
			return n == hole+1, err
		})
		_, err = c.db.seqs.InsertOne(ctx, allocation(c.name, hole, 0, ""))
		if !isDuplicate(err) {
			t.Fatalf("late insert into the plugged hole = %v, want a duplicate key", err)
		}

		// A long gap (a process whose hint outlived a DropDB elsewhere) is
		// plugged a batch per call until the feed reaches the write above.
		c.st().next.Add(scanBatch + 10)
		far, err := c.Insert(ctx, store.Doc{"_id": "far"})
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, 20*time.Second, "feed to cross a long gap", func() (bool, error) {
			n, err := c.LastSeq(ctx)
			return n == store.DocSeq(far), err
		})
		if got := changeIDs(t, c, hole+1); fmt.Sprint(got) != fmt.Sprintf("[far@%d]", store.DocSeq(far)) {
			t.Fatalf("Changes after the gap = %v", got)
		}
	})
}

// TestStaleHintAfterPruning: a process whose idea of the next _seq is far
// behind must not reuse a pruned number below what readers have passed.
func TestStaleHintAfterPruning(t *testing.T) {
	eachBackend(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		p := open(t, Options{})
		c := testColl(t, p, "stale")
		for range floorStep + 10 {
			if _, err := c.Insert(ctx, store.Doc{}); err != nil {
				t.Fatal(err)
			}
		}
		w := lastSeq(t, c)
		floor, err := c.db.floorOf(ctx, c.name)
		if err != nil {
			t.Fatal(err)
		}
		if floor < floorStep {
			t.Fatalf("floor = %d after %d writes, want ≥ %d", floor, w, floorStep)
		}
		// Another process, started long ago, believes the sequence is at 1.
		other := openAt(t, p.opts)
		oc := testColl(t, other, "stale")
		if err := oc.db.loadHint(ctx, oc.st(), oc.name); err != nil {
			t.Fatal(err)
		}
		oc.st().next.Store(1)
		d, err := oc.Insert(ctx, store.Doc{"_id": "from-stale"})
		if err != nil {
			t.Fatal(err)
		}
		if store.DocSeq(d) <= w {
			t.Fatalf("stale process wrote _seq %d, at or below the watermark %d", store.DocSeq(d), w)
		}
		if got := changeIDs(t, c, w); fmt.Sprint(got) != fmt.Sprintf("[from-stale@%d]", store.DocSeq(d)) {
			t.Fatalf("Changes after %d = %v", w, got)
		}
		n, err := c.db.seqs.CountDocuments(ctx, bson.D{{Key: "c", Value: c.name}, {Key: "s", Value: bson.D{{Key: "$lt", Value: floor}}}})
		if err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("%d allocation records left below the floor", n)
		}
	})
}

// TestPruningBoundsRecords: allocation records do not pile up.
func TestPruningBoundsRecords(t *testing.T) {
	eachBackend(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		c := testColl(t, open(t, Options{}), "prune")
		const writes = 3 * floorStep
		for i := range writes {
			if _, err := c.Insert(ctx, store.Doc{}); err != nil {
				t.Fatal(err)
			}
			if i%16 == 0 {
				lastSeq(t, c)
			}
		}
		if got := lastSeq(t, c); got != writes {
			t.Fatalf("LastSeq = %d, want %d", got, writes)
		}
		recs, err := c.db.seqs.CountDocuments(ctx, bson.D{{Key: "c", Value: c.name}})
		if err != nil {
			t.Fatal(err)
		}
		floors, err := c.db.floors.CountDocuments(ctx, bson.D{{Key: "c", Value: c.name}})
		if err != nil {
			t.Fatal(err)
		}
		if recs > 2*floorStep || floors != 1 {
			t.Fatalf("%d allocation records and %d floors after %d writes", recs, floors, writes)
		}
		top, err := c.db.topSeq(ctx, c.db.seqs, c.name)
		if err != nil || top != writes {
			t.Fatalf("highest record = %d, %v; want %d kept", top, err, writes)
		}
		if docs, err := c.Changes(ctx, 0, store.MaxLimit); err != nil || len(docs) != writes {
			t.Fatalf("Changes from 0 = %d docs, %v", len(docs), err)
		}
	})
}

// TestFeedGapFreeUnderConcurrency: writers on two providers (two nodes)
// insert with random delays between taking a _seq and committing, while a
// reader follows the feed. Every write must reach the reader at exactly
// the _seq its Insert returned: a reader that moved past it too early
// would never see it.
func TestFeedGapFreeUnderConcurrency(t *testing.T) {
	eachBackend(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		p1 := open(t, Options{})
		p2 := openAt(t, p1.opts)
		colls := []store.Collection{testColl(t, p1, "feed"), testColl(t, p2, "feed")}
		const writers, perWriter = 4, 20
		written := make(chan store.Doc, writers*perWriter)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := colls[w%2]
				rng := rand.New(rand.NewPCG(uint64(w), 7))
				wctx := store.WithCommitHook(ctx, func(string, int64) error {
					time.Sleep(time.Duration(rng.IntN(4000)) * time.Microsecond) // widen the commit window
					return nil
				})
				for i := range perWriter {
					d, err := c.Insert(wctx, store.Doc{"_id": fmt.Sprintf("w%d-%d", w, i)})
					if err != nil {
						t.Errorf("writer %d: %v", w, err)
						return
					}
					written <- d
				}
			}()
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()

		seen := map[string]int64{}
		var pos int64
		read := func(c store.Collection) {
			docs, err := c.Changes(ctx, pos, 50)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range docs {
				if s := store.DocSeq(d); s <= pos {
					t.Fatalf("Changes after %d returned _seq %d", pos, s)
				}
				seen[store.DocID(d)] = store.DocSeq(d)
				pos = store.DocSeq(d)
			}
		}
		for i := 0; ; i++ {
			select {
			case <-done:
			default:
				read(colls[i%2])
				continue
			}
			break
		}
		close(written)
		returned := map[string]int64{}
		var top int64
		for d := range written {
			returned[store.DocID(d)] = store.DocSeq(d)
			top = max(top, store.DocSeq(d))
		}
		total := len(returned)
		if total != writers*perWriter {
			t.Fatalf("%d writes succeeded, want %d", total, writers*perWriter)
		}
		for range 100 {
			before := len(seen)
			read(colls[0])
			if len(seen) == before {
				break
			}
		}
		// Numbers a reader plugged while their writer was about to insert
		// them are skipped, so LastSeq may exceed the number of writes.
		if last := lastSeq(t, colls[1]); last < top {
			t.Fatalf("LastSeq = %d after all writes, below the highest _seq written %d", last, top)
		}
		for w := range writers {
			for i := range perWriter {
				id := fmt.Sprintf("w%d-%d", w, i)
				d, err := colls[0].Get(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				s, ok := seen[id]
				if !ok {
					t.Fatalf("reader never saw %s (_seq %d): the feed skipped it", id, store.DocSeq(d))
				}
				if s != store.DocSeq(d) || s != returned[id] {
					t.Fatalf("reader saw %s at _seq %d; stored %d, Insert returned %d", id, s, store.DocSeq(d), returned[id])
				}
			}
		}
	})
}
