package mongo

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

func TestOptionsWithDefaults(t *testing.T) {
	t.Parallel()
	logger := slog.New(slog.DiscardHandler)
	tests := []struct {
		name string
		in   Options
		want Options
	}{
		{
			name: "zero",
			in:   Options{URI: "mongodb://h"},
			want: Options{URI: "mongodb://h", DBPrefix: "sb_", LeaseDuration: 30 * time.Second, OpTimeout: 10 * time.Second},
		},
		{
			name: "set",
			in:   Options{URI: "mongodb://h", DBPrefix: "x_", LeaseDuration: time.Second, OpTimeout: 2 * time.Second, Logger: logger},
			want: Options{URI: "mongodb://h", DBPrefix: "x_", LeaseDuration: time.Second, OpTimeout: 2 * time.Second, Logger: logger},
		},
		{
			name: "negative durations",
			in:   Options{URI: "mongodb://h", LeaseDuration: -1, OpTimeout: -1},
			want: Options{URI: "mongodb://h", DBPrefix: "sb_", LeaseDuration: 30 * time.Second, OpTimeout: 10 * time.Second},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.in.withDefaults()
			if got.Logger == nil {
				t.Fatal("Logger left nil")
			}
			if tc.want.Logger == nil {
				tc.want.Logger = got.Logger
			}
			if got != tc.want {
				t.Fatalf("withDefaults() = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestOpenRefusesBadOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts Options
	}{
		{"no URI", Options{}},
		{"prefix with dot", Options{URI: "mongodb://127.0.0.1:1", DBPrefix: "a.b"}},
		{"prefix with slash", Options{URI: "mongodb://127.0.0.1:1", DBPrefix: "a/"}},
		{"prefix too long", Options{URI: "mongodb://127.0.0.1:1", DBPrefix: "abcdefghijklmnop"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(context.Background(), tc.opts)
			if !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("Open(%+v) = %v, want ErrInvalid", tc.opts, err)
			}
		})
	}
}

func TestOpenUnreachable(t *testing.T) {
	t.Parallel()
	_, err := Open(context.Background(), Options{
		URI:       "mongodb://user:secret@127.0.0.1:1/?serverSelectionTimeoutMS=200",
		OpTimeout: 2 * time.Second,
	})
	if err == nil {
		t.Fatal("Open of a closed port succeeded")
	}
	if msg := err.Error(); strings.Contains(msg, "secret") {
		t.Fatalf("error leaks the password: %s", msg)
	}
}

func TestRedactURI(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"mongodb://u:p@h1,h2/db?x=1":  "mongodb://h1,h2/db?x=1",
		"mongodb://h:27017":           "mongodb://h:27017",
		"mongodb+srv://u:p@@c.net/db": "mongodb+srv://c.net/db",
		"garbage":                     "(connection string)",
	}
	for in, want := range tests {
		if got := redactURI(in); got != want {
			t.Errorf("redactURI(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestProviderBasics(t *testing.T) {
	eachBackend(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		p := open(t, Options{})
		if p.Kind() != "mongo" {
			t.Fatalf("Kind() = %q", p.Kind())
		}
		if err := p.Ping(ctx); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		if _, err := p.DB(ctx, "Bad.Name"); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("DB(bad name) = %v, want ErrInvalid", err)
		}
		db1, err := p.DB(ctx, "app_dev")
		if err != nil {
			t.Fatal(err)
		}
		db2, _ := p.DB(ctx, "app_dev")
		if db1 != db2 {
			t.Fatal("DB returned a different instance for the same name")
		}
		if db1.Name() != "app_dev" {
			t.Fatalf("Name() = %q", db1.Name())
		}
		if db1.(*DB).mdb.Name() != p.opts.DBPrefix+"app_dev" {
			t.Fatalf("mongo database = %q", db1.(*DB).mdb.Name())
		}
	})
}

func TestCollectionsAndDrop(t *testing.T) {
	eachBackend(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		p := open(t, Options{})
		db, err := p.DB(ctx, "app_dev")
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"b", "a"} {
			if _, err := db.Collection(n).Insert(ctx, store.Doc{"x": int64(1)}); err != nil {
				t.Fatal(err)
			}
		}
		got, err := db.Collections(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, []string{"a", "b"}) {
			t.Fatalf("Collections() = %v, want [a b] (internal ones hidden)", got)
		}
		if _, err := db.Collection("_sb_seq").Get(ctx, "x"); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("internal collection reachable: %v", err)
		}
		if err := db.DropCollection(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		got, _ = db.Collections(ctx)
		if !slices.Equal(got, []string{"b"}) {
			t.Fatalf("after DropCollection: %v", got)
		}
		// The sequence continues after a collection is dropped and re-created.
		d, err := db.Collection("a").Insert(ctx, store.Doc{})
		if err != nil {
			t.Fatal(err)
		}
		if store.DocSeq(d) != 2 {
			t.Fatalf("_seq after re-create = %d, want 2", store.DocSeq(d))
		}
		kept := db.Collection("a") // a handle taken before the drop
		if err := p.DropDB(ctx, "app_dev"); err != nil {
			t.Fatal(err)
		}
		names, err := p.client.ListDatabaseNames(ctx, map[string]any{"name": p.opts.DBPrefix + "app_dev"})
		if err != nil {
			t.Fatal(err)
		}
		if len(names) != 0 {
			t.Fatalf("database still listed after DropDB: %v", names)
		}
		// The database can be used again from scratch.
		db, err = p.DB(ctx, "app_dev")
		if err != nil {
			t.Fatal(err)
		}
		d, err = db.Collection("a").Insert(ctx, store.Doc{})
		if err != nil {
			t.Fatal(err)
		}
		if store.DocSeq(d) != 1 {
			t.Fatalf("_seq after DropDB = %d, want 1", store.DocSeq(d))
		}
		d, err = kept.Insert(ctx, store.Doc{})
		if err != nil {
			t.Fatal(err)
		}
		if store.DocSeq(d) != 2 {
			t.Fatalf("_seq through a handle from before DropDB = %d, want 2", store.DocSeq(d))
		}
	})
}

