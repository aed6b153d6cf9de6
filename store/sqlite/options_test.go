package sqlite

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

func TestOptionsWithDefaults(t *testing.T) {
	t.Parallel()
	def := Options{Dir: "d", BusyTimeout: 5 * time.Second, ReadConns: max(4, runtime.GOMAXPROCS(0)),
		CacheSizeKiB: 16384, MaxBatch: 128, StmtCache: 256}
	set := Options{Dir: "d", BusyTimeout: time.Second, ReadConns: 2, CacheSizeKiB: 100, MaxBatch: 3, StmtCache: 7}
	for _, tc := range []struct {
		name string
		in   Options
		want Options
	}{
		{"zero", Options{Dir: "d"}, def},
		{"negative", Options{Dir: "d", BusyTimeout: -1, ReadConns: -1, CacheSizeKiB: -1, MaxBatch: -1, StmtCache: -1}, def},
		{"kept", set, set},
	} {
		if got := tc.in.withDefaults(); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// The data directory may hold characters that mean something in a URI.
func TestOddDirectoryNames(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "a dir?with#odd%20chars")
	p, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	db, err := p.DB(t.Context(), "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Collection("c").Insert(t.Context(), store.Doc{"a": 1}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"x.db", "x.db-wal"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, st.Mode().Perm())
		}
	}
	if err := p.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestValuesTakeDocumentShape(t *testing.T) {
	t.Parallel()
	_, db := openTest(t)
	c := db.Collection("shapes")
	when := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	d, err := c.Insert(t.Context(), store.Doc{"_id": "s", "when": when, "u": uint64(7), "big": int64(1) << 60, "f": float32(1.5), "n": 3})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(t.Context(), "s")
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"when": "2026-01-02T03:04:05Z", "u": int64(7), "big": float64(1 << 60), "f": 1.5, "n": int64(3)} {
		if d[k] != want || got[k] != want {
			t.Errorf("%s: Insert answered %#v, Get %#v, want %#v", k, d[k], got[k], want)
		}
	}
	u, err := c.Update(t.Context(), "s", 0, store.Update{
		Set: map[string]any{"at": when},
		Inc: map[string]float64{"n": 0.5, "near": float64(1 << 53)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if u["at"] != "2026-01-02T03:04:05Z" || u["n"] != 3.5 || u["near"] != int64(1<<53) {
		t.Fatalf("update result %v", u)
	}
	u, err = c.Update(t.Context(), "s", 0, store.Update{Inc: map[string]float64{"near": 2}})
	if err != nil {
		t.Fatal(err)
	}
	if u["near"] != float64(1<<53+2) {
		t.Fatalf("counter past 2^53 is %#v, want float64 %v", u["near"], float64(1<<53+2))
	}
	for name, up := range map[string]store.Update{
		"NaN increment":      {Inc: map[string]float64{"n": math.NaN()}},
		"empty update":       {},
		"overlapping paths":  {Set: map[string]any{"a": 1}, Inc: map[string]float64{"a.b": 1}},
		"set through a leaf": {Set: map[string]any{"n.x": 1}},
		"system field":       {Set: map[string]any{"_createdAt": "x"}},
	} {
		if _, err := c.Update(t.Context(), "s", 0, up); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := c.Insert(t.Context(), store.Doc{"_id": strings.Repeat("x", maxIDLen+1)}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("over-long _id: %v", err)
	}
}
