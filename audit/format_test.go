package audit

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// TestSegmentFormatsRoundTrip writes one batch of records that repeat,
// change, empty and refill their fields (times before and after the
// first record's, a latency of -0, the system chain with two
// environments) in every segment format, and reads back exactly the
// records written. Format 3 stores fewer bytes than format 2.
func TestSegmentFormatsRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	batch := func(app string) []Record {
		var out []Record
		for i := range 12 {
			r := sample(app, "prod", i)
			r.Time = t0.Add(time.Duration(i%5-2) * 1500 * time.Microsecond)
			switch i % 4 {
			case 1: // the same as the line before, but for what sample varies
				r.Resource = "collections/todos/objects/1"
			case 2: // empties, and a value that itself looks like a marker
				r.AppVersion, r.UserAgent, r.RequestID, r.Action = "", "", "", `\e`
			case 3:
				r.Status, r.LatencyMs, r.IP = 404, math.Copysign(0, -1), "a|b\\c\n"
			}
			if app == "" && i%3 == 0 {
				r.Env = "other" // the system chain holds records of any environment
			}
			out = append(out, r)
		}
		return out
	}
	sizes := map[int]int{}
	for name, db := range databases(t) {
		for _, format := range []int{1, 2, 3} {
			for _, app := range []string{"f" + store.NewID()[:8], ""} {
				t.Run(fmt.Sprintf("%s/format=%d/app=%q", name, format, app), func(t *testing.T) {
					db := db
					if app == "" {
						// The system chain is shared by the package's tests:
						// its own database.
						db = databases(t)[name]
					}
					s := newService(t, db, Config{FlushInterval: time.Hour})
					s.format = format
					s.Start()
					want := batch(app)
					for _, r := range want {
						if err := s.Record(ctx, r); err != nil {
							t.Fatal(err)
						}
					}
					if err := s.Flush(ctx); err != nil {
						t.Fatal(err)
					}
					chain := ChainOf(app, "prod")
					sgs := segments(t, db, chain)
					if len(sgs) != 1 || sgs[0].format != format || len(sgs[0].records) != len(want) {
						t.Fatalf("segments %s of format %d, want one of format %d with %d records", layout(sgs), sgs[0].format, format, len(want))
					}
					for i, got := range sgs[0].records {
						w := want[i]
						w.normalize(time.Time{})
						w.N, w.Prev, w.Hash = got.N, got.Prev, got.Hash
						if got.N != int64(i+1) || got.Hash != w.ComputeHash() || fmt.Sprint(got) != fmt.Sprint(w) {
							t.Fatalf("record %d\n got %+v\nwant %+v", i+1, got, w)
						}
					}
					mustVerify(t, s, chain)
					if app != "" && name == "sqlite" {
						d, err := db.Collection(RecordsCollection).Get(ctx, sgs[0].id)
						if err != nil {
							t.Fatal(err)
						}
						sizes[format] = len(d["records"].(string))
					}
				})
			}
		}
	}
	if sizes[3] == 0 || sizes[3] >= sizes[2] || sizes[2] >= sizes[1] {
		t.Fatalf("stored record bytes by format %v, want each format smaller than the one before", sizes)
	}
}
