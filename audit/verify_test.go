package audit

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// fillChain stores n records of app/prod through a Service that is then
// closed (which signs a checkpoint of the head). Record i has time t0+i min.
func fillChain(t *testing.T, db store.DB, app string, n int, t0 time.Time) {
	t.Helper()
	s := newService(t, db, Config{FlushInterval: time.Millisecond})
	s.Start()
	for i := 1; i <= n; i++ {
		r := sample(app, "prod", i)
		r.Time = t0.Add(time.Duration(i) * time.Minute)
		if err := s.Record(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		tamper func(t *testing.T, db store.DB, chain string)
		kind   string
		n      int64
	}{
		{"untouched", func(*testing.T, store.DB, string) {}, "", 0},
		{"edit", func(t *testing.T, db store.DB, chain string) {
			_, err := db.Collection(RecordsCollection).Update(ctx, recordID(chain, 5), 0, store.Update{Set: map[string]any{"status": 204}})
			if err != nil {
				t.Fatal(err)
			}
		}, BreakEdited, 5},
		{"edit with rehash", func(t *testing.T, db store.DB, chain string) {
			// The forger recomputes the hash and relinks the successors:
			// the chain is consistent again, but the signed checkpoint at
			// its head no longer matches.
			col := db.Collection(RecordsCollection)
			prev := ""
			for n := int64(1); n <= 10; n++ {
				d, err := col.Get(ctx, recordID(chain, n))
				if err != nil {
					t.Fatal(err)
				}
				r, _ := fromDoc(d)
				if n == 4 {
					r.IP = "198.51.100.1"
				}
				if n > 1 {
					r.Prev = prev
				}
				r.Hash = r.ComputeHash()
				prev = r.Hash
				if _, err := col.Replace(ctx, recordID(chain, n), 0, r.toDoc()); err != nil {
					t.Fatal(err)
				}
			}
		}, BreakCheckpoint, 10},
		{"middle delete", func(t *testing.T, db store.DB, chain string) {
			if err := db.Collection(RecordsCollection).Delete(ctx, recordID(chain, 6), 0); err != nil {
				t.Fatal(err)
			}
		}, BreakMissing, 6},
		{"tail truncation", func(t *testing.T, db store.DB, chain string) {
			for n := int64(8); n <= 10; n++ {
				if err := db.Collection(RecordsCollection).Delete(ctx, recordID(chain, n), 0); err != nil {
					t.Fatal(err)
				}
			}
		}, BreakTruncated, 8},
		{"head deletion without prune", func(t *testing.T, db store.DB, chain string) {
			for n := int64(1); n <= 2; n++ {
				if err := db.Collection(RecordsCollection).Delete(ctx, recordID(chain, n), 0); err != nil {
					t.Fatal(err)
				}
			}
		}, BreakMissing, 3},
		{"forged checkpoint", func(t *testing.T, db store.DB, chain string) {
			_, err := db.Collection(CheckpointsCollection).Update(ctx, recordID(chain, 10), 0, store.Update{Set: map[string]any{"n": 12}})
			if err != nil {
				t.Fatal(err)
			}
		}, BreakCheckpoint, 12},
	}
	for name, db := range databases(t) {
		t.Run(name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					app := "v" + store.NewID()[:8]
					chain := ChainOf(app, "prod")
					fillChain(t, db, app, 10, t0)
					s := newService(t, db, Config{})
					mustVerify(t, s, chain)
					tt.tamper(t, db, chain)
					rep, err := s.Verify(ctx, chain)
					if err != nil {
						t.Fatal(err)
					}
					if tt.kind == "" {
						if !rep.OK || rep.Records != 10 || rep.Last != 10 {
							t.Fatalf("untouched chain: %+v", rep)
						}
						return
					}
					if rep.OK || rep.Break == nil || rep.Break.Kind != tt.kind || rep.Break.N != tt.n {
						t.Fatalf("got %+v break %+v, want %s at n=%d", rep, rep.Break, tt.kind, tt.n)
					}
				})
			}
		})
	}
}

