// Package storetest is the conformance suite of the store contract
// (store/store.go, store/filter.go). Every adapter runs it:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t testing.TB) store.Provider { ... fresh, empty ... }, storetest.Options{})
//	}
//
// Subtests are named "Area/Case" (e.g. "Concurrency/CASNoLostUpdates") so
// that an adapter can name the ones a backend cannot hold in
// Options.Exceptions; only the FerretDB run does, and each exception is
// skipped with its reason, never silently dropped.
//
// Matches is the reference semantics of store.Filter; ModelDocs,
// RandomFilter and CheckAgainstModel let an adapter fuzz its filter
// compiler against it (the suite's Filter/MatchesReference does so with a
// fixed seed). Bench measures insert, get and a filtered query.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// Options configure Run.
type Options struct {
	// Exceptions maps a subtest path ("Area/Case") to why this backend
	// cannot hold it. Only the FerretDB run of the MongoDB adapter uses it.
	Exceptions map[string]string
}

// NewProvider returns a fresh, empty provider; the suite closes it.
type NewProvider func(t testing.TB) store.Provider

type suite struct {
	t    *testing.T
	newP NewProvider
	opts Options
}

// Run runs the whole suite.
func Run(t *testing.T, newP NewProvider, opts Options) {
	s := &suite{t: t, newP: newP, opts: opts}
	areas := []struct {
		name  string
		cases map[string]func(t *testing.T, db store.DB)
	}{
		{"CRUD", crudCases()},
		{"Update", updateCases()},
		{"Filter", filterCases()},
		{"Sort", sortCases()},
		{"Index", indexCases()},
		{"Feed", feedCases()},
		{"Concurrency", concurrencyCases()},
	}
	for _, a := range areas {
		t.Run(a.name, func(t *testing.T) {
			names := make([]string, 0, len(a.cases))
			for n := range a.cases {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				fn := a.cases[n]
				t.Run(n, func(t *testing.T) {
					if reason, ok := s.opts.Exceptions[a.name+"/"+n]; ok {
						t.Skipf("FerretDB exception: %s", reason)
					}
					fn(t, s.db(t))
				})
			}
		})
	}
	t.Run("Provider", func(t *testing.T) { s.providerCases(t) })
}

// db opens a fresh provider and its test database.
func (s *suite) db(t *testing.T) store.DB {
	t.Helper()
	p := s.newP(t)
	t.Cleanup(func() { p.Close() })
	db, err := p.DB(context.Background(), "conformance")
	if err != nil {
		t.Fatalf("open database: %v", err)
	}
	return db
}

func ctx() context.Context { return context.Background() }

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func insert(t testing.TB, c store.Collection, d store.Doc) store.Doc {
	t.Helper()
	out, err := c.Insert(ctx(), d)
	if err != nil {
		t.Fatalf("insert %v: %v", d, err)
	}
	return out
}

// jsonEq compares values by their JSON form.
func jsonEq(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func wantErr(t testing.TB, err, want error, what string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: want %v, got %v", what, want, err)
	}
}

func ids(docs []store.Doc) []string {
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = store.DocID(d)
	}
	return out
}

func sortedIDs(docs []store.Doc) []string {
	out := ids(docs)
	sort.Strings(out)
	return out
}

// all pages through a query and returns every document.
func all(t testing.TB, c store.Collection, q store.Query) []store.Doc {
	t.Helper()
	var out []store.Doc
	for i := 0; ; i++ {
		if i > 10000 {
			t.Fatal("pagination does not end")
		}
		page, err := c.Find(ctx(), q)
		if err != nil {
			t.Fatalf("find %+v: %v", q, err)
		}
		out = append(out, page.Docs...)
		if page.Cursor == "" {
			return out
		}
		q.Cursor = page.Cursor
	}
}

