package deploy_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/internal/testenv"
	"github.com/skybridgehq/skybridge/internal/testenv/teststore"
	"github.com/skybridgehq/skybridge/keyring"
	"github.com/skybridgehq/skybridge/orchestration/deploy"
	"github.com/skybridgehq/skybridge/orchestration/deploy/deploytest"
	"github.com/skybridgehq/skybridge/store"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopShared()
	os.Exit(code)
}

// onStores runs fn on a fresh, migrated system database of each adapter:
// SQLite and the MongoDB adapter on FerretDB.
func onStores(t *testing.T, fn func(t *testing.T, sys store.DB)) {
	t.Helper()
	for name, sys := range teststore.SystemDBs(t) {
		if err := store.EnsureIndexes(context.Background(), sys, deploy.Indexes()); err != nil {
			t.Fatalf("%s: indexes: %v", name, err)
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, sys)
		})
	}
}

// clock is a test clock that moves only when told.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// node is one Service over a shared system database, as one Skybridge
// node has.
type node struct {
	svc     *deploy.Service
	builder *deploytest.Builder
	clock   *clock
	log     *syncBuffer
}

var testKeyring = func() *keyring.Keyring {
	kr, err := keyring.New(bytes.Repeat([]byte{9}, keyring.KeySize))
	if err != nil {
		panic(err)
	}
	return kr
}()

func newNode(t *testing.T, sys store.DB) *node {
	t.Helper()
	n := &node{builder: &deploytest.Builder{}, clock: newClock(), log: &syncBuffer{}}
	n.svc = deploy.NewService(sys, testKeyring, n.builder, deploy.Config{
		Now:    n.clock.Now,
		Logger: slog.New(slog.NewJSONHandler(n.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	t.Cleanup(func() { _ = n.svc.Close() })
	return n
}

// version acquires the live plan and returns its version and plan.
func (n *node) live(t *testing.T, app, env string) (int, *deploytest.Plan) {
	t.Helper()
	l, err := n.svc.Acquire(context.Background(), app, env)
	if err != nil {
		t.Fatalf("acquire %s/%s: %v", app, env, err)
	}
	defer l.Release()
	return l.Version(), l.Plan().(*deploytest.Plan)
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// flow is a one-document bundle file.
func flow(name, body string) string {
	return "kind: Flow\nname: " + name + "\n" + body
}
