package ratelimit

import "time"

// Result is the answer to one request.
type Result struct {
	// Allowed reports whether the request may proceed; it was counted
	// only if so.
	Allowed bool
	// Limit is the policy's burst: the most requests the key may make at
	// once, the quota Remaining counts down from.
	Limit int64
	// Remaining is how many more requests the key may make right now.
	Remaining int64
	// Reset is how long until the key's quota is whole again (all of
	// Limit available).
	Reset time.Duration
	// RetryAfter is how long a refused key must wait before its next
	// request can be allowed; 0 when Allowed.
	RetryAfter time.Duration
}

// gcra is a policy in the units both stores compute in: whole
// microseconds, exact in the doubles of Redis's Lua for any date this
// century.
type gcra struct {
	interval  int64 // µs between requests at the steady rate: Period/Limit
	tolerance int64 // µs of credit a full bucket holds: interval × burst
	burst     int64
}

func gcraOf(p Policy) gcra {
	interval := p.Period.Microseconds() / p.Limit
	if interval < 1 {
		interval = 1 // Validate prevents it; keep the math safe anyway
	}
	b := p.EffectiveBurst()
	return gcra{interval: interval, tolerance: interval * b, burst: b}
}

// decide is the generic cell rate algorithm. tat is the key's theoretical
// arrival time (µs; 0 when the key has none) and now the current time. It
// returns the result and, when allowed, the new theoretical arrival time
// to store, which expires at that time. The Lua script in redis.go is the
// same computation.
func (g gcra) decide(tat, now int64) (Result, int64) {
	if tat < now {
		tat = now
	}
	newTAT := tat + g.interval
	allowAt := newTAT - g.tolerance
	if now < allowAt {
		return Result{
			Limit:      g.burst,
			Reset:      micros(tat - now),
			RetryAfter: micros(allowAt - now),
		}, 0
	}
	return Result{
		Allowed:   true,
		Limit:     g.burst,
		Remaining: (now - allowAt) / g.interval,
		Reset:     micros(newTAT - now),
	}, newTAT
}

func micros(us int64) time.Duration { return time.Duration(us) * time.Microsecond }
