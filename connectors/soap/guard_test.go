package soap_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/connectors"
)

func TestConcurrencyLimit(t *testing.T) {
	t.Parallel()
	const limit = 4
	var mu sync.Mutex
	inFlight, maxInFlight := 0, 0
	release := make(chan struct{})
	srv := newSOAPServer(t, "1.1", nil)
	srv.handle = func(r *received) (int, string) {
		mu.Lock()
		inFlight++
		maxInFlight = max(maxInFlight, inFlight)
		mu.Unlock()
		<-release
		mu.Lock()
		inFlight--
		mu.Unlock()
		return http.StatusOK, srv.reply("<c:Ok/>")
	}
	c, _ := connect(t, config(srv.URL, "1.1", func(c map[string]any) { c["concurrency"] = limit }),
		ops(map[string]map[string]any{"get": getCustomer(nil)}), connectors.Options{})
	const calls = 20
	errs := make(chan error, calls)
	for range calls {
		go func() {
			_, err := call(t, c, "get", map[string]any{"id": 1})
			errs <- err
		}()
	}
	eventually(t, "the service to hold the limit", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return inFlight == limit
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	_, err := c.Call(ctx, connectors.Request{Operation: "get", Args: map[string]any{"id": 1}})
	cancel()
	wantKind(t, err, connectors.KindOverloaded)
	close(release)
	for range calls {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if maxInFlight != limit {
		t.Fatalf("service saw %d calls at once, limit %d", maxInFlight, limit)
	}
}

// TestCircuitBreaker: Server faults open the circuit; Client faults and
// invalid calls do not count; after openFor a good probe closes it.
func TestCircuitBreaker(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	var healthy atomic.Bool
	srv := newSOAPServer(t, "1.1", nil)
	srv.handle = func(r *received) (int, string) {
		hits.Add(1)
		switch {
		case r.action == "client":
			return 500, srv.fault("Client", "", "bad request", "")
		case !healthy.Load():
			return 500, srv.fault("Server", "", "database down", "")
		}
		return http.StatusOK, srv.reply("<c:Ok/>")
	}
	clk := newClock()
	c, logs := connect(t, config(srv.URL, "1.1", func(c map[string]any) {
		c["circuitBreaker"] = map[string]any{"failures": 3, "window": "10s", "openFor": "30s"}
	}), ops(map[string]map[string]any{"get": getCustomer(nil), "client": {"action": "client", "body": "<c:A/>"}}), connectors.Options{Now: clk.Now})
	for range 5 {
		_, err := call(t, c, "client", nil)
		wantKind(t, err, connectors.KindStatus)
	}
	if c.Guard().State() != connectors.BreakerClosed {
		t.Fatalf("Client faults opened the circuit")
	}
	for range 3 {
		_, err := call(t, c, "get", map[string]any{"id": 1})
		wantKind(t, err, connectors.KindStatus)
	}
	_, err := call(t, c, "get", nil) // missing id: never reaches the breaker
	wantKind(t, err, connectors.KindInvalid)
	_, err = call(t, c, "get", map[string]any{"id": 1})
	wantKind(t, err, connectors.KindCircuitOpen)
	if n := hits.Load(); n != 8 {
		t.Fatalf("service hit %d times, want 8: an open circuit must not call", n)
	}
	if c.Guard().State() != connectors.BreakerOpen || !contains(logs.String(), `"to":"open"`) {
		t.Fatalf("state %s; logs %s", c.Guard().State(), logs)
	}
	clk.Advance(30 * time.Second)
	healthy.Store(true)
	if _, err := call(t, c, "get", map[string]any{"id": 1}); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if c.Guard().State() != connectors.BreakerClosed {
		t.Fatalf("state %s after a good probe", c.Guard().State())
	}
}
