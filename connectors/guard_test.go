package connectors

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"
)

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestGuardConfigDefaults(t *testing.T) {
	t.Parallel()
	c := GuardConfig{}.withDefaults()
	if c.Concurrency != DefaultConcurrency || c.Breaker.Failures != DefaultBreakerFailures ||
		c.Breaker.Window != DefaultBreakerWindow || c.Breaker.OpenFor != DefaultBreakerOpenFor ||
		c.Now == nil || c.Logger == nil {
		t.Fatalf("defaults not applied: %+v", c)
	}
	kept := GuardConfig{Concurrency: 3, Breaker: BreakerConfig{Failures: 2, Window: time.Second, OpenFor: time.Minute}}.withDefaults()
	if kept.Concurrency != 3 || kept.Breaker.Failures != 2 || kept.Breaker.Window != time.Second || kept.Breaker.OpenFor != time.Minute {
		t.Fatalf("set values replaced: %+v", kept)
	}
}

var (
	errDown    = &Error{Kind: KindUnavailable, Message: "down"}
	errBusy    = &Error{Kind: KindStatus, Status: 503, Message: "busy"}
	errInvalid = &Error{Kind: KindInvalid, Message: "bad args"}
	errNotHere = &Error{Kind: KindStatus, Status: 404, Message: "missing"}
)

// TestBreaker drives a guard's breaker through scripted outcomes; each
// step says what the call returns (if it runs), how far the clock moves
// first, and whether the call must reach the system.
func TestBreaker(t *testing.T) {
	t.Parallel()
	type step struct {
		advance time.Duration
		result  error
		called  bool
		state   BreakerState // after the step
	}
	ok := error(nil)
	tests := []struct {
		name  string
		steps []step
	}{
		{"opens after consecutive failures and refuses without calling", []step{
			{0, errDown, true, BreakerClosed},
			{0, errBusy, true, BreakerClosed},
			{0, errDown, true, BreakerOpen},
			{time.Second, ok, false, BreakerOpen},
			{28 * time.Second, ok, false, BreakerOpen},
		}},
		{"half-open probe success closes", []step{
			{0, errDown, true, BreakerClosed}, {0, errDown, true, BreakerClosed}, {0, errDown, true, BreakerOpen},
			{30 * time.Second, ok, true, BreakerClosed},
			{0, errDown, true, BreakerClosed},
			{0, ok, true, BreakerClosed},
		}},
		{"half-open probe failure reopens", []step{
			{0, errDown, true, BreakerClosed}, {0, errDown, true, BreakerClosed}, {0, errDown, true, BreakerOpen},
			{30 * time.Second, errDown, true, BreakerOpen},
			{29 * time.Second, ok, false, BreakerOpen},
			{time.Second, ok, true, BreakerClosed},
		}},
		{"a success resets the streak", []step{
			{0, errDown, true, BreakerClosed}, {0, errDown, true, BreakerClosed},
			{0, ok, true, BreakerClosed},
			{0, errDown, true, BreakerClosed}, {0, errDown, true, BreakerClosed},
			{0, errDown, true, BreakerOpen},
		}},
		{"a streak older than the window starts over", []step{
			{0, errDown, true, BreakerClosed}, {0, errDown, true, BreakerClosed},
			{11 * time.Second, errDown, true, BreakerClosed},
			{0, errDown, true, BreakerClosed},
			{0, errDown, true, BreakerOpen},
		}},
		{"non-retryable failures do not count", []step{
			{0, errInvalid, true, BreakerClosed}, {0, errNotHere, true, BreakerClosed},
			{0, errDown, true, BreakerClosed}, {0, errInvalid, true, BreakerClosed},
			{0, errDown, true, BreakerClosed}, {0, errDown, true, BreakerClosed},
			{0, errDown, true, BreakerOpen},
		}},
		{"cancelled calls do not count", []step{
			{0, context.Canceled, true, BreakerClosed}, {0, context.Canceled, true, BreakerClosed},
			{0, context.Canceled, true, BreakerClosed}, {0, context.Canceled, true, BreakerClosed},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := &testClock{now: time.Unix(1e9, 0)}
			g := NewGuard("crm", GuardConfig{Breaker: BreakerConfig{Failures: 3, Window: 10 * time.Second, OpenFor: 30 * time.Second},
				Now: clk.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			for i, s := range tc.steps {
				clk.Advance(s.advance)
				called := false
				_, err := g.Do(context.Background(), "op", func(context.Context) (*Response, error) {
					called = true
					return nil, s.result
				})
				if called != s.called {
					t.Fatalf("step %d: called %v, want %v", i, called, s.called)
				}
				if !called && (KindOf(err) != KindCircuitOpen || !errors.Is(err, ErrCircuitOpen)) {
					t.Fatalf("step %d: refusal %v, want circuit-open", i, err)
				}
				if got := g.State(); got != s.state {
					t.Fatalf("step %d: state %s, want %s", i, got, s.state)
				}
			}
		})
	}
}

func TestBreakerHalfOpenLetsOneProbe(t *testing.T) {
	t.Parallel()
	clk := &testClock{now: time.Unix(1e9, 0)}
	g := NewGuard("crm", GuardConfig{Breaker: BreakerConfig{Failures: 1, OpenFor: time.Minute}, Now: clk.Now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	_, _ = g.Do(context.Background(), "op", func(context.Context) (*Response, error) { return nil, errDown })
	clk.Advance(time.Minute)
	inProbe, release := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		_, err := g.Do(context.Background(), "op", func(context.Context) (*Response, error) {
			close(inProbe)
			<-release
			return &Response{Status: 200}, nil
		})
		done <- err
	}()
	<-inProbe
	_, err := g.Do(context.Background(), "op", func(context.Context) (*Response, error) {
		t.Error("a second call ran while the probe was out")
		return nil, nil
	})
	if KindOf(err) != KindCircuitOpen {
		t.Fatalf("second call during the probe: %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if g.State() != BreakerClosed {
		t.Fatalf("state %s after a good probe", g.State())
	}
}

func TestGuardConcurrency(t *testing.T) {
	t.Parallel()
	const limit = 3
	g := NewGuard("crm", GuardConfig{Concurrency: limit, Breaker: BreakerConfig{Disabled: true}})
	var mu sync.Mutex
	inFlight, maxInFlight := 0, 0
	release := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for range 10 {
		wg.Go(func() {
			_, err := g.Do(context.Background(), "op", func(context.Context) (*Response, error) {
				mu.Lock()
				inFlight++
				maxInFlight = max(maxInFlight, inFlight)
				mu.Unlock()
				<-release
				mu.Lock()
				inFlight--
				mu.Unlock()
				return nil, nil
			})
			errs <- err
		})
	}
	deadline := time.Now().Add(5 * time.Second)
	for g.InFlight() < limit {
		if time.Now().After(deadline) {
			t.Fatal("slots never filled")
		}
		time.Sleep(time.Millisecond)
	}
	// A call that cannot get a slot before its context ends is refused.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g.Do(ctx, "op", func(context.Context) (*Response, error) { return nil, nil }); KindOf(err) != KindOverloaded || !errors.Is(err, ErrOverloaded) {
		t.Fatalf("full guard: %v, want overloaded", err)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if maxInFlight > limit || maxInFlight == 0 {
		t.Fatalf("max in flight %d, limit %d", maxInFlight, limit)
	}
}
