package mongo

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/skybridgehq/skybridge/store"
)

func TestWriteErrors(t *testing.T) {
	eachBackend(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		c := testColl(t, open(t, Options{}), "w")
		d, err := c.Insert(ctx, store.Doc{"_id": "x", "n": 1, "s": "str", "o": map[string]any{"k": 1}})
		if err != nil {
			t.Fatal(err)
		}
		if store.DocID(d) != "x" || store.DocVersion(d) != 1 {
			t.Fatalf("Insert = %v", d)
		}
		tests := []struct {
			name string
			call func() error
			want error
		}{
			{"insert duplicate id", func() error { _, err := c.Insert(ctx, store.Doc{"_id": "x"}); return err }, store.ErrDuplicate},
			{"insert non-string id", func() error { _, err := c.Insert(ctx, store.Doc{"_id": 5}); return err }, store.ErrInvalid},
			{"insert dollar field", func() error { _, err := c.Insert(ctx, store.Doc{"$set": 1}); return err }, store.ErrInvalid},
			{"get missing", func() error { _, err := c.Get(ctx, "nope"); return err }, store.ErrNotFound},
			{"replace missing", func() error { _, err := c.Replace(ctx, "nope", 0, store.Doc{}); return err }, store.ErrNotFound},
			{"replace stale", func() error { _, err := c.Replace(ctx, "x", 7, store.Doc{}); return err }, store.ErrVersionConflict},
			{"update missing", func() error {
				_, err := c.Update(ctx, "nope", 0, store.Update{Set: map[string]any{"a": 1}})
				return err
			}, store.ErrNotFound},
			{"update missing guarded", func() error {
				_, err := c.Update(ctx, "nope", 3, store.Update{Set: map[string]any{"a": 1}})
				return err
			}, store.ErrNotFound},
			{"update stale", func() error { _, err := c.Update(ctx, "x", 7, store.Update{Set: map[string]any{"a": 1}}); return err }, store.ErrVersionConflict},
			{"update system field", func() error { _, err := c.Update(ctx, "x", 0, store.Update{Set: map[string]any{"_v": 1}}); return err }, store.ErrInvalid},
			{"inc system field", func() error {
				_, err := c.Update(ctx, "x", 0, store.Update{Inc: map[string]float64{"_seq": 1}})
				return err
			}, store.ErrInvalid},
			{"set and inc one path", func() error {
				_, err := c.Update(ctx, "x", 0, store.Update{Set: map[string]any{"n": 1}, Inc: map[string]float64{"n": 1}})
				return err
			}, store.ErrInvalid},
			{"inc a string", func() error {
				_, err := c.Update(ctx, "x", 0, store.Update{Inc: map[string]float64{"s": 1}})
				return err
			}, store.ErrInvalid},
			{"set through a scalar", func() error {
				_, err := c.Update(ctx, "x", 0, store.Update{Set: map[string]any{"n.deeper": 1}})
				return err
			}, store.ErrInvalid},
			{"set overlapping paths", func() error {
				_, err := c.Update(ctx, "x", 0, store.Update{Set: map[string]any{"o": 1, "o.k": 2}})
				return err
			}, store.ErrInvalid},
			{"bad update path", func() error {
				_, err := c.Update(ctx, "x", 0, store.Update{Set: map[string]any{"a.$b": 1}})
				return err
			}, store.ErrInvalid},
			{"delete missing", func() error { return c.Delete(ctx, "nope", 0) }, store.ErrNotFound},
			{"delete missing guarded", func() error { return c.Delete(ctx, "nope", 1) }, store.ErrNotFound},
			{"delete stale", func() error { return c.Delete(ctx, "x", 9) }, store.ErrVersionConflict},
			{"bad collection name", func() error { _, err := testColl(t, c.db.p, "1bad").Get(ctx, "x"); return err }, store.ErrInvalid},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				if err := tc.call(); !errors.Is(err, tc.want) {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
			})
		}
		// None of the refused writes changed the document or held the feed.
		got, err := c.Get(ctx, "x")
		if err != nil {
			t.Fatal(err)
		}
		if store.DocVersion(got) != 1 {
			t.Fatalf("refused writes changed the document: %v", got)
		}
		d2, err := c.Insert(ctx, store.Doc{})
		if err != nil {
			t.Fatal(err)
		}
		last, err := c.LastSeq(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if last != store.DocSeq(d2) {
			t.Fatalf("LastSeq = %d after refused writes, want %d (released allocations must not hold the feed)", last, store.DocSeq(d2))
		}
	})
}

