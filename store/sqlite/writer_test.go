package sqlite

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

func openTest(t *testing.T) (*Provider, *DB) {
	t.Helper()
	p, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	db, err := p.db(t.Context(), "test")
	if err != nil {
		t.Fatal(err)
	}
	return p, db
}

// holdWriter starts a write whose commit hook blocks until the returned
// release is called, and returns once that write holds the writer.
func holdWriter(t *testing.T, c store.Collection) (release func(), done <-chan error) {
	t.Helper()
	reached, hold := make(chan struct{}), make(chan struct{})
	errc := make(chan error, 1)
	ctx := store.WithCommitHook(t.Context(), func(string, int64) error {
		close(reached)
		<-hold
		return nil
	})
	go func() {
		_, err := c.Insert(ctx, store.Doc{"_id": "holder"})
		errc <- err
	}()
	select {
	case <-reached:
	case <-time.After(10 * time.Second):
		t.Fatal("holding write never reached its commit hook")
	}
	var once sync.Once
	release = func() { once.Do(func() { close(hold) }) }
	t.Cleanup(release)
	return release, errc
}

// waitQueued polls until n writes wait for the writer.
func waitQueued(t *testing.T, db *DB, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		db.w.mu.Lock()
		q := len(db.w.queue)
		db.w.mu.Unlock()
		if q >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued, want %d", q, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestGroupCommitIsolatesFailingWrites(t *testing.T) {
	t.Parallel()
	_, db := openTest(t)
	c := db.Collection("items")
	if err := c.EnsureIndex(t.Context(), store.Index{Fields: []string{"email"}, Unique: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Insert(t.Context(), store.Doc{"_id": "taken", "email": "taken@x"}); err != nil {
		t.Fatal(err)
	}
	release, holderDone := holdWriter(t, c)

	hookErr := errors.New("refused by hook")
	refuse := store.WithCommitHook(t.Context(), func(string, int64) error { return hookErr })
	type write struct {
		name string
		ctx  context.Context
		doc  store.Doc
		want error
	}
	writes := []write{
		{"good0", t.Context(), store.Doc{"_id": "g0", "email": "g0@x", "tags": []any{"a"}}, nil},
		{"dupID", t.Context(), store.Doc{"_id": "taken"}, store.ErrDuplicate},
		{"good1", t.Context(), store.Doc{"_id": "g1", "email": "g1@x"}, nil},
		{"dupEmail", t.Context(), store.Doc{"_id": "d1", "email": "taken@x"}, store.ErrDuplicate},
		{"hook", refuse, store.Doc{"_id": "h1", "tags": []any{"b"}}, hookErr},
		{"good2", t.Context(), store.Doc{"_id": "g2"}, nil},
		{"newColl", t.Context(), store.Doc{"_id": "n1"}, nil},
	}
	errs := make([]error, len(writes))
	var wg sync.WaitGroup
	for i, w := range writes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			coll := c
			if w.name == "newColl" {
				coll = db.Collection("fresh")
			}
			_, errs[i] = coll.Insert(w.ctx, w.doc)
		}()
	}
	waitQueued(t, db, len(writes))
	release()
	wg.Wait()
	if err := <-holderDone; err != nil {
		t.Fatalf("holding write: %v", err)
	}
	for i, w := range writes {
		if !errors.Is(errs[i], w.want) || (w.want == nil && errs[i] != nil) {
			t.Errorf("%s: got %v, want %v", w.name, errs[i], w.want)
		}
	}
	docs, err := c.Changes(t.Context(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i, d := range docs {
		ids = append(ids, store.DocID(d))
		if want := int64(i + 1); store.DocSeq(d) != want {
			t.Errorf("_seq of %s is %d, want %d (a rolled-back write must not leave a hole)", store.DocID(d), store.DocSeq(d), want)
		}
	}
	if len(ids) > 2 {
		sort.Strings(ids[2:]) // the queued writes ran in the order they queued
	}
	if got := fmt.Sprint(ids); got != "[taken holder g0 g1 g2]" {
		t.Fatalf("feed %s", got)
	}
	if _, err := db.Collection("fresh").Get(t.Context(), "n1"); err != nil {
		t.Fatalf("collection created inside a batch: %v", err)
	}
	// The refused write's array path may be remembered; matching stays right.
	f, _ := store.ParseFilter([]byte(`{"tags":"b"}`))
	if n, err := c.Count(t.Context(), f); err != nil || n != 0 {
		t.Fatalf("rolled-back document matched: %d %v", n, err)
	}
}

func TestQueuedWriteHonoursCancel(t *testing.T) {
	t.Parallel()
	_, db := openTest(t)
	c := db.Collection("items")
	release, holderDone := holdWriter(t, c)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Insert(ctx, store.Doc{"_id": "late"})
		errc <- err
	}()
	waitQueued(t, db, 1)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("canceled write: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a canceled write still waited for the writer")
	}
	release()
	if err := <-holderDone; err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(t.Context(), "late"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("canceled write was stored: %v", err)
	}
}

// Dropping a collection while others write (and note array paths) must
// neither deadlock nor fail those writes with anything but what they are.
func TestDropCollectionWhileWriting(t *testing.T) {
	t.Parallel()
	_, db := openTest(t)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := db.Collection("busy")
			for i := 0; i < 40; i++ {
				if _, err := c.Insert(t.Context(), store.Doc{"g": g, "arr": []any{i}}); err != nil {
					errs <- err
					return
				}
				if _, err := c.Find(t.Context(), store.Query{Filter: store.Compare{Path: "arr", Op: store.OpEq, Value: int64(i)}}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := 0; i < 10; i++ {
		if err := db.DropCollection(t.Context(), "busy"); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestDroppedDatabaseHandleIsClosed(t *testing.T) {
	t.Parallel()
	p, db := openTest(t)
	c := db.Collection("items")
	if _, err := c.Insert(t.Context(), store.Doc{"_id": "a"}); err != nil {
		t.Fatal(err)
	}
	if err := p.DropDB(t.Context(), "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(t.Context(), "a"); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Get on a dropped database's handle: %v", err)
	}
	if _, err := c.Insert(t.Context(), store.Doc{"_id": "b"}); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Insert on a dropped database's handle: %v", err)
	}
	db2, err := p.DB(t.Context(), "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db2.Collection("items").Get(t.Context(), "a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("re-created database still has the document: %v", err)
	}
}
