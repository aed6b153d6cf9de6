package orchestration

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/connectors"
)

// TestParallelIsConcurrent cannot pass when branches run one after the
// other: each branch's call signals its arrival, then waits for the other
// branch's, so sequential branches would wait forever (the generous
// timeout fails the test instead).
func TestParallelIsConcurrent(t *testing.T) {
	t.Parallel()
	arrived := map[string]chan struct{}{"getCustomer": make(chan struct{}), "listOrders": make(chan struct{})}
	other := map[string]string{"getCustomer": "listOrders", "listOrders": "getCustomer"}
	var timedOut atomic.Bool
	h := func(ctx context.Context, _ connectors.Spec, req connectors.Request) (*connectors.Response, error) {
		close(arrived[req.Operation])
		select {
		case <-arrived[other[req.Operation]]:
			return ok(req.Operation)
		case <-time.After(10 * time.Second):
			timedOut.Store(true)
			return nil, &connectors.Error{Kind: connectors.KindTimeout, Message: "the other branch never arrived"}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	p := mustPlan(t, testEngine(t, h), flowFiles(`apiVersion: skybridge/v1
kind: Flow
name: main
timeout: 30s
steps:
  - parallel:
      - {id: a, call: crm.getCustomer}
      - {id: b, call: crm.listOrders}
output: ["${steps.a}", "${steps.b}"]
`), Environment{})
	res, err := p.Run(context.Background(), "main", Call{User: testUser})
	if err != nil || timedOut.Load() {
		t.Fatalf("branches did not meet: %v", err)
	}
	jsonEqual(t, res.Output, []any{"getCustomer", "listOrders"})
}

// TestParallelFailureCancelsSiblings: one failing branch ends the others
// through their context and fails the step.
func TestParallelFailureCancelsSiblings(t *testing.T) {
	t.Parallel()
	h := func(ctx context.Context, _ connectors.Spec, req connectors.Request) (*connectors.Response, error) {
		if req.Operation == "getCustomer" {
			return nil, &connectors.Error{Connector: "crm", Operation: "getCustomer", Kind: connectors.KindStatus, Status: 500, Message: "boom"}
		}
		<-ctx.Done()
		return nil, &connectors.Error{Connector: "crm", Operation: req.Operation, Kind: connectors.KindTimeout, Message: "cancelled", Err: ctx.Err()}
	}
	p := mustPlan(t, testEngine(t, h), flowFiles(`apiVersion: skybridge/v1
kind: Flow
name: main
steps:
  - parallel:
      - {id: a, call: crm.getCustomer}
      - {id: b, call: crm.slow}
`), Environment{})
	_, err := p.Run(context.Background(), "main", Call{User: testUser})
	var fe *FlowError
	if !errors.As(err, &fe) || fe.Status != 502 || fe.Step != "a" {
		t.Fatalf("err = %v, want 502 from step a", err)
	}
}

func TestForeachConcurrencyLimit(t *testing.T) {
	t.Parallel()
	for _, limit := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("limit=%d", limit), func(t *testing.T) {
			t.Parallel()
			const items = 7
			var inFlight, maxInFlight, started atomic.Int32
			h := func(ctx context.Context, _ connectors.Spec, req connectors.Request) (*connectors.Response, error) {
				n := inFlight.Add(1)
				started.Add(1)
				defer inFlight.Add(-1)
				for {
					m := maxInFlight.Load()
					if n <= m || maxInFlight.CompareAndSwap(m, n) {
						break
					}
				}
				// Hold the slot until the limit is reached (or no more
				// items can start), so the test sees the limit itself.
				if !waitFor(ctx, func() bool { return inFlight.Load() >= int32(limit) || started.Load() == items }) {
					return nil, &connectors.Error{Kind: connectors.KindTimeout, Message: "limit never reached"}
				}
				return ok(req.Args["id"])
			}
			p := mustPlan(t, testEngine(t, h), flowFiles(fmt.Sprintf(`apiVersion: skybridge/v1
kind: Flow
name: main
steps:
  - foreach: ${[0, 1, 2, 3, 4, 5, 6]}
    concurrency: %d
    steps: [{id: c, call: crm.getCustomer, with: {id: "${item}"}}]
`, limit)), Environment{})
			res, err := p.Run(context.Background(), "main", Call{User: testUser})
			if err != nil {
				t.Fatal(err)
			}
			if got := maxInFlight.Load(); got != int32(limit) {
				t.Fatalf("max in flight = %d, want %d", got, limit)
			}
			jsonEqual(t, res.Output, []any{0, 1, 2, 3, 4, 5, 6})
		})
	}
}

