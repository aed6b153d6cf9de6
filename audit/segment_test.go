package audit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// segments returns chain's stored segments in position order.
func segments(t testing.TB, db store.DB, chain string) []segment {
	t.Helper()
	q := store.Query{
		Filter: store.Compare{Path: "chain", Op: store.OpEq, Value: chain},
		Sort:   []store.SortKey{{Path: "n"}},
		Limit:  store.MaxLimit,
	}
	var out []segment
	for {
		p, err := db.Collection(RecordsCollection).Find(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range p.Docs {
			sg, err := segmentFromDoc(d)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, sg)
		}
		if p.Cursor == "" {
			return out
		}
		q.Cursor = p.Cursor
	}
}

// layout describes segments as their position ranges: "1-3 4-7 8-10".
func layout(sgs []segment) string {
	s := ""
	for i, sg := range sgs {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%d-%d", sg.first, sg.last)
	}
	return s
}

// fillSegments stores records of app/prod in segments of the given sizes
// (each size is one batch: the records, then a Flush) through a Service
// that is then closed, which signs a checkpoint of the head. Record i
// (from 1) has time t0 + i s.
func fillSegments(t *testing.T, db store.DB, app string, t0 time.Time, sizes ...int) {
	t.Helper()
	fillSegmentsFormat(t, db, app, t0, 2, sizes...)
}

