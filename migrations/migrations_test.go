package migrations

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/skybridgehq/skybridge/internal/testenv"
	"github.com/skybridgehq/skybridge/internal/testenv/teststore"
	"github.com/skybridgehq/skybridge/store"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopShared()
	os.Exit(code)
}

// databases returns a fresh system database on each adapter.
func databases(t *testing.T) map[string]store.DB {
	t.Helper()
	return teststore.SystemDBs(t)
}

func TestRunAppliesOnceInOrder(t *testing.T) {
	ctx := context.Background()
	for name, db := range databases(t) {
		t.Run(name, func(t *testing.T) {
			var ran []string
			step := func(id string) Migration {
				return Migration{ID: id, Description: "step " + id, Up: func(ctx context.Context, db store.DB) error {
					ran = append(ran, id)
					return db.Collection("things").EnsureIndex(ctx, store.Index{Fields: []string{"k" + id}})
				}}
			}
			ms := []Migration{step("0001"), step("0002")}
			applied, err := Run(ctx, db, ms, nil)
			if err != nil || strings.Join(applied, ",") != "0001,0002" {
				t.Fatalf("first run: %v %v", applied, err)
			}
			ms = append(ms, step("0003"))
			applied, err = Run(ctx, db, ms, nil)
			if err != nil || strings.Join(applied, ",") != "0003" {
				t.Fatalf("second run: %v %v", applied, err)
			}
			if strings.Join(ran, ",") != "0001,0002,0003" {
				t.Fatalf("ran %v", ran)
			}
			recs, err := Applied(ctx, db)
			if err != nil || len(recs) != 3 || recs[0].ID != "0001" || recs[2].AppliedAt == "" {
				t.Fatalf("records %+v %v", recs, err)
			}
		})
	}
}

func TestFailingMigrationStopsAndIsNotRecorded(t *testing.T) {
	ctx := context.Background()
	for name, db := range databases(t) {
		t.Run(name, func(t *testing.T) {
			boom := errors.New("disk on fire")
			calls := 0
			ms := []Migration{
				{ID: "0001", Description: "fine", Up: func(context.Context, store.DB) error { return nil }},
				{ID: "0002", Description: "breaks", Up: func(context.Context, store.DB) error { calls++; return boom }},
				{ID: "0003", Description: "never", Up: func(context.Context, store.DB) error { t.Error("ran past a failure"); return nil }},
			}
			applied, err := Run(ctx, db, ms, nil)
			if !errors.Is(err, boom) || !strings.Contains(err.Error(), "0002") || !strings.Contains(err.Error(), "breaks") {
				t.Fatalf("error should name the migration: %v", err)
			}
			if strings.Join(applied, ",") != "0001" {
				t.Fatalf("applied %v", applied)
			}
			ms[1].Up = func(context.Context, store.DB) error { calls++; return nil }
			ms[2].Up = func(context.Context, store.DB) error { return nil }
			if applied, err := Run(ctx, db, ms, nil); err != nil || strings.Join(applied, ",") != "0002,0003" {
				t.Fatalf("retry: %v %v", applied, err)
			}
			if calls != 2 {
				t.Fatalf("failed step ran %d times, want 2", calls)
			}
		})
	}
}

func TestRunRejectsMisorderedList(t *testing.T) {
	noop := func(context.Context, store.DB) error { return nil }
	for _, ms := range [][]Migration{
		{{ID: "0002", Up: noop}, {ID: "0001", Up: noop}},
		{{ID: "0001", Up: noop}, {ID: "0001", Up: noop}},
		{{ID: "", Up: noop}},
		{{ID: "0001"}},
	} {
		if _, err := Run(context.Background(), nil, ms, nil); err == nil {
			t.Errorf("accepted %+v", ms)
		}
	}
}

func TestSystemMigrationsCreateAuthIndexes(t *testing.T) {
	ctx := context.Background()
	for name, db := range databases(t) {
		t.Run(name, func(t *testing.T) {
			if _, err := Run(ctx, db, System(), nil); err != nil {
				t.Fatal(err)
			}
			ms := System()
			if len(ms) == 0 {
				t.Fatal("no system migrations")
			}
			// Running again is a no-op.
			if applied, err := Run(ctx, db, ms, nil); err != nil || len(applied) != 0 {
				t.Fatalf("second run applied %v, %v", applied, err)
			}
			for coll, idxs := range authIndexes() {
				got, err := db.Collection(coll).Indexes(ctx)
				if err != nil {
					t.Fatal(err)
				}
				have := map[string]bool{}
				for _, g := range got {
					have[g.IndexName()] = true
				}
				for _, want := range idxs {
					if !have[want.IndexName()] {
						t.Errorf("%s lacks index %s (has %v)", coll, want.IndexName(), got)
					}
				}
			}
		})
	}
}