func TestCheckpointEveryAnchorsTail(t *testing.T) {
	t.Parallel()
	for name, db := range databases(t) {
		t.Run(name, func(t *testing.T) {
			s := newService(t, db, Config{Sync: true, CheckpointEvery: 4})
			s.Start()
			for i := 0; i < 9; i++ {
				if err := s.Record(context.Background(), sample("cp", "prod", i)); err != nil {
					t.Fatal(err)
				}
			}
			// Checkpoints at 4 and 8 exist while the Service still runs.
			n, err := db.Collection(CheckpointsCollection).Count(context.Background(), nil)
			if err != nil || n != 2 {
				t.Fatalf("checkpoints %d %v, want 2", n, err)
			}
			for _, k := range []int64{9, 8} {
				if err := db.Collection(RecordsCollection).Delete(context.Background(), recordID("cp/prod", k), 0); err != nil {
					t.Fatal(err)
				}
			}
			rep, err := s.Verify(context.Background(), "cp/prod")
			if err != nil || rep.OK || rep.Break.Kind != BreakTruncated {
				t.Fatalf("report %+v %v, want truncated", rep, err)
			}
		})
	}
}

func TestPruneKeepsChainVerifiable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for name, db := range databases(t) {
		t.Run(name, func(t *testing.T) {
			fillChain(t, db, "p1", 10, t0)
			s := newService(t, db, Config{Sync: true})
			removed, err := s.Prune(ctx, "p1/prod", t0.Add(5*time.Minute+time.Second))
			if err != nil || removed != 5 {
				t.Fatalf("prune removed %d %v, want 5", removed, err)
			}
			rep := mustVerify(t, s, "p1/prod")
			if rep.First != 6 || rep.Last != 10 || rep.Records != 5 {
				t.Fatalf("after prune %+v", rep)
			}
			// Nothing older: a second prune is a no-op.
			if removed, err := s.Prune(ctx, "p1/prod", t0); err != nil || removed != 0 {
				t.Fatalf("second prune %d %v", removed, err)
			}
			// The chain goes on after a prune.
			s.Start()
			if err := s.Record(ctx, sample("p1", "prod", 11)); err != nil {
				t.Fatal(err)
			}
			mustVerify(t, s, "p1/prod")
			// Pruning everything leaves an empty chain that verifies and
			// continues from the anchor.
			if removed, err := s.Prune(ctx, "p1/prod", time.Now().Add(time.Hour)); err != nil || removed != 6 {
				t.Fatalf("prune all %d %v, want 6", removed, err)
			}
			if rep := mustVerify(t, s, "p1/prod"); rep.Records != 0 {
				t.Fatalf("after prune all %+v", rep)
			}
			if err := s.Record(ctx, sample("p1", "prod", 12)); err != nil {
				t.Fatal(err)
			}
			if rep := mustVerify(t, s, "p1/prod"); rep.First != 12 || rep.Last != 12 {
				t.Fatalf("after append %+v", rep)
			}
		})
	}
}

func TestPruneRefusesBrokenChain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for name, db := range databases(t) {
		t.Run(name, func(t *testing.T) {
			fillChain(t, db, "p2", 6, t0)
			if err := db.Collection(RecordsCollection).Delete(ctx, recordID("p2/prod", 2), 0); err != nil {
				t.Fatal(err)
			}
			s := newService(t, db, Config{})
			if _, err := s.Prune(ctx, "p2/prod", t0.Add(4*time.Minute)); !errors.Is(err, ErrBroken) {
				t.Fatalf("prune of a broken chain: %v, want ErrBroken", err)
			}
		})
	}
}

func TestVerifyRejectsOtherKey(t *testing.T) {
	t.Parallel()
	for name, db := range databases(t) {
		t.Run(name, func(t *testing.T) {
			fillChain(t, db, "k1", 3, time.Now())
			other, err := NewService(db, Config{Key: []byte("another key of 32 bytes.........")})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := other.Verify(context.Background(), "k1/prod")
			if err != nil || rep.OK || rep.Break.Kind != BreakCheckpoint {
				t.Fatalf("report %+v %v, want a checkpoint break", rep, err)
			}
		})
	}
}

func TestCheckpointIntervalSignsIdleHead(t *testing.T) {
	t.Parallel()
	for name, db := range databases(t) {
		t.Run(name, func(t *testing.T) {
			s := newService(t, db, Config{Sync: true, CheckpointInterval: 20 * time.Millisecond})
			s.Start()
			for i := 0; i < 3; i++ {
				if err := s.Record(context.Background(), sample("tick", "prod", i)); err != nil {
					t.Fatal(err)
				}
			}
			// Ticks may also sign earlier heads; the idle head at n=3 must
			// be signed without any further record.
			var d store.Doc
			waitFor(t, "a timed checkpoint of the head", func() bool {
				var err error
				d, err = db.Collection(CheckpointsCollection).Get(context.Background(), recordID("tick/prod", 3))
				return err == nil
			})
			if c, err := checkpointFromDoc(d); err != nil || !s.validMAC(c) || c.Pruned {
				t.Fatalf("checkpoint %+v %v", c, err)
			}
		})
	}
}
