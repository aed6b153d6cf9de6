package connectors

import (
	"log/slog"
	"sync"
	"time"
)

// BreakerState is a circuit breaker's state.
type BreakerState string

// Breaker states.
const (
	// BreakerClosed lets every call through.
	BreakerClosed BreakerState = "closed"
	// BreakerOpen refuses every call.
	BreakerOpen BreakerState = "open"
	// BreakerHalfOpen lets one probe through.
	BreakerHalfOpen BreakerState = "half-open"
)

// breaker is the state machine documented on BreakerConfig.
type breaker struct {
	cfg    BreakerConfig
	now    func() time.Time
	logger *slog.Logger

	mu          sync.Mutex
	state       BreakerState
	failures    int       // in the current streak
	streakStart time.Time // first failure of the streak
	openedAt    time.Time
	probing     bool // a half-open probe is out
}

func newBreaker(cfg BreakerConfig, now func() time.Time, logger *slog.Logger) *breaker {
	return &breaker{cfg: cfg, now: now, logger: logger, state: BreakerClosed}
}

// allow says whether a call may go now and whether it is the half-open
// probe (whose outcome decides the next state).
func (b *breaker) allow() (probe, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case BreakerClosed:
		return false, true
	case BreakerOpen:
		if b.now().Sub(b.openedAt) < b.cfg.OpenFor {
			return false, false
		}
		b.setLocked(BreakerHalfOpen)
	}
	if b.probing {
		return false, false
	}
	b.probing = true
	return true, true
}

// cancel returns an unused probe ticket (the call never ran).
func (b *breaker) cancel(probe bool) {
	if !probe {
		return
	}
	b.mu.Lock()
	b.probing = false
	b.mu.Unlock()
}

// record takes a finished call's outcome.
func (b *breaker) record(probe, failed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if probe {
		b.probing = false
		if failed {
			b.openLocked()
		} else {
			b.failures = 0
			b.setLocked(BreakerClosed)
		}
		return
	}
	if b.state != BreakerClosed {
		return // a call that started before the circuit opened
	}
	if !failed {
		b.failures = 0
		return
	}
	now := b.now()
	if b.failures == 0 || now.Sub(b.streakStart) > b.cfg.Window {
		b.failures, b.streakStart = 0, now
	}
	b.failures++
	if b.failures >= b.cfg.Failures {
		b.openLocked()
	}
}

func (b *breaker) openLocked() {
	b.openedAt = b.now()
	b.failures = 0
	b.setLocked(BreakerOpen)
}

func (b *breaker) setLocked(s BreakerState) {
	if b.state == s && s != BreakerOpen {
		return
	}
	from := b.state
	b.state = s
	// Logging under the lock keeps transitions in order; it only happens
	// on state changes, never per call.
	b.logger.Warn("connector circuit breaker", "from", string(from), "to", string(s))
}

func (b *breaker) current() BreakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == BreakerOpen && b.now().Sub(b.openedAt) >= b.cfg.OpenFor {
		return BreakerHalfOpen
	}
	return b.state
}