func TestReplaceUpdateDelete(t *testing.T) {
	eachBackend(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		c := testColl(t, open(t, Options{}), "rud")
		d, err := c.Insert(ctx, store.Doc{"title": "a", "n": 1, "gone": true})
		if err != nil {
			t.Fatal(err)
		}
		id := store.DocID(d)
		r, err := c.Replace(ctx, id, 1, store.Doc{"_id": "ignored", "title": "b", "n": 2, "_createdAt": "x"})
		if err != nil {
			t.Fatal(err)
		}
		if store.DocID(r) != id || store.DocVersion(r) != 2 || r["_createdAt"] != d["_createdAt"] || r["gone"] != nil || store.DocSeq(r) <= store.DocSeq(d) {
			t.Fatalf("Replace = %v (inserted %v)", r, d)
		}
		r, err = c.Replace(ctx, id, 0, store.Doc{"title": "c"})
		if err != nil {
			t.Fatal(err)
		}
		if store.DocVersion(r) != 3 {
			t.Fatalf("unguarded Replace _v = %d, want 3", store.DocVersion(r))
		}
		u, err := c.Update(ctx, id, 3, store.Update{
			Set: map[string]any{"o.deep": map[string]any{"k": []any{1.0}}, "title": "d"},
			Inc: map[string]float64{"count": 2, "ratio": 0.5},
		})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"title": "d", "count": int64(2), "ratio": 0.5, "o": map[string]any{"deep": map[string]any{"k": []any{int64(1)}}}}
		for k, v := range want {
			if !equalJSON(u[k], v) {
				t.Fatalf("Update: %s = %#v, want %#v", k, u[k], v)
			}
		}
		if store.DocVersion(u) != 4 || u["_createdAt"] != d["_createdAt"] {
			t.Fatalf("Update = %v", u)
		}
		u, err = c.Update(ctx, id, 0, store.Update{Inc: map[string]float64{"count": -5}})
		if err != nil {
			t.Fatal(err)
		}
		if u["count"] != int64(-3) || store.DocVersion(u) != 5 {
			t.Fatalf("second Inc = %v", u)
		}
		got, err := c.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !equalJSON(map[string]any(got), map[string]any(u)) {
			t.Fatalf("Get after Update = %v, Update returned %v", got, u)
		}
		if err := c.Delete(ctx, id, 5); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Get(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get after Delete = %v", err)
		}
	})
}

func equalJSON(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if !equalJSON(v, y[k]) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		return ok && slices.EqualFunc(x, y, func(p, q any) bool { return equalJSON(p, q) })
	default:
		return a == b
	}
}

func TestCommitHookAborts(t *testing.T) {
	eachBackend(t, func(t *testing.T, open opener) {
		c := testColl(t, open(t, Options{}), "hook")
		boom := errors.New("boom")
		var seen []int64
		ctx := store.WithCommitHook(context.Background(), func(coll string, seq int64) error {
			if coll != "hook" {
				t.Errorf("hook collection = %q", coll)
			}
			seen = append(seen, seq)
			return boom
		})
		if _, err := c.Insert(ctx, store.Doc{"_id": "a"}); !errors.Is(err, boom) {
			t.Fatalf("Insert with failing hook = %v, want boom", err)
		}
		if len(seen) != 1 || seen[0] != 1 {
			t.Fatalf("hook saw %v, want [1]", seen)
		}
		if _, err := c.Get(context.Background(), "a"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("aborted insert was written: %v", err)
		}
		d, err := c.Insert(context.Background(), store.Doc{"_id": "b"})
		if err != nil {
			t.Fatal(err)
		}
		if store.DocSeq(d) != 2 {
			t.Fatalf("_seq after aborted write = %d, want 2", store.DocSeq(d))
		}
		last, err := c.LastSeq(context.Background())
		if err != nil || last != 2 {
			t.Fatalf("LastSeq = %d, %v; want 2 (the aborted allocation is released)", last, err)
		}
	})
}

func TestCancelledWrite(t *testing.T) {
	eachBackend(t, func(t *testing.T, open opener) {
		c := testColl(t, open(t, Options{}), "cancel")
		done, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := c.Insert(done, store.Doc{"_id": "never"}); !errors.Is(err, context.Canceled) {
			t.Fatalf("Insert with a cancelled context = %v", err)
		}
		// Cancelled once the write has its _seq: it completes, and the
		// feed is not held back waiting for a lease.
		ctx, cancel := context.WithCancel(context.Background())
		ctx = store.WithCommitHook(ctx, func(string, int64) error { cancel(); return nil })
		d, err := c.Insert(ctx, store.Doc{"_id": "late"})
		if err != nil {
			t.Fatalf("Insert cancelled after its _seq: %v", err)
		}
		if got := lastSeq(t, c); got != store.DocSeq(d) {
			t.Fatalf("LastSeq = %d, want %d", got, store.DocSeq(d))
		}
		if _, err := c.Get(context.Background(), "never"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("cancelled insert was written: %v", err)
		}
	})
}

