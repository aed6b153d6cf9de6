package objectstore

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/skybridgehq/skybridge/store"
)

// TestListPagingStableUnderConcurrentInserts pages through a collection
// sorted on a field while other objects are inserted before and after the
// cursor: every object present at the start is seen exactly once, in
// order.
func TestListPagingStableUnderConcurrentInserts(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Service) {
		t.Parallel()
		ctx := ctxT(t)
		putRules(t, s, dev, "items", Rules{Read: "authenticated", Create: "authenticated", Update: "owner", Delete: "owner"})
		const n = 60
		want := map[string]bool{}
		for i := range n {
			o := mustCreate(t, s, dev, alice, "items", fmt.Sprintf(`{"rank":%d,"g":%d}`, i*10, i%3))
			want[o.ID()] = true
		}
		q := ListQuery{Sort: []store.SortKey{{Path: "rank", Desc: true}}, Limit: 7}
		seen := map[string]bool{}
		last := int64(1 << 40)
		for page := 0; ; page++ {
			res, err := s.List(ctx, dev, bob, "items", q)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range res.Items {
				r, _ := store.Int64(o["rank"])
				if r > last {
					t.Fatalf("page %d: rank %d after %d", page, r, last)
				}
				last = r
				if seen[o.ID()] {
					t.Fatalf("object %s seen twice", o.ID())
				}
				seen[o.ID()] = true
			}
			if res.Cursor == "" {
				break
			}
			q.Cursor = res.Cursor
			// Inserts on both sides of the cursor, concurrently.
			var wg sync.WaitGroup
			errs := make(chan error, 2)
			for _, rank := range []int64{last + 5, last - 5} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := s.Create(ctx, dev, carol, "items", map[string]any{"rank": rank, "late": true})
					errs <- err
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		for id := range want {
			if !seen[id] {
				t.Errorf("object %s present from the start was never listed", id)
			}
		}
	})
}

func TestListQuery(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Service) {
		t.Parallel()
		ctx := ctxT(t)
		for i := range 5 {
			mustCreate(t, s, dev, alice, "todos", fmt.Sprintf(`{"title":"t%d","n":%d,"meta":{"k":%d,"secret":"s"},"done":%v}`, i, i, i*2, i%2 == 0))
		}
		mustCreate(t, s, dev, bob, "todos", `{"title":"bob's","n":3,"done":true}`)
		f, err := store.ParseFilter([]byte(`{"done":true,"n":{"$gte":1}}`))
		if err != nil {
			t.Fatal(err)
		}
		page, err := s.List(ctx, dev, alice, "todos", ListQuery{
			Filter: f, Sort: []store.SortKey{{Path: "n", Desc: true}}, Fields: []string{"title", "meta.k"}, Count: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(page.Items); got != "[map[_id:"+page.Items[0].ID()+" meta:map[k:8] title:t4] map[_id:"+page.Items[1].ID()+" meta:map[k:4] title:t2]]" {
			t.Errorf("projected items = %s", got)
		}
		if page.Count == nil || *page.Count != 2 || page.Cursor != "" {
			t.Errorf("count = %v, cursor %q", page.Count, page.Cursor)
		}
		for _, tt := range []struct {
			q     ListQuery
			field string
		}{
			{ListQuery{Sort: []store.SortKey{{Path: "a"}, {Path: "b"}, {Path: "c"}, {Path: "d"}}}, "sort"},
			{ListQuery{Sort: []store.SortKey{{Path: "$x"}}}, "sort"},
			{ListQuery{Filter: store.Compare{Path: "a", Op: "$where", Value: "1"}}, "filter"},
			{ListQuery{Fields: []string{"a.$b"}}, "fields"},
			{ListQuery{Cursor: "not-a-cursor"}, "cursor"},
			{ListQuery{Limit: -1}, "limit"},
		} {
			_, err := s.List(ctx, dev, alice, "todos", tt.q)
			wantField(t, fmt.Sprintf("%+v", tt.q), err, tt.field, ErrInvalid)
		}
		_, err = s.List(ctx, dev, alice, "no such", ListQuery{})
		wantField(t, "bad collection", err, "collection", ErrInvalid)
	})
}

