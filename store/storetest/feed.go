package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

func feedCases() map[string]func(t *testing.T, db store.DB) {
	return map[string]func(t *testing.T, db store.DB){
		"OrderAndRewrites": func(t *testing.T, db store.DB) {
			c := db.Collection("feed")
			if last, err := c.LastSeq(ctx()); err != nil || last != 0 {
				t.Fatalf("LastSeq of an empty collection: %d %v", last, err)
			}
			a := insert(t, c, store.Doc{"_id": "a"})
			insert(t, c, store.Doc{"_id": "b"})
			insert(t, c, store.Doc{"_id": "c"})
			a2, err := c.Update(ctx(), "a", 0, store.Update{Set: map[string]any{"x": 1}})
			must(t, err)
			docs, err := c.Changes(ctx(), 0, 100)
			must(t, err)
			if got := fmt.Sprint(ids(docs)); got != "[b c a]" {
				t.Fatalf("feed order %s, want [b c a] (a rewritten moves to its new _seq)", got)
			}
			if store.DocSeq(docs[2]) != store.DocSeq(a2) || store.DocSeq(a2) <= store.DocSeq(a) || docs[2]["x"] != int64(1) {
				t.Fatalf("rewritten doc in feed: %v", docs[2])
			}
			for i := 1; i < len(docs); i++ {
				if store.DocSeq(docs[i]) <= store.DocSeq(docs[i-1]) {
					t.Fatalf("feed not in _seq order: %v", docs)
				}
			}
			last, err := c.LastSeq(ctx())
			must(t, err)
			if last != store.DocSeq(a2) {
				t.Fatalf("LastSeq %d, want %d", last, store.DocSeq(a2))
			}
			page, err := c.Changes(ctx(), store.DocSeq(docs[0]), 1)
			must(t, err)
			if len(page) != 1 || store.DocID(page[0]) != "c" {
				t.Fatalf("Changes after b, limit 1: %v", ids(page))
			}
			// A hard delete leaves the feed; later _seq are never reused.
			must(t, c.Delete(ctx(), "c", 0))
			d := insert(t, c, store.Doc{"_id": "d"})
			if store.DocSeq(d) <= last {
				t.Fatalf("_seq %d reused after a delete (last was %d)", store.DocSeq(d), last)
			}
			docs, _ = c.Changes(ctx(), 0, 100)
			if got := fmt.Sprint(ids(docs)); got != "[b a d]" {
				t.Fatalf("feed after delete %s", got)
			}
		},
		"ForcedOutOfOrderCommits": func(t *testing.T, db store.DB) {
			c := db.Collection("feed")
			insert(t, c, store.Doc{"_id": "base"})
			hold := make(chan struct{})
			reached := make(chan int64, 1)
			ctxA := store.WithCommitHook(ctx(), func(_ string, seq int64) error {
				select {
				case reached <- seq:
				default:
				}
				<-hold
				return nil
			})
			var aErr, bErr error
			aDone, bDone := make(chan struct{}), make(chan struct{})
			go func() { defer close(aDone); _, aErr = c.Insert(ctxA, store.Doc{"_id": "A"}) }()
			var seqA int64
			select {
			case seqA = <-reached:
			case <-time.After(20 * time.Second):
				close(hold)
				t.Fatal("write A never reached its commit hook")
			}
			// B starts after A took its _seq. A single-writer store blocks B
			// behind A; a multi-writer one lets B commit first.
			go func() { defer close(bDone); _, bErr = c.Insert(ctx(), store.Doc{"_id": "B"}) }()
			// Watch the feed while A is held: for a bounded window, or until
			// B (on a multi-writer store) has committed and been looked
			// past a few more times. Nothing at or above A's _seq may show.
			watch := func() {
				docs, err := c.Changes(ctx(), 0, 100)
				if err != nil {
					close(hold)
					t.Fatal(err)
				}
				for _, d := range docs {
					if store.DocSeq(d) >= seqA {
						close(hold)
						t.Fatalf("feed shows %s at _seq %d while _seq %d is uncommitted", store.DocID(d), store.DocSeq(d), seqA)
					}
				}
				if last, err := c.LastSeq(ctx()); err != nil || last >= seqA {
					close(hold)
					t.Fatalf("LastSeq %d (%v) passes uncommitted _seq %d", last, err, seqA)
				}
			}
			window := time.NewTimer(300 * time.Millisecond)
			defer window.Stop()
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			bFirst, afterB, looks := false, 0, 0
			bWait := (<-chan struct{})(bDone)
		observe:
			for {
				select {
				case <-bWait:
					bFirst, bWait = true, nil
				case <-window.C:
					break observe
				case <-tick.C:
				}
				watch()
				looks++
				if bFirst {
					if afterB++; afterB >= 5 {
						break observe
					}
				}
			}
			watch()
			if looks == 0 {
				t.Fatal("the feed was never observed while A was held")
			}
			close(hold)
			if !waitOrTimeout(aDone, 20*time.Second) || !waitOrTimeout(bDone, 20*time.Second) {
				t.Fatal("writes did not finish after release")
			}
			must(t, aErr)
			must(t, bErr)
			docs, err := c.Changes(ctx(), 0, 100)
			must(t, err)
			if got := fmt.Sprint(ids(docs)); got != "[base A B]" {
				t.Fatalf("feed after release %s, want [base A B] (B committed first: %v)", got, bFirst)
			}
			t.Logf("B committed while A was held: %v", bFirst)
		},
		"TailingReaderMissesNothing": func(t *testing.T, db store.DB) {
			c := db.Collection("tail")
			const writers, perWriter = 4, 15
			var wg sync.WaitGroup
			errs := make(chan error, writers*perWriter+1)
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(w), 7))
					hookCtx := store.WithCommitHook(ctx(), func(string, int64) error {
						// Simulate commits of uneven latency.
						time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
						return nil
					})
					for i := 0; i < perWriter; i++ {
						id := fmt.Sprintf("w%d-%d", w, i%5)
						if i < 5 {
							_, err := c.Insert(hookCtx, store.Doc{"_id": id, "i": i})
							if err != nil {
								errs <- err
							}
							continue
						}
						if _, err := c.Update(hookCtx, id, 0, store.Update{Set: map[string]any{"i": i}}); err != nil {
							errs <- err
						}
					}
				}(w)
			}
			seen := map[string]map[int64]bool{}
			var cp int64
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			read := func() {
				docs, err := c.Changes(ctx(), cp, 7)
				if err != nil {
					errs <- err
					return
				}
				for _, d := range docs {
					s := store.DocSeq(d)
					if s <= cp {
						errs <- fmt.Errorf("feed went back: _seq %d after checkpoint %d", s, cp)
					}
					if seen[store.DocID(d)] == nil {
						seen[store.DocID(d)] = map[int64]bool{}
					}
					seen[store.DocID(d)][s] = true
					cp = s
				}
			}
			for tailing := true; tailing; {
				select {
				case <-done:
					tailing = false
				default:
					read()
				}
			}
			for i := 0; i < 1000; i++ { // drain
				before := cp
				read()
				if cp == before {
					break
				}
			}
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			for w := 0; w < writers; w++ {
				for k := 0; k < 5; k++ {
					id := fmt.Sprintf("w%d-%d", w, k)
					d, err := c.Get(ctx(), id)
					must(t, err)
					if !seen[id][store.DocSeq(d)] {
						t.Errorf("reader never saw %s at its final _seq %d (checkpoint %d)", id, store.DocSeq(d), cp)
					}
				}
			}
		},
	}
}

