package api

import (
	"strconv"
	"sync"
	"testing"
	"time"
)

// stepClock is a clock the test moves by hand.
type stepClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestLoginLimiter(t *testing.T) {
	t.Parallel()
	clock := &stepClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := newLoginLimiter(3, time.Minute, clock.Now)
	const key = "owner@example.com|10.0.0.1"

	for i := range 3 {
		if w := l.wait(key); w != 0 {
			t.Fatalf("attempt %d refused (wait %v) before the limit", i, w)
		}
		l.failed(key)
		clock.advance(10 * time.Second)
	}
	if w := l.wait(key); w != 30*time.Second {
		t.Fatalf("after 3 failures: wait %v, want the 30s left of the window", w)
	}
	if w := l.wait("owner@example.com|10.0.0.2"); w != 0 {
		t.Errorf("another address is limited too: %v", w)
	}
	clock.advance(30 * time.Second)
	if w := l.wait(key); w != 0 {
		t.Errorf("after the window: wait %v", w)
	}

	// A success forgets earlier failures.
	l.failed(key)
	l.failed(key)
	l.succeeded(key)
	l.failed(key)
	l.failed(key)
	if w := l.wait(key); w != 0 {
		t.Errorf("failures before a success still count: wait %v", w)
	}
}

func TestLoginLimiterBoundsMemory(t *testing.T) {
	t.Parallel()
	clock := &stepClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := newLoginLimiter(1, time.Minute, clock.Now)
	for i := range maxLoginEntries + 10 {
		l.failed("k" + strconv.Itoa(i))
	}
	if n := len(l.failures); n != maxLoginEntries {
		t.Fatalf("%d entries, want the cap %d", n, maxLoginEntries)
	}
	// Once the entries expire, a sweep makes room again.
	clock.advance(time.Minute)
	l.failed("fresh")
	if n := len(l.failures); n != 1 || l.wait("fresh") == 0 {
		t.Errorf("after expiry: %d entries; fresh limited=%v", n, l.wait("fresh") != 0)
	}
}