func TestRetry(t *testing.T) {
	t.Parallel()
	unavailable := &connectors.Error{Connector: "crm", Kind: connectors.KindUnavailable, Message: "connection refused"}
	status := func(s int) error {
		return &connectors.Error{Connector: "crm", Kind: connectors.KindStatus, Status: s, Message: "status"}
	}
	cases := []struct {
		name      string
		op        string
		retry     string
		failures  []error // the first calls' errors; later calls succeed
		wantCalls int32
		wantErr   bool
	}{
		{"retried until success", "getCustomer", "{attempts: 3, backoff: 1ms}", []error{unavailable, status(503)}, 3, false},
		{"attempts exhausted", "getCustomer", "{attempts: 2, backoff: 1ms}", []error{unavailable, unavailable, unavailable}, 2, true},
		{"not retried off the on list", "getCustomer", "{attempts: 3, backoff: 1ms, on: [timeout]}", []error{unavailable}, 1, true},
		{"retried on the on list", "getCustomer", "{attempts: 3, backoff: 1ms, on: [unavailable]}", []error{unavailable}, 2, false},
		{"404 is not retryable", "getCustomer", "{attempts: 3, backoff: 1ms}", []error{status(404)}, 1, true},
		{"invalid is never retried", "getCustomer", "{attempts: 3, backoff: 1ms}", []error{&connectors.Error{Kind: connectors.KindInvalid}}, 1, true},
		{"non-idempotent is not retried", "createOrder", "{attempts: 3, backoff: 1ms}", []error{unavailable}, 1, true},
		{"unsafe retries non-idempotent", "createOrder", "{attempts: 3, backoff: 1ms, maxBackoff: 2ms, unsafe: true}", []error{unavailable, unavailable}, 3, false},
		{"no retry policy", "getCustomer", "", []error{unavailable}, 1, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			h := func(context.Context, connectors.Spec, connectors.Request) (*connectors.Response, error) {
				n := calls.Add(1)
				if int(n) <= len(tc.failures) {
					return nil, tc.failures[n-1]
				}
				return ok("fine")
			}
			retry := ""
			if tc.retry != "" {
				retry = "\n    retry: " + tc.retry
			}
			p := mustPlan(t, testEngine(t, h), flowFiles(`apiVersion: skybridge/v1
kind: Flow
name: main
steps:
  - id: c
    call: crm.`+tc.op+retry+"\n"), Environment{})
			res, err := p.Run(context.Background(), "main", Call{User: testUser, Trace: true})
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if calls.Load() != tc.wantCalls {
				t.Fatalf("calls = %d, want %d", calls.Load(), tc.wantCalls)
			}
			if err == nil && res.Steps[0].Attempts != int(tc.wantCalls) {
				t.Fatalf("trace attempts = %d, want %d", res.Steps[0].Attempts, tc.wantCalls)
			}
		})
	}
}

func TestRetryDelay(t *testing.T) {
	t.Parallel()
	r := &retryDef{backoff: 100 * time.Millisecond, maxBackoff: time.Second}
	for n, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 5: time.Second, 30: time.Second} {
		if got := r.delay(n); got != want {
			t.Errorf("delay(%d) = %v, want %v", n, got, want)
		}
	}
	r.jitter = true
	for n := 1; n < 10; n++ {
		full := min(r.backoff<<(n-1), r.maxBackoff)
		if got := r.delay(n); got < full/2 || got > full {
			t.Errorf("jittered delay(%d) = %v, want within [%v, %v]", n, got, full/2, full)
		}
	}
}

