package audit

import (
	"context"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// TestConvertRecords: a trail stored one record per document, as before
// segments, verifies after ConvertRecords, keeps an edit detectable,
// answers queries, and goes on with segments.
func TestConvertRecords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	for name, db := range databases(t) {
		t.Run(name, func(t *testing.T) {
			// The old format: toDoc plus the _id of the position.
			store1 := func(app string, edit int64) {
				prev := ""
				for n := int64(1); n <= 5; n++ {
					r := sample(app, "prod", int(n))
					r.normalize(t0.Add(time.Duration(n) * time.Minute)) // sets chain and time
					r.N, r.Prev = n, prev
					r.Hash = r.ComputeHash()
					prev = r.Hash
					d := legacyDoc(&r)
					if n == edit {
						d["status"] = int64(500)
					}
					if _, err := db.Collection(RecordsCollection).Insert(ctx, d); err != nil {
						t.Fatal(err)
					}
				}
			}
			store1("old", 0)
			store1("edited", 3)
			n, err := ConvertRecords(ctx, db)
			if err != nil || n != 10 {
				t.Fatalf("converted %d %v, want 10", n, err)
			}
			if n, err := ConvertRecords(ctx, db); err != nil || n != 0 {
				t.Fatalf("second run converted %d %v", n, err)
			}
			s := newService(t, db, Config{Sync: true})
			if rep := mustVerify(t, s, "old/prod"); rep.Records != 5 || rep.Last != 5 {
				t.Fatalf("converted chain %+v", rep)
			}
			if rep, err := s.Verify(ctx, "edited/prod"); err != nil || rep.OK || rep.Break.Kind != BreakEdited || rep.Break.N != 3 {
				t.Fatalf("edited chain %+v %v", rep, err)
			}
			p, err := s.Query(ctx, Query{App: "old", From: t0.Add(2 * time.Minute), Limit: 2})
			if err != nil || len(p.Items) != 2 || p.Items[0].N != 5 || p.Items[1].N != 4 || p.Cursor == "" {
				t.Fatalf("query %+v %v", p, err)
			}
			s.Start()
			if err := s.Record(ctx, sample("old", "prod", 6)); err != nil {
				t.Fatal(err)
			}
			if rep := mustVerify(t, s, "old/prod"); rep.Last != 6 {
				t.Fatalf("after append %+v", rep)
			}
		})
	}
}

// legacyDoc is a record as versions before segments stored it.
func legacyDoc(r *Record) store.Doc {
	return store.Doc{
		store.FieldID: recordID(r.Chain, r.N),
		"time":        store.FormatTime(r.Time),
		"app":         r.App,
		"env":         r.Env,
		"actor":       map[string]any{"kind": r.Actor.Kind, "id": r.Actor.ID},
		"appVersion":  r.AppVersion,
		"userAgent":   r.UserAgent,
		"ip":          r.IP,
		"method":      r.Method,
		"route":       r.Route,
		"resource":    r.Resource,
		"action":      r.Action,
		"status":      int64(r.Status),
		"latencyMs":   r.LatencyMs,
		"requestId":   r.RequestID,
		"chain":       r.Chain,
		"n":           r.N,
		"prev":        r.Prev,
		"hash":        r.Hash,
	}
}
