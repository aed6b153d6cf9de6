package connectors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Guard defaults.
const (
	// DefaultConcurrency is GuardConfig.Concurrency's default.
	DefaultConcurrency = 64
	// DefaultBreakerFailures is BreakerConfig.Failures's default.
	DefaultBreakerFailures = 5
	// DefaultBreakerWindow is BreakerConfig.Window's default.
	DefaultBreakerWindow = 10 * time.Second
	// DefaultBreakerOpenFor is BreakerConfig.OpenFor's default.
	DefaultBreakerOpenFor = 30 * time.Second
)

// GuardConfig configures a Guard. Connector types read it from a
// document's `config.concurrency` and `config.circuitBreaker`.
type GuardConfig struct {
	// Concurrency is the most calls in flight at once through the guard;
	// a call waits for a slot until its context ends and then fails with
	// KindOverloaded. Default: 64.
	Concurrency int
	// Breaker configures the circuit breaker.
	Breaker BreakerConfig
	// Now is the breaker's clock. Default: time.Now.
	Now func() time.Time
	// Logger receives the breaker's state changes. Default: slog.Default().
	Logger *slog.Logger
}

// BreakerConfig configures a Guard's circuit breaker.
//
// The breaker counts retryable failures (Error.Retryable: timeouts,
// unavailability, statuses 408, 425, 429 and 5xx), except the guard's own
// KindOverloaded and calls cancelled by their caller. Failures open the
// circuit when Failures of them follow each other, with no success in
// between, within Window of the first. An open circuit refuses every call
// with KindCircuitOpen, without calling the system, for OpenFor; then it
// is half-open: one call (the probe) goes through while the others are
// still refused. A successful probe closes the circuit; a failed one opens
// it for another OpenFor.
type BreakerConfig struct {
	// Disabled turns the breaker off. Default: false (on).
	Disabled bool
	// Failures is how many consecutive retryable failures open the
	// circuit. Default: 5.
	Failures int
	// Window bounds a failure streak: a failure more than Window after
	// the streak's first one starts a new streak. Default: 10s.
	Window time.Duration
	// OpenFor is how long an open circuit refuses calls before it lets a
	// probe through. Default: 30s.
	OpenFor time.Duration
}

func (c GuardConfig) withDefaults() GuardConfig {
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Breaker.Failures <= 0 {
		c.Breaker.Failures = DefaultBreakerFailures
	}
	if c.Breaker.Window <= 0 {
		c.Breaker.Window = DefaultBreakerWindow
	}
	if c.Breaker.OpenFor <= 0 {
		c.Breaker.OpenFor = DefaultBreakerOpenFor
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Guard protects one connector instance: a concurrency limit and a
// circuit breaker. Guards are per connector instance, not shared: two
// connectors to the same host (or the same document built for two
// environments) have separate limits and separate circuits. A Guard is
// safe for concurrent use.
type Guard struct {
	name    string
	limit   int
	slots   chan struct{}
	breaker *breaker // nil when disabled
}

// NewGuard returns a Guard for the connector named name.
func NewGuard(name string, cfg GuardConfig) *Guard {
	cfg = cfg.withDefaults()
	g := &Guard{name: name, limit: cfg.Concurrency, slots: make(chan struct{}, cfg.Concurrency)}
	if !cfg.Breaker.Disabled {
		g.breaker = newBreaker(cfg.Breaker, cfg.Now, cfg.Logger.With("connector", name))
	}
	return g
}

// Do runs call for operation op under the guard: it refuses at once with
// KindCircuitOpen while the circuit is open, waits for a concurrency slot
// (KindOverloaded when ctx ends first), runs call and records its outcome
// in the breaker. call's error is returned unchanged.
func (g *Guard) Do(ctx context.Context, op string, call func(context.Context) (*Response, error)) (*Response, error) {
	probe := false
	if g.breaker != nil {
		var ok bool
		if probe, ok = g.breaker.allow(); !ok {
			return nil, &Error{Connector: g.name, Operation: op, Kind: KindCircuitOpen,
				Message: "circuit breaker open after repeated failures; no call made", Err: ErrCircuitOpen}
		}
	}
	select {
	case g.slots <- struct{}{}:
	default:
		select {
		case g.slots <- struct{}{}:
		case <-ctx.Done():
			if g.breaker != nil {
				g.breaker.cancel(probe)
			}
			return nil, &Error{Connector: g.name, Operation: op, Kind: KindOverloaded,
				Message: fmt.Sprintf("all %d concurrent call slots busy until the call's context ended", g.limit),
				Err:     errors.Join(ErrOverloaded, ctx.Err())}
		}
	}
	resp, err := call(ctx)
	<-g.slots
	if g.breaker != nil {
		g.breaker.record(probe, countsAsFailure(err))
	}
	return resp, err
}

// State returns the circuit breaker's state (BreakerClosed when disabled).
func (g *Guard) State() BreakerState {
	if g.breaker == nil {
		return BreakerClosed
	}
	return g.breaker.current()
}

// InFlight returns how many calls hold a slot now.
func (g *Guard) InFlight() int { return len(g.slots) }

// Sentinel errors, the Err of guard refusals.
var (
	// ErrCircuitOpen is the cause of a KindCircuitOpen refusal.
	ErrCircuitOpen = errors.New("connectors: circuit open")
	// ErrOverloaded is the cause of a KindOverloaded refusal.
	ErrOverloaded = errors.New("connectors: overloaded")
)

// countsAsFailure reports whether err says the system is in trouble.
func countsAsFailure(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var ce *Error
	if errors.As(err, &ce) {
		return ce.Retryable() && ce.Kind != KindOverloaded && ce.Kind != KindCircuitOpen
	}
	return true
}