func TestChangesPaging(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Service) {
		t.Parallel()
		ctx := ctxT(t)
		var mine []string
		for i := range 30 {
			p := alice
			if i%3 != 0 {
				p = bob // objects alice may not read, between hers
			}
			o := mustCreate(t, s, dev, p, "feed", fmt.Sprintf(`{"i":%d}`, i))
			if p.UserID == "alice" {
				mine = append(mine, o.ID())
			}
		}
		start, err := s.LastSeq(ctx, dev, "feed")
		if err != nil || start == 0 {
			t.Fatalf("LastSeq = %d, %v", start, err)
		}
		var got []string
		after := int64(0)
		for range 20 {
			ch, err := s.Changes(ctx, dev, alice, "feed", after, 4)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range ch.Objects {
				if o.Owner() != "alice" {
					t.Fatalf("alice's feed has %v", o)
				}
				got = append(got, o.ID())
			}
			if ch.Last == after {
				break
			}
			after = ch.Last
		}
		if fmt.Sprint(got) != fmt.Sprint(mine) {
			t.Errorf("alice's feed = %v, want %v", got, mine)
		}
		if after != start {
			t.Errorf("feed ended at %d, LastSeq %d", after, start)
		}
		ch, err := s.Changes(ctx, dev, alice, "missing", 0, 10)
		if err != nil || len(ch.Objects) != 0 {
			t.Errorf("changes of a missing collection: %v, %v", ch, err)
		}
	})
}

// TestConcurrentPatchesNoLostUpdate patches one object from many
// goroutines without If-Match: each patch is retried on a concurrent
// change, so none is lost.
func TestConcurrentPatchesNoLostUpdate(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Service) {
		t.Parallel()
		ctx := ctxT(t)
		o := mustCreate(t, s, dev, alice, "counters", `{}`)
		const n = 8
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.Patch(ctx, dev, alice, "counters", o.ID(), map[string]any{fmt.Sprintf("k%d", i): i}, 0)
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("patch: %v", err)
			}
		}
		got, err := s.Get(ctx, dev, alice, "counters", o.ID())
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if _, ok := got[fmt.Sprintf("k%d", i)]; !ok {
				t.Errorf("patch k%d lost: %v", i, got)
			}
		}
		if got.Version() != n+1 {
			t.Errorf("version = %d, want %d", got.Version(), n+1)
		}
	})
}

// TestListPageBytes: a page that would pass MaxPageBytes ends early with a
// cursor, and paging on from it sees every object once.
func TestListPageBytes(t *testing.T) {
	t.Parallel()
	forEachStoreCfg(t, Config{MaxPageBytes: 10_000}, func(t *testing.T, s *Service) {
		t.Parallel()
		ctx := ctxT(t)
		big := strings.Repeat("x", 3000)
		for i := range 10 {
			mustCreate(t, s, dev, alice, "notes", fmt.Sprintf(`{"i":%d,"body":%q}`, i, big))
		}
		seen := map[any]bool{}
		q := ListQuery{Sort: []store.SortKey{{Path: "i"}}, Limit: 1000}
		pages := 0
		for {
			page, err := s.List(ctx, dev, alice, "notes", q)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			if len(page.Items) == 0 || len(page.Items) > 3 {
				t.Fatalf("page of %d items under a 10,000-byte bound", len(page.Items))
			}
			for _, o := range page.Items {
				if seen[o["i"]] {
					t.Fatalf("object %v seen twice", o["i"])
				}
				seen[o["i"]] = true
			}
			if page.Cursor == "" {
				break
			}
			q.Cursor = page.Cursor
		}
		if len(seen) != 10 || pages < 4 {
			t.Fatalf("saw %d objects in %d pages", len(seen), pages)
		}
	})
}
