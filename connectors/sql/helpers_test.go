package sql_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/connectors"
	sqlconn "github.com/skybridgehq/skybridge/connectors/sql"
)

// backend is a database the tests run against.
type backend struct {
	driver string
	dsn    string
}

// sqliteBackend is a fresh SQLite file in the test's temp dir.
func sqliteBackend(t testing.TB) backend {
	t.Helper()
	path := filepath.Join(t.TempDir(), "db.sqlite")
	return backend{driver: "sqlite", dsn: "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"}
}

// ops builds the Operations of a Spec from their static fields.
func ops(static map[string]map[string]any) map[string]connectors.Operation {
	out := make(map[string]connectors.Operation, len(static))
	for name, s := range static {
		out[name] = connectors.Operation{Static: s}
	}
	return out
}

// connect builds a connector named "billing" on b with extra config and
// operations; the returned log buffer holds its debug-level logs.
func connect(t testing.TB, b backend, extra map[string]any, operations map[string]map[string]any) (*sqlconn.Connector, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	config := map[string]any{"driver": b.driver, "dsn": b.dsn}
	for k, v := range extra {
		config[k] = v
	}
	opts := connectors.Options{Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	c, err := sqlconn.NewConnector(connectors.Spec{Name: "billing", Type: "sql", Config: config, Operations: ops(operations)}, opts)
	if err != nil {
		t.Fatalf("NewConnector: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, logs
}

// call runs op with args and a 10s safety deadline.
func call(t testing.TB, c connectors.Connector, op string, args map[string]any) (*connectors.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Call(ctx, connectors.Request{Operation: op, Args: args})
}

// mustCall runs op and fails the test on an error.
func mustCall(t testing.TB, c connectors.Connector, op string, args map[string]any) *connectors.Response {
	t.Helper()
	resp, err := call(t, c, op, args)
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	return resp
}

// rowsOf returns a query answer's rows.
func rowsOf(t testing.TB, resp *connectors.Response) []map[string]any {
	t.Helper()
	list, ok := resp.Body.([]any)
	if !ok {
		t.Fatalf("body %T, want a list of rows", resp.Body)
	}
	out := make([]map[string]any, len(list))
	for i, r := range list {
		if out[i], ok = r.(map[string]any); !ok {
			t.Fatalf("row %d is %T", i, r)
		}
	}
	return out
}

// wantKind fails unless err is a *connectors.Error of kind.
func wantKind(t testing.TB, err error, kind connectors.ErrorKind) *connectors.Error {
	t.Helper()
	ce, ok := err.(*connectors.Error)
	if !ok {
		t.Fatalf("error %v (%T) is not a *connectors.Error", err, err)
	}
	if ce.Kind != kind {
		t.Fatalf("kind %q, want %q (%v)", ce.Kind, kind, err)
	}
	return ce
}

var tableSeq atomic.Int64

// uniqueTable returns a table name no other test uses, so that tests can
// share one PostgreSQL database.
func uniqueTable(prefix string) string {
	return fmt.Sprintf("%s_%d_%d", prefix, time.Now().UnixNano()%1e9, tableSeq.Add(1))
}

// logBuffer is a concurrency-safe log sink.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// eventually polls cond until it holds or 10s pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
	}
}