func (s *suite) providerCases(t *testing.T) {
	s.namespaceCases(t)
	t.Run("Isolation", func(t *testing.T) {
		s.except(t)
		p := s.newP(t)
		defer p.Close()
		a, err := p.DB(ctx(), "tenant_a")
		must(t, err)
		b, err := p.DB(ctx(), "tenant_b")
		must(t, err)
		insert(t, a.Collection("things"), store.Doc{"_id": "x", "owner": "a"})
		if _, err := b.Collection("things").Get(ctx(), "x"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("database b sees a's document: %v", err)
		}
		insert(t, b.Collection("things"), store.Doc{"_id": "x", "owner": "b"})
		got, err := a.Collection("things").Get(ctx(), "x")
		must(t, err)
		if got["owner"] != "a" {
			t.Fatalf("a's document changed: %v", got)
		}
		n, err := b.Collection("things").Count(ctx(), nil)
		must(t, err)
		if n != 1 {
			t.Fatalf("b has %d documents", n)
		}
	})
	t.Run("CollectionsAndDrop", func(t *testing.T) {
		s.except(t)
		p := s.newP(t)
		defer p.Close()
		db, err := p.DB(ctx(), "drops")
		must(t, err)
		insert(t, db.Collection("beta"), store.Doc{"a": 1})
		insert(t, db.Collection("alpha"), store.Doc{"a": 1})
		cols, err := db.Collections(ctx())
		must(t, err)
		if !reflect.DeepEqual(cols, []string{"alpha", "beta"}) {
			t.Fatalf("collections %v", cols)
		}
		must(t, db.DropCollection(ctx(), "beta"))
		cols, _ = db.Collections(ctx())
		if !reflect.DeepEqual(cols, []string{"alpha"}) {
			t.Fatalf("after drop %v", cols)
		}
		if n, err := db.Collection("beta").Count(ctx(), nil); err != nil || n != 0 {
			t.Fatalf("dropped collection still counts %d %v", n, err)
		}
		must(t, p.DropDB(ctx(), "drops"))
		db, err = p.DB(ctx(), "drops")
		must(t, err)
		if n, err := db.Collection("alpha").Count(ctx(), nil); err != nil || n != 0 {
			t.Fatalf("dropped database still has %d documents (%v)", n, err)
		}
	})
	t.Run("InvalidNames", func(t *testing.T) {
		s.except(t)
		p := s.newP(t)
		defer p.Close()
		for _, bad := range []string{"", "Upper", "a b", "../x", "x.y"} {
			if _, err := p.DB(ctx(), bad); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("DB(%q): %v", bad, err)
			}
		}
		db, err := p.DB(ctx(), "names")
		must(t, err)
		for _, bad := range []string{"", "_sb_seq", "a.b", "$x", "a b", "x\"y"} {
			if _, err := db.Collection(bad).Insert(ctx(), store.Doc{"a": 1}); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("Insert into %q: %v", bad, err)
			}
		}
	})
	t.Run("ClosedAndPing", func(t *testing.T) {
		s.except(t)
		p := s.newP(t)
		must(t, p.Ping(ctx()))
		db, err := p.DB(ctx(), "closing")
		must(t, err)
		insert(t, db.Collection("c"), store.Doc{"a": 1})
		must(t, p.Close())
		if err := p.Ping(ctx()); err == nil {
			t.Fatal("Ping after Close succeeded")
		}
		if _, err := p.DB(ctx(), "closing"); !errors.Is(err, store.ErrClosed) {
			t.Fatalf("DB after Close: %v", err)
		}
		if _, err := db.Collection("c").Insert(ctx(), store.Doc{"a": 2}); !errors.Is(err, store.ErrClosed) {
			t.Fatalf("Insert after Close: %v", err)
		}
	})
}

// waitOrTimeout waits for done, for at most d; it reports whether done
// closed. It bounds an observation window, it does not wait for a state.
func waitOrTimeout(done <-chan struct{}, d time.Duration) bool {
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

func docf(format string, args ...any) store.Doc {
	var d store.Doc
	if err := json.Unmarshal([]byte(fmt.Sprintf(format, args...)), &d); err != nil {
		panic(err)
	}
	return store.Normalize(d).(map[string]any)
}