// fillSegmentsFormat is fillSegments writing segments of the given format.
func fillSegmentsFormat(t *testing.T, db store.DB, app string, t0 time.Time, format int, sizes ...int) {
	t.Helper()
	ctx := context.Background()
	s := newService(t, db, Config{FlushInterval: time.Hour})
	s.format = format
	s.Start()
	i := 0
	for _, size := range sizes {
		for range size {
			i++
			r := sample(app, "prod", i)
			r.Time = t0.Add(time.Duration(i) * time.Second)
			if err := s.Record(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	want := ""
	first := 1
	for k, size := range sizes {
		if k > 0 {
			want += " "
		}
		want += fmt.Sprintf("%d-%d", first, first+size-1)
		first += size
	}
	if got := layout(segments(t, db, ChainOf(app, "prod"))); got != want {
		t.Fatalf("segments %s, want %s", got, want)
	}
}

// editSegment rewrites the stored segment id with edit applied to its
// document, behind the Service's back.
func editSegment(t *testing.T, db store.DB, id string, edit func(d store.Doc)) {
	t.Helper()
	col := db.Collection(RecordsCollection)
	d, err := col.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	edit(d)
	if _, err := col.Replace(context.Background(), id, 0, d); err != nil {
		t.Fatal(err)
	}
}

// editLines rewrites the record lines of the stored segment id; an edit
// that changes nothing fails the test (its pattern missed).
func editLines(t *testing.T, db store.DB, id string, edit func(lines []string) []string) {
	t.Helper()
	editSegment(t, db, id, func(d store.Doc) {
		was := d["records"].(string)
		lines := strings.SplitAfter(was, "\n")
		d["records"] = strings.Join(edit(lines[:len(lines)-1]), "")
		if d["records"] == was {
			t.Fatalf("the edit of segment %s changed nothing", id)
		}
	})
}

// storeSegment stores recs (numbered and hashed) as one segment, replacing
// the segment of that _id if there is one.
func storeSegment(t *testing.T, db store.DB, recs []*Record) {
	t.Helper()
	var b segmentBuilder
	for _, r := range recs {
		b.add(r, r.canonicalJSON())
	}
	d := b.doc()
	col := db.Collection(RecordsCollection)
	_, err := col.Replace(context.Background(), store.DocID(d), 0, d)
	if errors.Is(err, store.ErrNotFound) {
		_, err = col.Insert(context.Background(), d)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestSegmentEnd(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(secs ...int) []*Record {
		var out []*Record
		for _, s := range secs {
			out = append(out, &Record{Time: t0.Add(time.Duration(s) * time.Second)})
		}
		return out
	}
	tests := []struct {
		name string
		recs []*Record
		max  int
		want int
	}{
		{"one", at(0), 10, 1},
		{"all", at(0, 1, 2), 10, 3},
		{"capped", at(0, 1, 2), 2, 2},
		{"span exactly", at(0, 60), 10, 2},
		{"span over", at(0, 30, 61), 10, 2},
		{"backwards", at(60, 0, -1), 10, 2},
	}
	for _, tt := range tests {
		if got := segmentEnd(tt.recs, tt.max); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}

// TestWriterSegments: one segment per chain per batch, records of a batch
// spanning more than maxSegmentSpan split, and the segment's metadata.
func TestWriterSegments(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	for name, db := range databases(t) {
		t.Run(name, func(t *testing.T) {
			s := newService(t, db, Config{FlushInterval: time.Hour})
			s.Start()
			// One batch: chains a and b interleaved; a's third record is
			// two minutes after its first.
			for i, r := range []struct {
				app  string
				secs int
			}{{"sa", 0}, {"sb", 5}, {"sa", 30}, {"sb", 6}, {"sa", 120}, {"sa", 119}} {
				rec := sample(r.app, "prod", i)
				rec.Time = t0.Add(time.Duration(r.secs) * time.Second)
				if err := s.Record(ctx, rec); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			a, b := segments(t, db, "sa/prod"), segments(t, db, "sb/prod")
			if layout(a) != "1-2 3-4" || layout(b) != "1-2" {
				t.Fatalf("segments %s and %s, want 1-2 3-4 and 1-2", layout(a), layout(b))
			}
			sg := a[1]
			if sg.id != recordID("sa/prod", 3) || sg.app != "sa" || sg.env != "prod" ||
				!sg.from.Equal(t0.Add(119*time.Second)) || !sg.to.Equal(t0.Add(120*time.Second)) {
				t.Fatalf("segment %+v", sg)
			}
			if st := s.Stats(); st.Written != 6 {
				t.Fatalf("stats %+v", st)
			}
			mustVerify(t, s, "sa/prod")
			mustVerify(t, s, "sb/prod")
		})
	}
}

// TestQueryMergesOverlappingSegments: segments of two chains overlap in
// time and hold records out of time order; a query pages through them
// newest first without a gap or a repeat, also when new segments arrive
// between pages.
func TestQueryMergesOverlappingSegments(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	for name, db := range databases(t) {
		t.Run(name, func(t *testing.T) {
			s := newService(t, db, Config{FlushInterval: time.Hour})
			s.Start()
			secs := 0
			record := func(app string, offsets ...int) {
				for _, o := range offsets {
					r := sample(app, "prod", secs)
					r.RequestID = fmt.Sprintf("%s-%d", app, o)
					r.Time = t0.Add(time.Duration(o) * time.Second)
					if err := s.Record(ctx, r); err != nil {
						t.Fatal(err)
					}
					secs++
				}
			}
			// Batches: m1 holds 10..40 out of order, m2 interleaves,
			// equal times across chains included.
			record("m1", 10, 40, 20, 30)
			record("m2", 15, 25, 40, 5)
			if err := s.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			record("m1", 45, 1, 50)
			if err := s.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			want := []string{"m1-50", "m1-45", "m2-40", "m1-40", "m1-30", "m2-25", "m1-20", "m2-15", "m1-10", "m2-5", "m1-1"}
			var got []string
			q := Query{Limit: 3}
			for pages := 0; ; pages++ {
				if pages > 10 {
					t.Fatal("paging does not end")
				}
				p, err := s.Query(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range p.Items {
					got = append(got, r.RequestID)
				}
				if pages == 0 {
					// Newer records arriving after the first page do not
					// disturb the pages that follow.
					record("m2", 60, 61)
					if err := s.Flush(ctx); err != nil {
						t.Fatal(err)
					}
				}
				if p.Cursor == "" {
					break
				}
				q.Cursor = p.Cursor
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("got %v\nwant %v", got, want)
			}
			// A full last page has no cursor when nothing follows.
			p, err := s.Query(ctx, Query{App: "m1", Limit: 7})
			if err != nil || len(p.Items) != 7 || p.Cursor != "" {
				t.Fatalf("exact page: %d items, cursor %q, %v", len(p.Items), p.Cursor, err)
			}
		})
	}
}

func FuzzParseCursor(f *testing.F) {
	k := queryKey{Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Chain: "a/prod", N: 7}
	for _, seed := range []string{"", k.cursor(), "garbage!", "e30", "eyJ0IjoiIiwiYyI6IiIsIm4iOjB9", "eyJrIjpbXX0"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, c string) {
		got, err := parseCursor(c)
		if err != nil {
			return
		}
		if got == nil {
			if c != "" {
				t.Fatalf("cursor %q decoded to nothing", c)
			}
			return
		}
		back, err := parseCursor(got.cursor())
		if err != nil || back == nil || !back.Time.Equal(got.Time) || back.Chain != got.Chain || back.N != got.N {
			t.Fatalf("round trip of %+v: %+v %v", got, back, err)
		}
	})
}