func concurrencyCases() map[string]func(t *testing.T, db store.DB) {
	const goroutines, each = 6, 20
	run := func(t *testing.T, fn func(g, i int) error) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, goroutines*each)
		for g := 0; g < goroutines; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; i < each; i++ {
					if err := fn(g, i); err != nil {
						errs <- err
						return
					}
				}
			}(g)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	return map[string]func(t *testing.T, db store.DB){
		"CASNoLostUpdates": func(t *testing.T, db store.DB) {
			c := db.Collection("cas")
			insert(t, c, store.Doc{"_id": "ctr", "n": 0})
			run(t, func(int, int) error {
				for attempt := 0; attempt < 1000; attempt++ {
					d, err := c.Get(ctx(), "ctr")
					if err != nil {
						return err
					}
					n, _ := store.Int64(d["n"])
					_, err = c.Replace(ctx(), "ctr", store.DocVersion(d), store.Doc{"n": n + 1})
					if errors.Is(err, store.ErrVersionConflict) {
						continue
					}
					return err
				}
				return errors.New("CAS never succeeded")
			})
			d, err := c.Get(ctx(), "ctr")
			must(t, err)
			if d["n"] != int64(goroutines*each) || store.DocVersion(d) != goroutines*each+1 {
				t.Fatalf("lost updates: n=%v _v=%d, want %d and %d", d["n"], store.DocVersion(d), goroutines*each, goroutines*each+1)
			}
		},
		"IncNoLostUpdates": func(t *testing.T, db store.DB) {
			c := db.Collection("inc")
			insert(t, c, store.Doc{"_id": "ctr"})
			run(t, func(int, int) error {
				_, err := c.Update(ctx(), "ctr", 0, store.Update{Inc: map[string]float64{"n": 1}})
				return err
			})
			d, err := c.Get(ctx(), "ctr")
			must(t, err)
			if d["n"] != int64(goroutines*each) {
				t.Fatalf("lost increments: n=%v, want %d", d["n"], goroutines*each)
			}
		},
		"InsertsTakeUniqueSeq": func(t *testing.T, db store.DB) {
			c := db.Collection("many")
			run(t, func(g, i int) error {
				_, err := c.Insert(ctx(), store.Doc{"g": g, "i": i})
				return err
			})
			docs, err := c.Changes(ctx(), 0, store.MaxLimit)
			must(t, err)
			if len(docs) != goroutines*each {
				t.Fatalf("feed has %d documents, want %d", len(docs), goroutines*each)
			}
			for i := 1; i < len(docs); i++ {
				if store.DocSeq(docs[i]) <= store.DocSeq(docs[i-1]) {
					t.Fatalf("_seq not unique and increasing at %d: %d then %d", i, store.DocSeq(docs[i-1]), store.DocSeq(docs[i]))
				}
			}
		},
	}
}
