package analytics

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/internal/testenv/teststore"
	"github.com/skybridgehq/skybridge/store"
)

// newTestService returns a service on a fresh database of p with a
// movable clock starting at testNow.
func newTestService(t *testing.T, p store.Provider, cfg Config) (*Service, store.DB, *atomic.Int64) {
	t.Helper()
	clock := &atomic.Int64{}
	clock.Store(testNow.UnixNano())
	cfg.Now = func() time.Time { return time.Unix(0, clock.Load()).UTC() }
	db, err := p.DB(t.Context(), "app_dev")
	if err != nil {
		t.Fatal(err)
	}
	return NewService(p, cfg), db, clock
}

func at(age time.Duration) string { return testNow.Add(-age).Format(time.RFC3339) }

func TestCompactCrashBetweenFoldAndStrip(t *testing.T) {
	t.Parallel()
	for name, p := range teststore.Providers(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, db, clock := newTestService(t, p, Config{})
			ctx := t.Context()
			for i := range 5 {
				b := Batch{Events: []Event{
					{Name: "open", Timestamp: at(time.Duration(i) * 15 * time.Hour), Platform: "ios", Session: fmt.Sprint("s", i%2)},
					{Name: "buy", Timestamp: at(time.Hour), Platform: "web", AppVersion: "2"},
				}}
				if _, err := s.Ingest(ctx, db, b, fmt.Sprint("user", i%3)); err != nil {
					t.Fatal(err)
				}
			}
			q := Query{From: "2026-11-01", To: "2026-12-06"}
			before, err := s.Query(ctx, db, q)
			if err != nil {
				t.Fatal(err)
			}
			if before.Totals.Count != 10 || before.Totals.Sessions == 0 || before.Totals.Users == 0 {
				t.Fatalf("totals %+v", before.Totals)
			}
			clock.Add(int64(8 * 24 * time.Hour))
			// A pass that stops after writing the day documents: the
			// batches still hold the same days, and nothing counts twice.
			if _, err := s.compact(ctx, db, false); err != nil {
				t.Fatal(err)
			}
			mid, err := s.Query(ctx, db, q)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(mid) != fmt.Sprint(before) {
				t.Fatalf("after fold only %+v, want %+v", mid, before)
			}
			rep, err := s.Compact(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Folded != 0 || rep.Removed != 5 {
				t.Errorf("resumed pass %+v, want 0 folded and 5 batches removed", rep)
			}
			after, err := s.Query(ctx, db, q)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(after) != fmt.Sprint(before) {
				t.Fatalf("after compaction %+v, want %+v", after, before)
			}
		})
	}
}

func TestDistinctIDsAreBounded(t *testing.T) {
	t.Parallel()
	s, db, _ := newTestService(t, teststore.SQLite(t), Config{MaxDistinct: 3})
	var evs []Event
	for i := range 10 {
		evs = append(evs, Event{Name: "open", Timestamp: at(time.Minute), Platform: "android", Session: fmt.Sprint("s", i)})
	}
	for range 2 {
		if _, err := s.Ingest(t.Context(), db, Batch{Events: evs}, ""); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := s.Query(t.Context(), db, Query{From: "2026-12-06", To: "2026-12-06"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Days) != 1 || rep.Days[0].Count != 20 || rep.Days[0].Sessions != 3 || rep.Days[0].Users != 0 {
		t.Errorf("rows %+v", rep.Days)
	}
}

func TestUserIDsAreNotStored(t *testing.T) {
	t.Parallel()
	s, db, _ := newTestService(t, teststore.SQLite(t), Config{})
	if _, err := s.Ingest(t.Context(), db, Batch{BatchID: "b1", Events: []Event{{Name: "open", Timestamp: at(0), Platform: "ios"}}}, "user-secret-id"); err != nil {
		t.Fatal(err)
	}
	d, err := db.Collection(collBatches).Get(t.Context(), "b1")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(fmt.Sprint(d), "user-secret-id") {
		t.Errorf("batch document %v holds the user id", d)
	}
}
