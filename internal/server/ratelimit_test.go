package server_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/internal/server"
	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
	"github.com/skybridgehq/skybridge/ratelimit"
)

// TestRateLimitSharedByNodesOverRedis runs two nodes of one deployment
// (one MongoDB-wire store, one Redis): a client's budget is shared, so
// the node it has not called yet refuses it once the other used it up.
func TestRateLimitSharedByNodesOverRedis(t *testing.T) {
	opts := testnode.Options{Store: "ferretdb", Redis: true, Configure: func(c *server.Config) {
		c.RateLimitClient = ratelimit.Policy{Limit: 3, Period: time.Hour}
	}}
	s1 := testnode.Start(t, opts)
	s2 := testnode.Start(t, opts)
	key := map[string]string{"X-Skybridge-Key": s1.CreateApp(t, "limited").Env(t, "dev").AppKey}
	// GET /v1/auth/me without a token is a 401, counted like any call.
	for i, s := range []*testnode.Server{s1, s2, s1} {
		resp, body := s.Do(t, "GET", "/v1/auth/me", nil, key)
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("RateLimit-Remaining") != strconv.Itoa(2-i) {
			t.Fatalf("call %d: %d, RateLimit-Remaining %q; %s", i, resp.StatusCode, resp.Header.Get("RateLimit-Remaining"), body)
		}
	}
	resp, body := s2.Do(t, "GET", "/v1/auth/me", nil, key)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || resp.Header.Get("RateLimit-Policy") != "3;w=3600" {
		t.Fatalf("fourth call: %d %v %s", resp.StatusCode, resp.Header, body)
	}
}

// TestRateLimitOffByConfig: SKYBRIDGE_RATE_LIMIT_*=off leaves /v1
// unlimited and without RateLimit headers.
func TestRateLimitOffByConfig(t *testing.T) {
	s := testnode.Start(t, testnode.Options{Configure: func(c *server.Config) {
		c.RateLimitEnv, c.RateLimitClient = ratelimit.Off, ratelimit.Off
	}})
	key := map[string]string{"X-Skybridge-Key": s.CreateApp(t, "free").Env(t, "dev").AppKey}
	resp, _ := s.Do(t, "GET", "/v1/auth/me", nil, key)
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("RateLimit-Limit") != "" {
		t.Fatalf("%d, RateLimit-Limit %q", resp.StatusCode, resp.Header.Get("RateLimit-Limit"))
	}
}
