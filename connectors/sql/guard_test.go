package sql_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/connectors"
)

// slowQuery counts far enough to outlast any test deadline; only its
// context ends it.
const slowQuery = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000000) SELECT count(*) AS n FROM c"

func TestTimeout(t *testing.T) {
	t.Parallel()
	c, _ := connect(t, sqliteBackend(t), map[string]any{"timeout": "30s"}, map[string]map[string]any{
		"slow":     {"query": slowQuery, "timeout": "50ms"},
		"slowConn": {"query": slowQuery},
	})
	tests := []struct {
		name string
		op   string
		ctx  time.Duration // the caller's deadline
	}{
		{"operation timeout", "slow", 10 * time.Second},
		{"caller deadline sooner", "slowConn", 50 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tc.ctx)
			defer cancel()
			_, err := c.Call(ctx, connectors.Request{Operation: tc.op})
			ce := wantKind(t, err, connectors.KindTimeout)
			if !errors.Is(err, context.DeadlineExceeded) || !ce.Retryable() {
				t.Fatalf("%v: not a retryable deadline", err)
			}
		})
	}
	// The pool is still good after interrupted statements.
	if _, err := call(t, c, "slow", nil); connectors.KindOf(err) != connectors.KindTimeout {
		t.Fatalf("third call: %v", err)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	t.Parallel()
	c, _ := connect(t, sqliteBackend(t), map[string]any{"concurrency": 1, "timeout": "30s"}, map[string]map[string]any{
		"slow": {"query": slowQuery},
		"one":  {"query": "SELECT 1 AS one"},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Call(ctx, connectors.Request{Operation: "slow"})
		done <- err
	}()
	eventually(t, "the slow query to hold the only slot", func() bool { return c.Guard().InFlight() == 1 })
	short, cancelShort := context.WithTimeout(context.Background(), 20*time.Millisecond)
	_, err := c.Call(short, connectors.Request{Operation: "one"})
	cancelShort()
	wantKind(t, err, connectors.KindOverloaded)
	cancel()
	if err := <-done; connectors.KindOf(err) != connectors.KindTimeout || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled slow query: %v", err)
	}
	if rows := rowsOf(t, mustCall(t, c, "one", nil)); rows[0]["one"] != float64(1) {
		t.Fatalf("after the slot freed: %v", rows)
	}
	if c.Guard().State() != connectors.BreakerClosed {
		t.Fatalf("breaker %s: cancellations and overload must not count as failures", c.Guard().State())
	}
}
