package storetest

import (
	"errors"
	"strings"
	"testing"

	"github.com/skybridgehq/skybridge/store"
)

// except skips t when Options.Exceptions names it ("Area/Case").
func (s *suite) except(t *testing.T) {
	t.Helper()
	rel := strings.TrimPrefix(t.Name(), s.t.Name()+"/")
	if reason, ok := s.opts.Exceptions[rel]; ok {
		t.Skipf("FerretDB exception: %s", reason)
	}
}

// namespaceCases are the Provider cases about names and dropping.
func (s *suite) namespaceCases(t *testing.T) {
	t.Run("CollectionNamesAreCaseSensitive", func(t *testing.T) {
		s.except(t)
		p := s.newP(t)
		defer p.Close()
		db, err := p.DB(ctx(), "cases")
		must(t, err)
		insert(t, db.Collection("Todos"), store.Doc{"_id": "x", "in": "Todos"})
		if _, err := db.Collection("todos").Get(ctx(), "x"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("todos sees a document of Todos: %v", err)
		}
		insert(t, db.Collection("todos"), store.Doc{"_id": "x", "in": "todos"})
		must(t, db.Collection("Todos").EnsureIndex(ctx(), store.Index{Name: "by_in", Fields: []string{"in"}, Unique: true}))
		must(t, db.Collection("todos").EnsureIndex(ctx(), store.Index{Name: "by_in", Fields: []string{"in"}}))
		got, err := db.Collection("Todos").Get(ctx(), "x")
		must(t, err)
		if got["in"] != "Todos" {
			t.Fatalf("Todos/x = %v", got)
		}
		cols, err := db.Collections(ctx())
		must(t, err)
		if strings.Join(cols, ",") != "Todos,todos" {
			t.Fatalf("collections %v", cols)
		}
	})
	t.Run("DropCollectionDropsIndexes", func(t *testing.T) {
		s.except(t)
		p := s.newP(t)
		defer p.Close()
		db, err := p.DB(ctx(), "dropidx")
		must(t, err)
		c := db.Collection("users")
		must(t, c.EnsureIndex(ctx(), store.Index{Fields: []string{"email"}, Unique: true}))
		insert(t, c, store.Doc{"email": "a@x"})
		must(t, db.DropCollection(ctx(), "users"))
		must(t, db.DropCollection(ctx(), "users")) // dropping what is gone is fine
		if idx, err := c.Indexes(ctx()); err != nil || len(idx) != 0 {
			t.Fatalf("indexes after drop: %v %v", idx, err)
		}
		insert(t, c, store.Doc{"email": "a@x"})
		insert(t, c, store.Doc{"email": "a@x"}) // the unique index went with the collection
		if n, err := c.Count(ctx(), nil); err != nil || n != 2 {
			t.Fatalf("count after re-create: %d %v", n, err)
		}
	})
	t.Run("InvalidNamesEverywhere", func(t *testing.T) {
		s.except(t)
		p := s.newP(t)
		defer p.Close()
		for _, bad := range []string{"Bad", "", "a/b", "a.b"} {
			if err := p.DropDB(ctx(), bad); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("DropDB(%q): %v", bad, err)
			}
		}
		db, err := p.DB(ctx(), "badnames")
		must(t, err)
		for _, bad := range []string{"", "_sys", "a b", "a.b", "x'y", strings.Repeat("a", 101)} {
			c := db.Collection(bad)
			checks := map[string]error{"DropCollection": db.DropCollection(ctx(), bad)}
			_, checks["Get"] = c.Get(ctx(), "x")
			_, checks["Replace"] = c.Replace(ctx(), "x", 0, store.Doc{"a": 1})
			_, checks["Update"] = c.Update(ctx(), "x", 0, store.Update{Set: map[string]any{"a": 1}})
			checks["Delete"] = c.Delete(ctx(), "x", 0)
			_, checks["Find"] = c.Find(ctx(), store.Query{})
			_, checks["Count"] = c.Count(ctx(), nil)
			_, checks["Changes"] = c.Changes(ctx(), 0, 10)
			_, checks["LastSeq"] = c.LastSeq(ctx())
			checks["EnsureIndex"] = c.EnsureIndex(ctx(), store.Index{Fields: []string{"a"}})
			_, checks["Indexes"] = c.Indexes(ctx())
			for op, err := range checks {
				if !errors.Is(err, store.ErrInvalid) {
					t.Errorf("%s on collection %q: %v", op, bad, err)
				}
			}
		}
		if cols, err := db.Collections(ctx()); err != nil || len(cols) != 0 {
			t.Fatalf("invalid names created collections: %v %v", cols, err)
		}
	})
}
