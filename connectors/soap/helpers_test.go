package soap_test

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/connectors"
	"github.com/skybridgehq/skybridge/connectors/soap"
)

// customersNS is the namespace of the test service.
const customersNS = "http://example.com/customers"

// ops builds the Operations of a Spec from their static fields.
func ops(static map[string]map[string]any) map[string]connectors.Operation {
	out := make(map[string]connectors.Operation, len(static))
	for name, s := range static {
		out[name] = connectors.Operation{Static: s}
	}
	return out
}

// connect builds a connector named "customers" for config and operations;
// the returned log buffer holds its debug-level logs.
func connect(t testing.TB, config map[string]any, operations map[string]connectors.Operation, opts connectors.Options) (*soap.Connector, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	c, err := soap.NewConnector(connectors.Spec{Name: "customers", Type: "soap", Config: config, Operations: operations}, opts)
	if err != nil {
		t.Fatalf("NewConnector: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, logs
}

// config returns a connector config for endpoint with the customers
// namespace as prefix c, edited by edit.
func config(endpoint, version string, edit func(map[string]any)) map[string]any {
	cfg := map[string]any{"endpoint": endpoint, "version": version, "namespaces": map[string]any{"c": customersNS}}
	if edit != nil {
		edit(cfg)
	}
	return cfg
}

// getCustomer is the test service's GetCustomer operation.
func getCustomer(result map[string]any) map[string]any {
	op := map[string]any{
		"action": "http://example.com/customers/GetCustomer",
		"body":   "<c:GetCustomer><c:id>{id}</c:id></c:GetCustomer>\n",
	}
	if result != nil {
		op["result"] = result
	}
	return op
}

// call runs op with args and a 5s safety deadline.
func call(t testing.TB, c connectors.Connector, op string, args map[string]any) (*connectors.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.Call(ctx, connectors.Request{Operation: op, Args: args})
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

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// eventually polls cond until it holds or 5s pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func contains(s, sub string) bool { return bytes.Contains([]byte(s), []byte(sub)) }
