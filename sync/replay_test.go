package sync_test

import (
	"context"
	"fmt"
	"net/http"
	gosync "sync"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// TestConcurrentReplays: a change id pushed by many requests at once (a
// client retrying while its first request still runs) is applied exactly
// once, and every request answers with that one result, on both stores.
func TestConcurrentReplays(t *testing.T) {
	for _, kind := range []string{"sqlite", "ferretdb"} {
		t.Run("store="+kind, func(t *testing.T) {
			n := startNodeOn(t, kind)
			a := n.user()
			n.settings("notes", map[string]any{"rules": map[string]string{"read": "authenticated", "create": "authenticated", "update": "authenticated", "delete": "authenticated"}})
			created := n.call(a, "push", push("notes", map[string]any{"id": "c", "baseVersion": 0, "doc": map[string]any{"n": 0}}), 200)
			base := num(first(created, "applied")["_v"])
			for round := range 3 {
				// An update on the current version: applied twice, it would
				// either conflict or bump _v twice.
				body := push("notes", map[string]any{"id": "c", "baseVersion": base, "doc": map[string]any{"n": round + 1}, "changeId": fmt.Sprintf("edit-%d", round)})
				const racers = 8
				answers := make([]string, racers)
				statuses := make([]int, racers)
				var wg gosync.WaitGroup
				start := make(chan struct{})
				for i := range racers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						resp, b, err := n.srv.TryDo(http.MethodPost, "/v1/sync/push", body, a)
						if err == nil {
							statuses[i], answers[i] = resp.StatusCode, string(b)
						}
					}()
				}
				close(start)
				wg.Wait()
				for i := range racers {
					if statuses[i] != http.StatusOK || answers[i] != answers[0] {
						t.Fatalf("round %d racer %d: %d %s; racer 0: %s", round, i, statuses[i], answers[i], answers[0])
					}
				}
				d := n.serverDoc("notes", "c")
				if num(d["n"]) != int64(round+1) || num(d["_v"]) != base+1 {
					t.Fatalf("round %d: stored %v, want n=%d _v=%d (applied once)", round, d, round+1, base+1)
				}
				base++
			}
		})
	}
}

// TestPruneBookkeeping: change ids and edit times older than the
// tombstone retention are forgotten by the maintenance pass; newer ones
// are kept, and a forgotten change id may be applied again.
func TestPruneBookkeeping(t *testing.T) {
	n := startNode(t)
	a := n.user()
	n.settings("notes", map[string]any{"rules": map[string]string{"read": "authenticated", "create": "authenticated", "update": "authenticated", "delete": "authenticated"}, "conflict": "last-write-wins"})
	n.call(a, "push", push("notes", map[string]any{"id": "p", "baseVersion": 0, "doc": map[string]any{"n": 1}, "changeId": "p-1"}), 200)
	ctx := context.Background()
	db, err := n.srv.Node.Store.DB(ctx, store.EnvDBName(n.app.ID, "dev"))
	if err != nil {
		t.Fatal(err)
	}
	count := func(col string) int64 {
		t.Helper()
		c, err := db.Collection(col).Count(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if count("syncChangeIds") != 1 || count("syncEdits") != 1 {
		t.Fatalf("bookkeeping after one push: %d change ids, %d edits", count("syncChangeIds"), count("syncEdits"))
	}
	if rep, err := n.srv.Node.Maintain(ctx); err != nil || rep.SyncRecords != 0 {
		t.Fatalf("fresh records pruned: %+v, %v", rep, err)
	}
	// Age the records past the retention, as if pushed 31 days ago.
	old := time.Now().Add(-31 * 24 * time.Hour).UnixMicro()
	for _, col := range []string{"syncChangeIds", "syncEdits"} {
		page, err := db.Collection(col).Find(ctx, store.Query{})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range page.Docs {
			d["at"] = old
			if _, err := db.Collection(col).Replace(ctx, store.DocID(d), store.DocVersion(d), d); err != nil {
				t.Fatal(err)
			}
		}
	}
	rep, err := n.srv.Node.Maintain(ctx)
	if err != nil || rep.SyncRecords != 2 {
		t.Fatalf("maintenance: %+v, %v; want 2 sync records pruned", rep, err)
	}
	if count("syncChangeIds") != 0 || count("syncEdits") != 0 {
		t.Fatal("aged records survived the pass")
	}
	// The object is untouched; a push on its current version still works.
	d := n.serverDoc("notes", "p")
	n.call(a, "push", push("notes", map[string]any{"id": "p", "baseVersion": num(d["_v"]), "doc": map[string]any{"n": 2}, "changeId": "p-2"}), 200)
	if d := n.serverDoc("notes", "p"); num(d["n"]) != 2 {
		t.Fatalf("after pruning: %v", d)
	}
}