func TestIndexes(t *testing.T) {
	eachBackend(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		c := testColl(t, open(t, Options{}), "ix")
		if got, err := c.Indexes(ctx); err != nil || len(got) != 0 {
			t.Fatalf("Indexes of a missing collection = %v, %v", got, err)
		}
		for _, idx := range []store.Index{
			{Fields: []string{"email"}, Unique: true},
			{Fields: []string{"a", "-b"}},
			{Name: "by_n", Fields: []string{"n"}},
		} {
			if err := c.EnsureIndex(ctx, idx); err != nil {
				t.Fatalf("EnsureIndex(%v): %v", idx, err)
			}
			if err := c.EnsureIndex(ctx, idx); err != nil {
				t.Fatalf("EnsureIndex(%v) again: %v", idx, err)
			}
		}
		got, err := c.Indexes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []store.Index{
			{Name: "by_n", Fields: []string{"n"}},
			{Name: "ix_a__b", Fields: []string{"a", "-b"}},
			{Name: "ix_email_u", Fields: []string{"email"}, Unique: true},
		}
		if !slices.EqualFunc(got, want, func(a, b store.Index) bool {
			return a.Name == b.Name && a.Unique == b.Unique && slices.Equal(a.Fields, b.Fields)
		}) {
			t.Fatalf("Indexes() = %+v, want %+v", got, want)
		}
		// Unique: documents lacking the field are exempt; a taken value is not.
		for _, d := range []store.Doc{{}, {}, {"email": "a@x"}} {
			if _, err := c.Insert(ctx, d); err != nil {
				t.Fatalf("Insert(%v): %v", d, err)
			}
		}
		if _, err := c.Insert(ctx, store.Doc{"email": "a@x"}); !errors.Is(err, store.ErrDuplicate) {
			t.Fatalf("Insert of a taken email = %v, want ErrDuplicate", err)
		}
		other, err := c.Insert(ctx, store.Doc{"email": "b@x"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Update(ctx, store.DocID(other), 0, store.Update{Set: map[string]any{"email": "a@x"}}); !errors.Is(err, store.ErrDuplicate) {
			t.Fatalf("Update onto a taken email = %v, want ErrDuplicate", err)
		}
		if _, err := c.Replace(ctx, store.DocID(other), 0, store.Doc{"email": "a@x"}); !errors.Is(err, store.ErrDuplicate) {
			t.Fatalf("Replace onto a taken email = %v, want ErrDuplicate", err)
		}
		// A unique index over documents that already break it.
		for range 2 {
			if _, err := c.Insert(ctx, store.Doc{"team": "red"}); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.EnsureIndex(ctx, store.Index{Fields: []string{"team"}, Unique: true}); !errors.Is(err, store.ErrDuplicate) {
			t.Fatalf("EnsureIndex over duplicates = %v, want ErrDuplicate", err)
		}
		// Invalid definitions.
		for _, idx := range []store.Index{
			{},
			{Fields: []string{"$a"}},
			{Name: "_sb_mine", Fields: []string{"a"}},
			{Name: "by_n", Fields: []string{"other"}},
		} {
			if err := c.EnsureIndex(ctx, idx); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("EnsureIndex(%+v) = %v, want ErrInvalid", idx, err)
			}
		}
	})
}

func TestFindPaging(t *testing.T) {
	eachBackend(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		c := testColl(t, open(t, Options{}), "page")
		// n repeats and is sometimes missing, so pages must break ties by _id
		// and place missing values first.
		var want []string
		for i := range 23 {
			d := store.Doc{"_id": string(rune('a' + i))}
			if i%5 != 0 {
				d["n"] = (i * 7) % 4
			}
			if _, err := c.Insert(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		all, err := c.Find(ctx, store.Query{Sort: []store.SortKey{{Path: "n", Desc: true}}, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range all.Docs {
			want = append(want, store.DocID(d))
		}
		if len(want) != 23 || all.Cursor != "" {
			t.Fatalf("one page of all: %d docs, cursor %q", len(want), all.Cursor)
		}
		for _, sort := range [][]store.SortKey{
			{{Path: "n", Desc: true}},
			{{Path: "n"}},
			nil,
			{{Path: "_id", Desc: true}},
		} {
			full, err := c.Find(ctx, store.Query{Sort: sort, Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			cursor := ""
			for pages := 0; ; pages++ {
				if pages > 30 {
					t.Fatal("paging does not end")
				}
				p, err := c.Find(ctx, store.Query{Sort: sort, Limit: 4, Cursor: cursor})
				if err != nil {
					t.Fatal(err)
				}
				for _, d := range p.Docs {
					got = append(got, store.DocID(d))
				}
				if p.Cursor == "" {
					break
				}
				cursor = p.Cursor
			}
			var ids []string
			for _, d := range full.Docs {
				ids = append(ids, store.DocID(d))
			}
			if !slices.Equal(got, ids) {
				t.Fatalf("sort %v: pages %v, want %v", sort, got, ids)
			}
		}
		if _, err := c.Find(ctx, store.Query{Cursor: "!!"}); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("bad cursor = %v", err)
		}
	})
}
