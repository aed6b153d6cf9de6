package rest_test

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
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inFlight++
		maxInFlight = max(maxInFlight, inFlight)
		mu.Unlock()
		<-release
		mu.Lock()
		inFlight--
		mu.Unlock()
	})
	c, _ := connect(t, map[string]any{"baseURL": srv.URL, "concurrency": limit}, ops(map[string]map[string]any{"get": {"path": "/"}}), connectors.Options{})
	const calls = 20
	errs := make(chan error, calls)
	for range calls {
		go func() {
			_, err := call(t, c, "get", nil)
			errs <- err
		}()
	}
	eventually(t, "the server to hold the limit", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return inFlight == limit
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	_, err := c.Call(ctx, connectors.Request{Operation: "get"})
	cancel()
	wantKind(t, err, connectors.KindOverloaded)
	close(release)
	for range calls {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if maxInFlight != limit {
		t.Fatalf("server saw %d calls at once, limit %d", maxInFlight, limit)
	}
}

func TestCircuitBreaker(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	var healthy atomic.Bool
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if !healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	clk := newClock()
	c, logs := connect(t, map[string]any{"baseURL": srv.URL, "circuitBreaker": map[string]any{"failures": 3, "window": "10s", "openFor": "30s"}},
		ops(map[string]map[string]any{"get": {"path": "/"}, "bad": {"path": "/{id}"}}), connectors.Options{Now: clk.Now})
	for range 3 {
		_, err := call(t, c, "get", nil)
		wantKind(t, err, connectors.KindStatus)
	}
	// Invalid calls never reach the breaker.
	_, err := call(t, c, "bad", nil)
	wantKind(t, err, connectors.KindInvalid)
	_, err = call(t, c, "get", nil)
	wantKind(t, err, connectors.KindCircuitOpen)
	if n := hits.Load(); n != 3 {
		t.Fatalf("server hit %d times, want 3: an open circuit must not call", n)
	}
	if c.Guard().State() != connectors.BreakerOpen || !contains(logs.String(), `"to":"open"`) {
		t.Fatalf("state %s; logs %s", c.Guard().State(), logs)
	}
	clk.Advance(30 * time.Second)
	if c.Guard().State() != connectors.BreakerHalfOpen {
		t.Fatalf("state %s after openFor, want half-open", c.Guard().State())
	}
	healthy.Store(true)
	if _, err := call(t, c, "get", nil); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if c.Guard().State() != connectors.BreakerClosed || hits.Load() != 4 {
		t.Fatalf("state %s, hits %d after a good probe", c.Guard().State(), hits.Load())
	}
}
