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

// fillChain stores n records of app/prod, one segment each; record i has
// time t0 + i s.
func fillChain(t *testing.T, db store.DB, app string, n int, t0 time.Time) {
	t.Helper()
	sizes := make([]int, n)
	for i := range sizes {
		sizes[i] = 1
	}
	fillSegments(t, db, app, t0, sizes...)
}

// rewriteChain is a forger's edit: it applies edit to every record of
// chain, recomputes the hashes and relinks the records, so that the
// records alone are consistent again.
func rewriteChain(t *testing.T, db store.DB, chain string, edit func(r *Record)) {
	t.Helper()
	prev := ""
	for _, sg := range segments(t, db, chain) {
		recs := make([]*Record, len(sg.records))
		for i := range sg.records {
			r := &sg.records[i]
			edit(r)
			if r.N > 1 {
				r.Prev = prev
			}
			r.Hash = r.ComputeHash()
			prev = r.Hash
			recs[i] = r
		}
		storeSegment(t, db, recs)
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// The chain is stored as segments 1-3, 4-7 and 8-10; the head (10) is
	// signed by a checkpoint.
	// In format 1 a line holds the canonical encoding; in format 2 the
	// compact one (n|time|...|status|latency|requestId); in format 3 too,
	// with what repeats the line before left empty (all but n, time, the
	// actor id, resource and request id in these segments).
	pick := func(format int, v1, v2, v3 string) string {
		switch format {
		case 1:
			return v1
		case 2:
			return v2
		}
		return v3
	}
	tests := func(format int) []struct {
		name   string
		tamper func(t *testing.T, db store.DB, chain string)
		kind   string
		n      int64
	} {
		type tc = struct {
			name   string
			tamper func(t *testing.T, db store.DB, chain string)
			kind   string
			n      int64
		}
		edited, editedAt := BreakEdited, int64(6)
		if format >= 2 {
			// Formats 2 and 3 store content, not bytes: a line that decodes to
			// the same fields (a status of 0200) is the same record.
			edited, editedAt = "", 0
		}
		return []tc{
			{"untouched", func(*testing.T, store.DB, string) {}, "", 0},
			{"edit", func(t *testing.T, db store.DB, chain string) {
				editLines(t, db, recordID(chain, 4), func(lines []string) []string {
					lines[1] = strings.Replace(lines[1], pick(format, `"status":200`, `|200|`, `|req-5`), pick(format, `"status":204`, `|204|`, `|req-9`), 1) // n=5
					return lines
				})
			}, BreakEdited, 5},
			{"edit keeping the content", func(t *testing.T, db store.DB, chain string) {
				// Equivalent content, other bytes: in format 1 the stored
				// bytes are what the hash covers.
				editLines(t, db, recordID(chain, 4), func(lines []string) []string {
					lines[2] = strings.Replace(lines[2], pick(format, `{"v":1,`, `|200|`, `|||req-6`), pick(format, `{ "v":1,`, `|0200|`, `|0200|1.25|req-6`), 1) // n=6
					return lines
				})
			}, edited, editedAt},
			{"edit with rehash", func(t *testing.T, db store.DB, chain string) {
				// The forger recomputes the hash and relinks the successors:
				// the chain is consistent again, but the signed checkpoint at
				// its head no longer matches.
				rewriteChain(t, db, chain, func(r *Record) {
					if r.N == 4 {
						r.IP = "198.51.100.1"
					}
				})
			}, BreakCheckpoint, 10},
			{"middle record delete", func(t *testing.T, db store.DB, chain string) {
				editLines(t, db, recordID(chain, 4), func(lines []string) []string {
					return append(lines[:2:2], lines[3:]...) // n=6
				})
			}, BreakMissing, 6},
			{"middle segment delete", func(t *testing.T, db store.DB, chain string) {
				if err := db.Collection(RecordsCollection).Delete(ctx, recordID(chain, 4), 0); err != nil {
					t.Fatal(err)
				}
			}, BreakMissing, 4},
			{"segment end cut short", func(t *testing.T, db store.DB, chain string) {
				editLines(t, db, recordID(chain, 4), func(lines []string) []string {
					return lines[:3] // 7 goes, last still says 7
				})
			}, BreakMissing, 7},
			{"tail truncation", func(t *testing.T, db store.DB, chain string) {
				if err := db.Collection(RecordsCollection).Delete(ctx, recordID(chain, 8), 0); err != nil {
					t.Fatal(err)
				}
			}, BreakTruncated, 8},
			{"tail truncation inside the last segment", func(t *testing.T, db store.DB, chain string) {
				// The forger keeps record 8 and fixes the segment's metadata.
				editSegment(t, db, recordID(chain, 8), func(d store.Doc) {
					if format >= 2 {
						sg, err := segmentFromDoc(d)
						if err != nil {
							t.Fatal(err)
						}
						d["hash"] = sg.records[0].Hash
					}
					line, _, _ := strings.Cut(d["records"].(string), "\n")
					d["records"], d["last"], d["to"] = line+"\n", int64(8), store.FormatTime(t0.Add(8*time.Second))
				})
			}, BreakTruncated, 9},
			{"head deletion without prune", func(t *testing.T, db store.DB, chain string) {
				if err := db.Collection(RecordsCollection).Delete(ctx, recordID(chain, 1), 0); err != nil {
					t.Fatal(err)
				}
			}, BreakMissing, 4},
			{"segment times", func(t *testing.T, db store.DB, chain string) {
				// An older "to" would make Prune remove the segment early.
				editSegment(t, db, recordID(chain, 4), func(d store.Doc) { d["to"] = store.FormatTime(t0) })
			}, BreakMalformed, 4},
			{"segment position", func(t *testing.T, db store.DB, chain string) {
				editSegment(t, db, recordID(chain, 8), func(d store.Doc) { d["n"] = int64(9) })
			}, BreakMalformed, 9},
			{"undecodable record", func(t *testing.T, db store.DB, chain string) {
				editLines(t, db, recordID(chain, 8), func(lines []string) []string {
					lines[2] = strings.Replace(lines[2], pick(format, `"n":10`, ` 10|`, ` 10|`), pick(format, `"n":"ten"`, ` ten|`, ` ten|`), 1)
					return lines
				})
			}, BreakMalformed, 8},
			{"record without hash", func(t *testing.T, db store.DB, chain string) {
				editLines(t, db, recordID(chain, 8), func(lines []string) []string {
					lines[0] = lines[0][strings.IndexByte(lines[0], ' ')+1:]
					return lines
				})
			}, BreakMalformed, 8},
			{"forged checkpoint", func(t *testing.T, db store.DB, chain string) {
				_, err := db.Collection(CheckpointsCollection).Update(ctx, recordID(chain, 10), 0, store.Update{Set: map[string]any{"n": 12}})
				if err != nil {
					t.Fatal(err)
				}
			}, BreakCheckpoint, 12},
		}
	}
	for name, db := range databases(t) {
		for _, format := range []int{1, 2, 3} {
			t.Run(fmt.Sprintf("%s/format=%d", name, format), func(t *testing.T) {
				for _, tt := range tests(format) {
					t.Run(tt.name, func(t *testing.T) {
						app := "v" + store.NewID()[:8]
						chain := ChainOf(app, "prod")
						fillSegmentsFormat(t, db, app, t0, format, 3, 4, 3)
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
						if rep.Break.Kind != BreakCheckpoint && rep.Break.Kind != BreakTruncated && rep.Break.ID == "" {
							t.Fatalf("break %+v names no segment", rep.Break)
						}
					})
				}
			})
		}
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
			// Each Sync record is a segment of its own.
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
			// Segments 1-3 4-5 6-8 9-10, record i at t0 + i s.
			fillSegments(t, db, "p1", t0, 3, 2, 3, 2)
			s := newService(t, db, Config{Sync: true})
			// The cutoff falls inside segment 6-8, which stays whole.
			removed, err := s.Prune(ctx, "p1/prod", t0.Add(7*time.Second))
			if err != nil || removed != 5 {
				t.Fatalf("prune removed %d %v, want 5", removed, err)
			}
			rep := mustVerify(t, s, "p1/prod")
			if rep.First != 6 || rep.Last != 10 || rep.Records != 5 {
				t.Fatalf("after prune %+v", rep)
			}
			// Nothing older: a second prune is a no-op, and so is one
			// whose cutoff is the newest time of the oldest segment.
			for _, before := range []time.Time{t0, t0.Add(8 * time.Second)} {
				if removed, err := s.Prune(ctx, "p1/prod", before); err != nil || removed != 0 {
					t.Fatalf("prune before %v: %d %v", before, removed, err)
				}
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
			fillSegments(t, db, "p2", t0, 1, 2, 3)
			if err := db.Collection(RecordsCollection).Delete(ctx, recordID("p2/prod", 2), 0); err != nil {
				t.Fatal(err)
			}
			s := newService(t, db, Config{})
			if _, err := s.Prune(ctx, "p2/prod", t0.Add(4*time.Second)); !errors.Is(err, ErrBroken) {
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
