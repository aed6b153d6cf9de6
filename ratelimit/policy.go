// Package ratelimit limits how often a key (an app environment, a user, a
// client address) may act, with the generic cell rate algorithm (GCRA, the
// token bucket expressed as one timestamp per key). Two stores hold the
// per-key state: Memory, in process and bounded, for a single node; and
// Redis, where one Lua script makes each decision atomically so that every
// node sharing the server shares the budget.
//
// Both stores take the same Policy and answer the same Result, and pass
// the same conformance tests.
package ratelimit

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrInvalidPolicy: a policy string or value that cannot be used.
var ErrInvalidPolicy = errors.New("ratelimit: invalid policy")

// Bounds of a Policy.
const (
	// MinPeriod and MaxPeriod bound Policy.Period.
	MinPeriod = time.Millisecond
	MaxPeriod = 24 * time.Hour
	// MaxBurstFactor bounds Policy.Burst to this many times Limit, so that
	// a bucket never holds more than that many periods of requests.
	MaxBurstFactor = 10
)

// Policy allows Limit requests per Period on average, in bursts of up to
// Burst requests at once. Limit < 0 means the policy is off (see Off).
type Policy struct {
	// Limit is the number of requests per Period: 1 to one per
	// microsecond of Period. A negative Limit turns the policy off.
	Limit int64
	// Period is the window Limit counts over, from MinPeriod to MaxPeriod.
	Period time.Duration
	// Burst is how many requests may arrive at once after a quiet spell,
	// from 1 to MaxBurstFactor × Limit. Default (0): Limit.
	Burst int64
}

// Off is the policy that allows everything.
var Off = Policy{Limit: -1}

// Disabled reports whether p is off.
func (p Policy) Disabled() bool { return p.Limit < 0 }

// IsZero reports whether p is the zero Policy, which configuration reads
// as "use the default".
func (p Policy) IsZero() bool { return p == Policy{} }

// EffectiveBurst is Burst, or Limit when Burst is unset.
func (p Policy) EffectiveBurst() int64 {
	if p.Burst > 0 {
		return p.Burst
	}
	return p.Limit
}

// Validate reports why an enabled policy cannot be used; Off is valid.
func (p Policy) Validate() error {
	if p.Disabled() {
		return nil
	}
	switch {
	case p.Limit < 1:
		return fmt.Errorf("%w: limit must be at least 1", ErrInvalidPolicy)
	case p.Period < MinPeriod || p.Period > MaxPeriod:
		return fmt.Errorf("%w: period must be from %s to %s", ErrInvalidPolicy, MinPeriod, MaxPeriod)
	case p.Limit > p.Period.Microseconds():
		return fmt.Errorf("%w: limit must be at most one per microsecond of the period", ErrInvalidPolicy)
	case p.Burst < 0 || p.Burst > MaxBurstFactor*p.Limit:
		return fmt.Errorf("%w: burst must be from 1 to %d × limit", ErrInvalidPolicy, MaxBurstFactor)
	}
	return nil
}

// String renders p as ParsePolicy reads it: "600/1m", "600/1m burst 1200"
// or "off".
func (p Policy) String() string {
	if p.Disabled() {
		return "off"
	}
	s := strconv.FormatInt(p.Limit, 10) + "/" + FormatPeriod(p.Period)
	if p.Burst > 0 && p.Burst != p.Limit {
		s += " burst " + strconv.FormatInt(p.Burst, 10)
	}
	return s
}

// FormatPeriod renders d without the zero units time.Duration.String
// adds: 1m rather than 1m0s.
func FormatPeriod(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// ParsePolicy reads "N/period" (600/1m, 10/s, 5000/1h), optionally
// followed by " burst M", or "off". A period without a number (s, m, h)
// means one of that unit. The result is validated.
func ParsePolicy(s string) (Policy, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "off") {
		return Off, nil
	}
	rate, burst, hasBurst := strings.Cut(s, " burst ")
	n, per, ok := strings.Cut(strings.TrimSpace(rate), "/")
	if !ok {
		return Policy{}, fmt.Errorf("%w: %q: write requests/period, e.g. 600/1m, or off", ErrInvalidPolicy, s)
	}
	limit, err := strconv.ParseInt(strings.TrimSpace(n), 10, 64)
	if err != nil {
		return Policy{}, fmt.Errorf("%w: %q: the limit must be a whole number", ErrInvalidPolicy, s)
	}
	period, err := ParsePeriod(per)
	if err != nil {
		return Policy{}, err
	}
	p := Policy{Limit: limit, Period: period}
	if hasBurst {
		if p.Burst, err = strconv.ParseInt(strings.TrimSpace(burst), 10, 64); err != nil || p.Burst < 1 {
			return Policy{}, fmt.Errorf("%w: %q: the burst must be a whole number from 1", ErrInvalidPolicy, s)
		}
	}
	if limit < 1 {
		return Policy{}, fmt.Errorf("%w: %q: the limit must be at least 1 (use off to disable)", ErrInvalidPolicy, s)
	}
	if err := p.Validate(); err != nil {
		return Policy{}, fmt.Errorf("%q: %w", s, err)
	}
	return p, nil
}

// ParsePeriod reads a period: a Go duration (1m, 30s, 1h30m) or a bare
// unit (s, m, h) meaning one of it.
func ParsePeriod(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "s", "m", "h":
		s = "1" + s
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < MinPeriod || d > MaxPeriod {
		return 0, fmt.Errorf("%w: period %q must be a duration such as 1m, from %s to %s", ErrInvalidPolicy, s, MinPeriod, MaxPeriod)
	}
	return d, nil
}
