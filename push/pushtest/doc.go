// Package pushtest runs local stand-ins for Apple's APNs and Google's FCM
// HTTP v1 that speak their real protocols, for the tests, examples and
// benchmarks of Skybridge's push notifications.
//
// APNs is an HTTP/2 TLS server (httptest, with a test CA): it checks each
// request as APNs does — POST /3/device/<token>, apns-topic, apns-push-type
// and an ES256 provider token signed by the key it generated (Key) — and
// answers 200 with apns-id, or what a per-token Rule says (410
// Unregistered, 400 BadDeviceToken, 429 with Retry-After, 5xx).
//
// FCM serves POST /v1/projects/{project}/messages:send with a Bearer token
// from its OAuth2 token endpoint, which checks the JWT assertion signed by
// the service account it generated (ServiceAccountJSON); errors come in
// FCM's shape (UNREGISTERED, INVALID_ARGUMENT, QUOTA_EXCEEDED, UNAVAILABLE).
//
// Both count the requests per token, so tests can check that each token
// got exactly one.
package pushtest

import (
	"sync"
	"time"
)

// Rule is how a fake answers one token.
type Rule struct {
	// Status is the HTTP status to answer (0: 200).
	Status int
	// Reason is the APNs reason or the FCM error code of the answer.
	Reason string
	// RetryAfter, when set, is sent as the Retry-After header.
	RetryAfter string
	// Message, for FCM, replaces the error message FCM sends with the
	// code (for INVALID_ARGUMENT: "The registration token is not a valid
	// FCM registration token").
	Message string
	// Times limits the rule to the token's first Times requests; later
	// ones succeed. 0: every request.
	Times int
}

// counter counts requests per token and remembers the last one.
type counter struct {
	mu     sync.Mutex
	rules  map[string]Rule
	counts map[string]int
	last   map[string]Request
	ids    map[string][]string
	errs   []string
	total  int
	delay  time.Duration
	lean   bool // count only: no Last, no MessageIDs
}

// Request is what a fake received for one token (the last one).
type Request struct {
	Headers map[string]string
	Body    map[string]any
}

func newCounter() counter {
	return counter{rules: map[string]Rule{}, counts: map[string]int{}, last: map[string]Request{}, ids: map[string][]string{}}
}

// hit counts a request for token and returns the rule to apply.
func (c *counter) hit(token string, req Request) (Rule, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts[token]++
	c.total++
	if c.lean {
		r, ok := c.rules[token]
		if ok && r.Times > 0 && c.counts[token] > r.Times {
			return Rule{}, false
		}
		return r, ok
	}
	c.last[token] = req
	if id := req.Headers["apns-id"]; id != "" {
		c.ids[token] = append(c.ids[token], id+"/"+req.Headers["apns-collapse-id"])
	} else if d, ok := req.Body["data"].(map[string]any); ok {
		mid, _ := d["sbMessageId"].(string)
		c.ids[token] = append(c.ids[token], mid)
	}
	r, ok := c.rules[token]
	if ok && r.Times > 0 && c.counts[token] > r.Times {
		return Rule{}, false
	}
	return r, ok
}

func (c *counter) fail(msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.errs) < 100 {
		c.errs = append(c.errs, msg)
	}
}

// SetRule makes the fake answer token by r.
func (c *counter) SetRule(token string, r Rule) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rules[token] = r
}

// SetLean makes the fake keep counts only (no Last, no MessageIDs), so
// that a benchmark's memory is the server's, not the fake's.
func (c *counter) SetLean(lean bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lean = lean
}

// SetDelay makes the fake wait d before each answer.
func (c *counter) SetDelay(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.delay = d
}

func (c *counter) wait() {
	c.mu.Lock()
	d := c.delay
	c.mu.Unlock()
	if d > 0 {
		time.Sleep(d)
	}
}

// Count is how many requests token got.
func (c *counter) Count(token string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[token]
}

// Counts returns a copy of the requests per token.
func (c *counter) Counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.counts))
	for k, v := range c.counts {
		out[k] = v
	}
	return out
}

// Total is how many requests the fake got (credential checks included).
func (c *counter) Total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

// MessageIDs lists, per request for token, its message id (APNs:
// "apns-id/apns-collapse-id"; FCM: the sbMessageId data value).
func (c *counter) MessageIDs(token string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.ids[token]...)
}

// Last is the last request for token.
func (c *counter) Last(token string) (Request, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.last[token]
	return r, ok
}

// Errors lists the protocol violations the fake saw (bad path, header,
// token ...); a correct client causes none.
func (c *counter) Errors() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.errs...)
}
