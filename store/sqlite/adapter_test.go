package sqlite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skybridgehq/skybridge/store"
)

func TestOptionsDefaults(t *testing.T) {
	o := Options{Dir: "x"}.withDefaults()
	if o.BusyTimeout <= 0 || o.ReadConns < 4 {
		t.Fatalf("defaults not applied: %+v", o)
	}
	if _, err := Open(Options{}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("Open without Dir: %v", err)
	}
}

func TestFilesArePrivateAndReopenKeepsState(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	p, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	db, err := p.DB(ctx, "app1_dev")
	if err != nil {
		t.Fatal(err)
	}
	c := db.Collection("notes")
	if err := c.EnsureIndex(ctx, store.Index{Fields: []string{"k"}, Unique: true}); err != nil {
		t.Fatal(err)
	}
	var last store.Doc
	for i := 0; i < 3; i++ {
		if last, err = c.Insert(ctx, store.Doc{"k": i, "tags": []any{"x"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Delete(ctx, store.DocID(last), 0); err != nil {
		t.Fatal(err)
	}
	p.Close()

	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("data dir mode %v %v", st.Mode().Perm(), err)
	}
	st, err = os.Stat(filepath.Join(dir, "app1_dev.db"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("database file mode %v %v", st.Mode().Perm(), err)
	}

	p2, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	db2, _ := p2.DB(ctx, "app1_dev")
	c2 := db2.Collection("notes")
	if n, _ := c2.Count(ctx, nil); n != 2 {
		t.Fatalf("after reopen %d documents", n)
	}
	d, err := c2.Insert(ctx, store.Doc{"k": 99})
	if err != nil {
		t.Fatal(err)
	}
	if store.DocSeq(d) != 4 {
		t.Fatalf("_seq after reopen %d, want 4 (never reuse the deleted 3)", store.DocSeq(d))
	}
	if _, err := c2.Insert(ctx, store.Doc{"k": 0}); !errors.Is(err, store.ErrDuplicate) {
		t.Fatalf("unique index lost on reopen: %v", err)
	}
	// Array paths survive a reopen, so array matching still works.
	f, _ := store.ParseFilter([]byte(`{"tags":"x"}`))
	if n, _ := c2.Count(ctx, f); n != 2 {
		t.Fatalf("array match after reopen: %d", n)
	}
	cols, _ := db2.Collections(ctx)
	if len(cols) != 1 || cols[0] != "notes" {
		t.Fatalf("collections after reopen %v", cols)
	}
}

func TestHostilePathsNeverReachSQL(t *testing.T) {
	ctx := context.Background()
	p, _ := Open(Options{Dir: t.TempDir()})
	defer p.Close()
	db, _ := p.DB(ctx, "x")
	c := db.Collection("c")
	if _, err := c.Insert(ctx, store.Doc{"a": 1}); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{`a"); DROP TABLE "c_c`, "a\x00b", `a\`, "$.a"} {
		_, err := c.Find(ctx, store.Query{Filter: store.Compare{Path: path, Op: store.OpEq, Value: int64(1)}})
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("path %q: %v", path, err)
		}
		if err := c.EnsureIndex(ctx, store.Index{Fields: []string{path}}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("index path %q: %v", path, err)
		}
	}
	// A quote inside a segment is data, not SQL.
	if _, err := c.Insert(ctx, store.Doc{"it's": "ok"}); err != nil {
		t.Fatal(err)
	}
	f, _ := store.ParseFilter([]byte(`{"it's":"ok"}`))
	if n, err := c.Count(ctx, f); err != nil || n != 1 {
		t.Fatalf("quoted segment: %d %v", n, err)
	}
	if n, _ := c.Count(ctx, nil); n != 2 {
		t.Fatalf("table damaged: %d rows", n)
	}
}

// FuzzFilterCompile: whatever filter parses must compile and run.
func FuzzFilterCompile(f *testing.F) {
	for _, s := range []string{
		`{"a":1}`, `{"a":{"$in":[1,"x",null,true]}}`, `{"$or":[{"a.b":{"$exists":false}},{"t":{"$regex":"^a","$options":"i"}}]}`,
		`{"a":{"$not":{"$lt":3}}}`, `{"it's":{"$ne":null}}`, `{"tags":{"$nin":["x"]}}`,
	} {
		f.Add([]byte(s))
	}
	ctx := context.Background()
	p, err := Open(Options{Dir: f.TempDir()})
	if err != nil {
		f.Fatal(err)
	}
	defer p.Close()
	db, _ := p.DB(ctx, "fuzz")
	c := db.Collection("c")
	for _, d := range []store.Doc{{"a": 1, "tags": []any{"x", 2}}, {"a": "s", "b": map[string]any{"c": true}}, {"it's": nil}} {
		if _, err := c.Insert(ctx, d); err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		flt, err := store.ParseFilter(data)
		if err != nil {
			return
		}
		if _, err := c.Find(ctx, store.Query{Filter: flt, Limit: 10}); err != nil && !strings.Contains(err.Error(), "regexp") {
			t.Fatalf("filter %s parsed but failed in SQLite: %v", data, err)
		}
	})
}
