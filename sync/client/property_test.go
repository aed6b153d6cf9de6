package client_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	gosync "sync"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/objectstore"
	"github.com/skybridgehq/skybridge/sync/client"
)

var strategies = []string{
	objectstore.ConflictReject, objectstore.ConflictServerWins, objectstore.ConflictClientWins,
	objectstore.ConflictLastWriteWins, objectstore.ConflictMergeFields,
}

// TestPropertyConvergence: clients make random offline creates, updates
// and deletes on one collection, reconnect in random order and sync until
// quiet; under every strategy and on both store adapters, all clients end
// with the server's state and every acknowledged version is still there
// or superseded. The clients sync one at a time (a reconnect order), so
// FerretDB's non-atomic concurrent updates of one document do not arise
// and no case is excepted on it.
func TestPropertyConvergence(t *testing.T) {
	for _, storeKind := range []string{"sqlite", "ferretdb"} {
		clients, rounds, ops := 3, 3, 6
		switch {
		case testing.Short():
		case storeKind == "ferretdb":
			// FerretDB's SQLite backend scans a collection for most
			// queries: the full run on it is a quarter of SQLite's, so the
			// five strategies fit make test-full (about 3 minutes each).
			clients, rounds, ops = 4, 6, 12
		default:
			clients, rounds, ops = 5, 12, 20
		}
		for _, strategy := range strategies {
			t.Run(fmt.Sprintf("store=%s/strategy=%s", storeKind, strategy), func(t *testing.T) {
				seed := uint64(time.Now().UnixNano())
				t.Logf("seed %d", seed)
				runProperty(t, storeKind, strategy, rand.New(rand.NewPCG(seed, 6)), clients, rounds, ops)
			})
		}
	}
}

func runProperty(t *testing.T, storeKind, strategy string, rng *rand.Rand, nclients, rounds, ops int) {
	ctx := context.Background()
	h := newHarness(t, storeKind, strategy)
	var mu gosync.Mutex
	acked := map[string]int64{} // id → highest acknowledged _v
	cs := make([]*client.Client, nclients)
	for i := range cs {
		cs[i] = h.client(false, client.Config{
			OnApplied: func(_, id string, v int64) {
				mu.Lock()
				acked[id] = max(acked[id], v)
				mu.Unlock()
			},
			Now: func() time.Time { return time.Now().Add(time.Duration(rng.IntN(2000)-1000) * time.Millisecond) },
		})
	}
	next := 0
	for range rounds {
		for i, c := range cs {
			for range 1 + rng.IntN(ops) {
				offlineOp(t, ctx, c, h.col, rng, fmt.Sprintf("c%d-%d", i, next))
				next++
			}
		}
		for _, i := range rng.Perm(nclients) {
			if err := cs[i].Sync(ctx, h.col); err != nil {
				t.Fatalf("client %d sync: %v", i, err)
			}
		}
	}
	quiet := false
	for range 10 {
		for _, i := range rng.Perm(nclients) {
			if err := cs[i].Sync(ctx, h.col); err != nil {
				t.Fatalf("client %d sync: %v", i, err)
			}
		}
		pending := 0
		for _, c := range cs {
			n, err := c.Pending(ctx, h.col)
			if err != nil {
				t.Fatal(err)
			}
			pending += n
		}
		if pending == 0 {
			quiet = true
			break
		}
	}
	if !quiet {
		t.Fatal("clients never went quiet")
	}
	for _, c := range cs { // one more pull each: what the last pushes wrote
		if err := c.Pull(ctx, h.col); err != nil {
			t.Fatal(err)
		}
	}
	want := h.serverState(ctx)
	for i, c := range cs {
		got, err := c.All(ctx, h.col)
		if err != nil {
			t.Fatal(err)
		}
		if canon(strip(got)) != canon(strip(want)) {
			t.Fatalf("client %d diverges from the server:\n got  %s\n want %s", i, canon(strip(got)), canon(strip(want)))
		}
	}
	// No acknowledged change is lost: the server's version of each
	// acknowledged object (tombstones included) is at least the one
	// acknowledged.
	srv := h.client(true, client.Config{PullLimit: 1000})
	if err := srv.Pull(ctx, h.col); err != nil {
		t.Fatal(err)
	}
	for id, v := range acked {
		sv, _, err := srv.Version(ctx, h.col, id)
		if err != nil {
			t.Fatal(err)
		}
		if sv < v {
			t.Fatalf("object %s: acknowledged _v %d, server has %d", id, v, sv)
		}
	}
	if len(acked) == 0 {
		t.Fatal("no change was acknowledged")
	}
}

func strip(m map[string]client.Doc) map[string]any {
	out := map[string]any{}
	for id, d := range m {
		out[id] = []any{d.Fields, d.Version}
	}
	return out
}

// offlineOp makes one random local edit: a create, an update of a random
// field, or a delete.
func offlineOp(t *testing.T, ctx context.Context, c *client.Client, col string, rng *rand.Rand, newID string) {
	t.Helper()
	all, err := c.All(ctx, col)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 0, len(all))
	for id := range all {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	switch k := rng.IntN(10); {
	case k < 4 || len(ids) == 0:
		err = c.Put(ctx, col, newID, map[string]any{"a": rng.IntN(100), "b": newID})
	case k < 8:
		id := ids[rng.IntN(len(ids))]
		doc := all[id].Fields
		doc[fmt.Sprintf("f%d", rng.IntN(3))] = rng.IntN(1000)
		err = c.Put(ctx, col, id, doc)
	default:
		err = c.Delete(ctx, col, ids[rng.IntN(len(ids))])
	}
	if err != nil {
		t.Fatal(err)
	}
}
