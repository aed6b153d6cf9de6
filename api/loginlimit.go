package api

import (
	"sync"
	"time"
)

// maxLoginEntries bounds the memory the login limiter may take. When it is
// full of live entries, new keys go untracked: password hashing is costly
// and bounded by auth's MaxConcurrentHashes, so failing open here cannot
// speed up guessing much, while failing closed would let a flood lock
// every admin out.
const maxLoginEntries = 100_000

// loginLimiter counts failed admin logins per key (email and client
// address) in a fixed window and refuses further attempts once a key
// reaches the limit, until its window ends. It is per node: behind a load
// balancer the effective limit is multiplied by the number of nodes.
type loginLimiter struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu       sync.Mutex
	failures map[string]loginFailures
}

type loginFailures struct {
	count int
	start time.Time
}

func newLoginLimiter(max int, window time.Duration, now func() time.Time) *loginLimiter {
	return &loginLimiter{max: max, window: window, now: now, failures: map[string]loginFailures{}}
}

// wait returns how long key must wait before its next attempt; 0 means it
// may try now.
func (l *loginLimiter) wait(key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.failures[key]
	if !ok {
		return 0
	}
	left := f.start.Add(l.window).Sub(l.now())
	if left <= 0 {
		delete(l.failures, key)
		return 0
	}
	if f.count < l.max {
		return 0
	}
	return left
}

// failed records a failed attempt of key.
func (l *loginLimiter) failed(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	f, ok := l.failures[key]
	if !ok || now.Sub(f.start) >= l.window {
		if !ok && len(l.failures) >= maxLoginEntries {
			l.sweep(now)
			if len(l.failures) >= maxLoginEntries {
				return
			}
		}
		f = loginFailures{start: now}
	}
	f.count++
	l.failures[key] = f
}

// succeeded forgets the failures of key.
func (l *loginLimiter) succeeded(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.failures, key)
}

// sweep drops the entries whose window has ended; l.mu is held.
func (l *loginLimiter) sweep(now time.Time) {
	for k, f := range l.failures {
		if now.Sub(f.start) >= l.window {
			delete(l.failures, k)
		}
	}
}