func TestClosedProvider(t *testing.T) {
	eachBackend(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		p := open(t, Options{})
		db, err := p.DB(ctx, "app_dev")
		if err != nil {
			t.Fatal(err)
		}
		c := db.Collection("c")
		d, err := c.Insert(ctx, store.Doc{"a": "b"})
		if err != nil {
			t.Fatal(err)
		}
		id := store.DocID(d)
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		calls := map[string]func() error{
			"Close":          p.Close,
			"Ping":           func() error { return p.Ping(ctx) },
			"DB":             func() error { _, err := p.DB(ctx, "x"); return err },
			"DropDB":         func() error { return p.DropDB(ctx, "x") },
			"Collections":    func() error { _, err := db.Collections(ctx); return err },
			"DropCollection": func() error { return db.DropCollection(ctx, "c") },
			"Insert":         func() error { _, err := c.Insert(ctx, store.Doc{}); return err },
			"Get":            func() error { _, err := c.Get(ctx, id); return err },
			"Replace":        func() error { _, err := c.Replace(ctx, id, 0, store.Doc{}); return err },
			"Update":         func() error { _, err := c.Update(ctx, id, 0, store.Update{}); return err },
			"Delete":         func() error { return c.Delete(ctx, id, 0) },
			"Find":           func() error { _, err := c.Find(ctx, store.Query{}); return err },
			"Count":          func() error { _, err := c.Count(ctx, nil); return err },
			"Changes":        func() error { _, err := c.Changes(ctx, 0, 10); return err },
			"LastSeq":        func() error { _, err := c.LastSeq(ctx); return err },
			"EnsureIndex":    func() error { return c.EnsureIndex(ctx, store.Index{Fields: []string{"a"}}) },
			"Indexes":        func() error { _, err := c.Indexes(ctx); return err },
		}
		for name, call := range calls {
			if err := call(); !errors.Is(err, store.ErrClosed) {
				t.Errorf("%s after Close = %v, want ErrClosed", name, err)
			}
		}
	})
}
