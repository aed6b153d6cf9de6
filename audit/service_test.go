package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/skybridgehq/skybridge/internal/testenv"
	"github.com/skybridgehq/skybridge/internal/testenv/teststore"
	"github.com/skybridgehq/skybridge/store"
	"github.com/skybridgehq/skybridge/store/sqlite"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopShared()
	os.Exit(code)
}

var testKey = []byte("0123456789abcdef0123456789abcdef")

// databases returns a fresh system database, with the audit indexes, on
// each adapter.
func databases(t testing.TB) map[string]store.DB {
	t.Helper()
	out := teststore.SystemDBs(t)
	for name, db := range out {
		if err := store.EnsureIndexes(context.Background(), db, Indexes()); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	return out
}

// newService builds a Service with the test key; it is closed at cleanup.
func newService(t testing.TB, db store.DB, cfg Config) *Service {
	t.Helper()
	cfg.Key = testKey
	s, err := NewService(db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

func sample(app, env string, i int) Record {
	return Record{
		App: app, Env: env,
		Actor:      Actor{Kind: ActorUser, ID: fmt.Sprintf("u%d", i%3)},
		AppVersion: "1.2.3", UserAgent: "skybridge-ios/1.2.3", IP: "203.0.113.7",
		Method: "PUT", Route: "/v1/collections/{col}/objects/{id}",
		Resource: fmt.Sprintf("collections/todos/objects/%d", i), Action: "object.update",
		Status: 200, LatencyMs: 1.25, RequestID: fmt.Sprintf("req-%d", i),
	}
}

// countChain counts the records stored in chain's segments.
func countChain(t *testing.T, db store.DB, chain string) int64 {
	t.Helper()
	var n int64
	for _, sg := range segments(t, db, chain) {
		n += int64(len(sg.records))
	}
	return n
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func mustVerify(t *testing.T, s *Service, chain string) VerifyReport {
	t.Helper()
	rep, err := s.Verify(context.Background(), chain)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("chain %s does not verify: %+v", chain, rep.Break)
	}
	return rep
}

func TestConfigWithDefaults(t *testing.T) {
	t.Parallel()
	lg := slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))
	tests := []struct {
		name string
		in   Config
		want Config
	}{
		{"zero", Config{}, Config{QueueSize: 10000, BatchSize: 512, FlushInterval: 200 * time.Millisecond, CheckpointEvery: 1000, CheckpointInterval: time.Minute}},
		{"negative", Config{QueueSize: -1, BatchSize: -1, FlushInterval: -1, CheckpointEvery: -1, CheckpointInterval: -1},
			Config{QueueSize: 10000, BatchSize: 512, FlushInterval: 200 * time.Millisecond, CheckpointEvery: 1000, CheckpointInterval: time.Minute}},
		{"kept", Config{Sync: true, QueueSize: 5, BatchSize: 2, FlushInterval: time.Second, CheckpointEvery: 7, CheckpointInterval: time.Hour, Logger: lg},
			Config{Sync: true, QueueSize: 5, BatchSize: 2, FlushInterval: time.Second, CheckpointEvery: 7, CheckpointInterval: time.Hour, Logger: lg}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.in.withDefaults()
			if got.Logger == nil {
				t.Fatal("no default logger")
			}
			if tt.want.Logger == nil {
				got.Logger = nil
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestNewServiceNeedsKey(t *testing.T) {
	t.Parallel()
	for _, key := range [][]byte{nil, []byte("short")} {
		if _, err := NewService(nil, Config{Key: key}); !errors.Is(err, ErrNoKey) {
			t.Fatalf("key %q: got %v, want ErrNoKey", key, err)
		}
	}
}

func TestAsyncBatchesAndFlushOnClose(t *testing.T) {
	t.Parallel()
	for name, db := range databases(t) {
		t.Run(name, func(t *testing.T) {
			// A full batch is written at once; the rest waits for the
			// (long) flush interval, and Close writes it.
			s := newService(t, db, Config{BatchSize: 10, FlushInterval: time.Hour})
			s.Start()
			for i := 0; i < 25; i++ {
				if err := s.Record(context.Background(), sample("a1", "prod", i)); err != nil {
					t.Fatal(err)
				}
			}
			// Stored and counted: the count follows the store write.
			waitFor(t, "two full batches", func() bool {
				return countChain(t, db, "a1/prod") == 20 && s.Stats().Written == 20
			})
			if got := countChain(t, db, "a1/prod"); got != 20 {
				t.Fatalf("stored %d before close, want 20 (the rest waits for the flush interval)", got)
			}
			if err := s.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := countChain(t, db, "a1/prod"); got != 25 {
				t.Fatalf("stored %d after close, want 25", got)
			}
			rep := mustVerify(t, s, "a1/prod")
			if rep.First != 1 || rep.Last != 25 || rep.Checkpoints != 1 {
				t.Fatalf("report %+v", rep)
			}
			// One segment per batch.
			if got := layout(segments(t, db, "a1/prod")); got != "1-10 11-20 21-25" {
				t.Fatalf("segments %s", got)
			}
			if err := s.Record(context.Background(), sample("a1", "prod", 0)); !errors.Is(err, ErrClosed) {
				t.Fatalf("record after close: %v", err)
			}
		})
	}
}

func TestFlushWritesQueued(t *testing.T) {
	t.Parallel()
	for name, db := range databases(t) {
		t.Run(name, func(t *testing.T) {
			s := newService(t, db, Config{FlushInterval: time.Hour})
			s.Start()
			for i := 0; i < 5; i++ {
				if err := s.Record(context.Background(), sample("a1", "dev", i)); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := countChain(t, db, "a1/dev"); got != 5 {
				t.Fatalf("stored %d after flush, want 5", got)
			}
		})
	}
}

func TestSyncModeWaitsForStore(t *testing.T) {
	t.Parallel()
	for name, db := range databases(t) {
		t.Run(name, func(t *testing.T) {
			s := newService(t, db, Config{Sync: true, FlushInterval: time.Hour})
			s.Start()
			for i := 1; i <= 3; i++ {
				if err := s.Record(context.Background(), sample("", "", i)); err != nil {
					t.Fatal(err)
				}
				// Each record is a batch, hence a segment, of its own.
				d, err := db.Collection(RecordsCollection).Get(context.Background(), recordID(SystemChain, int64(i)))
				if err != nil {
					t.Fatalf("record %d not stored when Record returned: %v", i, err)
				}
				sg, err := segmentFromDoc(d)
				if err != nil || len(sg.records) != 1 || sg.first != int64(i) || sg.last != int64(i) {
					t.Fatalf("segment %+v %v", sg, err)
				}
				if r := sg.records[0]; r.RequestID != fmt.Sprintf("req-%d", i) || r.Route == "" || r.N != int64(i) {
					t.Fatalf("stored %+v", r)
				}
			}
		})
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func TestOverflowCountedAndLogged(t *testing.T) {
	t.Parallel()
	for name, db := range databases(t) {
		t.Run(name, func(t *testing.T) {
			var logs bytes.Buffer
			var mu sync.Mutex
			lg := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, nil))
			dropped := prometheus.NewCounter(prometheus.CounterOpts{Name: "audit_dropped_total", Help: "test"})
			s := newService(t, db, Config{QueueSize: 3, Logger: lg, Dropped: dropped})
			// The writer is not started yet: it is blocked, the queue fills.
			for i := 0; i < 10; i++ {
				if err := s.Record(context.Background(), sample("a2", "prod", i)); err != nil {
					t.Fatal(err)
				}
			}
			if st := s.Stats(); st.Overflowed != 7 || st.Written != 0 {
				t.Fatalf("stats %+v, want 7 overflowed", st)
			}
			if got := counterValue(t, dropped); got != 7 {
				t.Fatalf("prometheus counter %v, want 7", got)
			}
			mu.Lock()
			logged := logs.String()
			mu.Unlock()
			if !strings.Contains(logged, "records dropped") || !strings.Contains(logged, "queue full") {
				t.Fatalf("overflow not logged: %q", logged)
			}
			s.Start()
			if err := s.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := countChain(t, db, "a2/prod"); got != 3 {
				t.Fatalf("stored %d, want the 3 queued", got)
			}
			mustVerify(t, s, "a2/prod")
		})
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestConcurrentServicesKeepOneChain(t *testing.T) {
	t.Parallel()
	const perWriter = 40
	for name, db := range databases(t) {
		t.Run(name, func(t *testing.T) {
			services := []*Service{
				newService(t, db, Config{BatchSize: 8, FlushInterval: time.Millisecond}),
				newService(t, db, Config{Sync: true}),
			}
			var wg sync.WaitGroup
			errs := make(chan error, 4*perWriter)
			for _, s := range services {
				s.Start()
				for g := 0; g < 2; g++ {
					wg.Add(1)
					go func(s *Service, g int) {
						defer wg.Done()
						for i := 0; i < perWriter; i++ {
							app := "shared"
							if i%4 == 3 {
								app = "other" // a second chain, interleaved
							}
							if err := s.Record(context.Background(), sample(app, "prod", g*1000+i)); err != nil {
								errs <- err
							}
						}
					}(s, g)
				}
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			for _, s := range services {
				if err := s.Close(context.Background()); err != nil {
					t.Fatal(err)
				}
				if st := s.Stats(); st.Failed != 0 || st.Overflowed != 0 {
					t.Fatalf("stats %+v", st)
				}
			}
			total := int64(4 * perWriter)
			shared := mustVerify(t, services[0], "shared/prod")
			other := mustVerify(t, services[1], "other/prod")
			if shared.Records+other.Records != total || shared.Last != shared.Records || other.Last != other.Records {
				t.Fatalf("shared %+v other %+v, want %d records without gaps", shared, other, total)
			}
		})
	}
}

func TestCloseReleasesBlockedSyncRecord(t *testing.T) {
	t.Parallel()
	// No store write happens here (the writer never starts), so one
	// adapter is enough.
	sp, err := sqlite.Open(sqlite.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	db, err := sp.DB(context.Background(), store.SystemDB)
	if err != nil {
		t.Fatal(err)
	}
	s := newService(t, db, Config{Sync: true, QueueSize: 1, Logger: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := s.Record(ctx, sample("c", "prod", 1)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("sync record without a writer: %v, want deadline exceeded", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Record(context.Background(), sample("c", "prod", 2)) }()
	closeCtx, cancelClose := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelClose()
	if err := s.Close(closeCtx); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("blocked record: %v, want ErrClosed", err)
	}
	if st := s.Stats(); st.Failed != 1 {
		t.Fatalf("stats %+v, want the queued record counted as failed", st)
	}
}