func TestOnErrorAndFallback(t *testing.T) {
	t.Parallel()
	h := func(_ context.Context, _ connectors.Spec, req connectors.Request) (*connectors.Response, error) {
		if req.Operation == "getCustomer" {
			return nil, &connectors.Error{Connector: "crm", Operation: "getCustomer", Kind: connectors.KindStatus, Status: 503, Message: "down"}
		}
		return ok([]any{"o1"})
	}
	cases := []struct {
		name, steps string
		want        any
	}{
		{"continue", `
  - {id: c, call: crm.getCustomer, onError: continue}
  - {id: o, call: crm.listOrders}
output: {c: "${steps.c}", err: "${meta.c.kind}/${meta.c.status}", o: "${steps.o}"}
`, map[string]any{"c": nil, "err": "status/503", "o": []any{"o1"}}},
		{"fallback value", `
  - id: c
    call: crm.getCustomer
    fallback: {value: {name: "unknown (${error.status})", step: "${error.step}"}}
output: ${steps.c}
`, map[string]any{"name": "unknown (503)", "step": "c"}},
		{"fallback steps", `
  - id: c
    call: crm.getCustomer
    fallback:
      steps:
        - {id: o, call: crm.listOrders}
        - {transform: {fromOrders: "${steps.o}", kind: "${error.kind}"}}
output: ${steps.c}
`, map[string]any{"fromOrders": []any{"o1"}, "kind": "status"}},
		{"fallback of a nested failure", `
  - id: group
    parallel:
      - {id: c, call: crm.getCustomer}
    fallback: {value: none}
output: ${steps.group}
`, "none"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := mustPlan(t, testEngine(t, h), flowFiles("apiVersion: skybridge/v1\nkind: Flow\nname: main\nsteps:"+tc.steps), Environment{})
			res, err := p.Run(context.Background(), "main", Call{User: testUser})
			if err != nil {
				t.Fatal(err)
			}
			jsonEqual(t, res.Output, tc.want)
		})
	}
}

func TestTimeouts(t *testing.T) {
	t.Parallel()
	// block waits for its context: only a deadline ends it.
	block := func(ctx context.Context, _ connectors.Spec, req connectors.Request) (*connectors.Response, error) {
		if req.Operation != "slow" {
			return ok("quick")
		}
		<-ctx.Done()
		return nil, &connectors.Error{Connector: "crm", Operation: "slow", Kind: connectors.KindTimeout, Message: "deadline", Err: ctx.Err()}
	}
	cases := []struct {
		name, flow string
		wantErr    error
		want       any
	}{
		{"step timeout", "steps:\n  - {id: s, call: crm.slow, timeout: 20ms}\n", context.DeadlineExceeded, nil},
		{"flow timeout", "timeout: 20ms\nsteps:\n  - {id: s, call: crm.slow}\n", context.DeadlineExceeded, nil},
		{"step timeout with fallback", "steps:\n  - {id: s, call: crm.slow, timeout: 20ms, fallback: {value: late}}\n  - {transform: \"${steps.s}\"}\n", nil, "late"},
		{"flow timeout beats fallback", "timeout: 20ms\nsteps:\n  - {id: s, call: crm.slow, fallback: {value: late}}\n", context.DeadlineExceeded, nil},
		{"timeout mapped", "steps:\n  - {id: s, call: crm.slow, timeout: 20ms}\nerrors:\n  - {when: {kind: timeout}, status: 503, title: Try later}\n", &FlowError{}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := mustPlan(t, testEngine(t, block), flowFiles("apiVersion: skybridge/v1\nkind: Flow\nname: main\n"+tc.flow), Environment{})
			res, err := p.Run(context.Background(), "main", Call{User: testUser})
			var fe *FlowError
			switch {
			case tc.wantErr == nil:
				if err != nil {
					t.Fatal(err)
				}
				jsonEqual(t, res.Output, tc.want)
			case errors.As(tc.wantErr, &fe):
				if !errors.As(err, &fe) || fe.Status != 503 {
					t.Fatalf("err = %v, want the mapped 503", err)
				}
			case !errors.Is(err, tc.wantErr):
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
	t.Run("caller's context", func(t *testing.T) {
		t.Parallel()
		p := mustPlan(t, testEngine(t, block), flowFiles("apiVersion: skybridge/v1\nkind: Flow\nname: main\nsteps:\n  - {call: crm.slow}\n"), Environment{})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := p.Run(ctx, "main", Call{User: testUser})
			done <- err
		}()
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not end with its context")
		}
		ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if _, err := p.Run(ctx, "main", Call{User: testUser}); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want context.DeadlineExceeded", err)
		}
	})
}
