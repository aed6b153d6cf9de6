package api

import (
	"crypto/rand"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/internal/testenv"
	"github.com/skybridgehq/skybridge/internal/testenv/teststore"
	"github.com/skybridgehq/skybridge/keyring"
	"github.com/skybridgehq/skybridge/ratelimit"
	"github.com/skybridgehq/skybridge/store"
)

// rateNode is one API node of a rate limit test, with a GET /v1/ping
// route behind the keyed /v1 middlewares.
type rateNode struct {
	*testEnv
	kr *keyring.Keyring
}

// newRateNode builds a node over a fresh SQLite store, or over the store
// and key ring of first (a second node of the same deployment).
func newRateNode(t *testing.T, cfg Config, limiter RateLimiter, first *rateNode) *rateNode {
	t.Helper()
	ctx := t.Context()
	var (
		p   store.Provider
		kr  *keyring.Keyring
		err error
	)
	if first != nil {
		p, kr = first.store, first.kr
	} else {
		p = teststore.SQLite(t)
		if kr, _, err = keyring.Generate(); err != nil {
			t.Fatal(err)
		}
	}
	sys, err := p.DB(ctx, store.SystemDB)
	if err != nil {
		t.Fatal(err)
	}
	log, buf := newTestLogger()
	svc := auth.NewService(sys, kr, auth.Config{Password: auth.PasswordParams{Memory: 1024, Time: 1, Threads: 1}, Logger: log})
	if first == nil {
		if err := store.EnsureIndexes(ctx, sys, auth.SystemIndexes()); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.CreateAdmin(ctx, testAdminEmail, testAdminPassword, auth.RoleOwner); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	a, err := New(Deps{Auth: svc, Store: p, Logger: log, Registry: reg, RateLimiter: limiter}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	a.keyed.Get("/ping", func(w http.ResponseWriter, r *http.Request) {
		a.respond(w, r, http.StatusOK, map[string]bool{"ok": true})
	})
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return &rateNode{testEnv: &testEnv{t: t, api: a, srv: srv, auth: svc, store: p, reg: reg, log: buf}, kr: kr}
}

// from returns an HTTP client whose connections leave from the loopback
// address ip (127.0.0.0/8 is all loopback on Linux), so that the server
// sees another client address.
func from(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 30 * time.Second}
}

// call sends method path from client with headers; it returns the answer
// with its body read.
func (n *rateNode) call(client *http.Client, method, path string, body any, headers map[string]string) (*http.Response, []byte) {
	n.t.Helper()
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			n.t.Fatal(err)
		}
		rd = strings.NewReader(string(data))
	}
	req, err := http.NewRequestWithContext(n.t.Context(), method, n.srv.URL+path, rd)
	if err != nil {
		n.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		n.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		n.t.Fatal(err)
	}
	return resp, data
}

// ping calls GET /v1/ping with key (and token when set) and checks the
// status.
func (n *rateNode) ping(client *http.Client, key, token string, status int) *http.Response {
	n.t.Helper()
	h := map[string]string{AppKeyHeader: key}
	if token != "" {
		h["Authorization"] = "Bearer " + token
	}
	resp, body := n.call(client, "GET", "/v1/ping", nil, h)
	if resp.StatusCode != status {
		n.t.Fatalf("ping: status %d, want %d; body %s", resp.StatusCode, status, body)
	}
	if status == http.StatusTooManyRequests {
		if p := problemOf(n.t, body); p.Type != problemTypePrefix+"too-many-requests" || p.Status != 429 {
			n.t.Fatalf("429 problem %s", body)
		}
	}
	return resp
}

// signupFrom signs a user up in the environment of key from client and
// returns the access token.
func (n *rateNode) signupFrom(client *http.Client, key, email string) string {
	n.t.Helper()
	resp, body := n.call(client, "POST", "/v1/auth/signup", map[string]string{"email": email, "password": testUserPassword}, map[string]string{AppKeyHeader: key})
	if resp.StatusCode != http.StatusCreated {
		n.t.Fatalf("signup: %d %s", resp.StatusCode, body)
	}
	var s session
	if err := json.Unmarshal(body, &s); err != nil {
		n.t.Fatal(err)
	}
	return s.AccessToken
}

// metric scrapes GET /metrics for the value of one series (0 when
// absent).
func (n *rateNode) metric(series string) float64 {
	n.t.Helper()
	resp, body := n.call(http.DefaultClient, "GET", "/metrics", nil, nil)
	if resp.StatusCode != http.StatusOK {
		n.t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				n.t.Fatalf("metric line %q: %v", line, err)
			}
			return f
		}
	}
	return 0
}

// wantHeaders checks the RateLimit-* fields (and Retry-After, "" for
// none).
func wantHeaders(t *testing.T, resp *http.Response, limit, remaining, reset, policy, retryAfter string) {
	t.Helper()
	got := []string{resp.Header.Get("RateLimit-Limit"), resp.Header.Get("RateLimit-Remaining"), resp.Header.Get("RateLimit-Reset"),
		resp.Header.Get("RateLimit-Policy"), resp.Header.Get("Retry-After")}
	want := []string{limit, remaining, reset, policy, retryAfter}
	if strings.Join(got, " | ") != strings.Join(want, " | ") {
		t.Fatalf("Limit | Remaining | Reset | Policy | Retry-After = %q, want %q", got, want)
	}
}

func TestRateLimit429WithHeaders(t *testing.T) {
	t.Parallel()
	n := newRateNode(t, Config{RateLimitClient: ratelimit.Policy{Limit: 3, Period: time.Hour}, RateLimitEnv: ratelimit.Policy{Limit: 100, Period: time.Hour}}, nil, nil)
	app := n.createApp(n.login(), "Limited")
	key, _ := app.keys(t, "dev")
	c := from("127.0.0.1")
	// The client policy (3 per hour: one per 1200s) is the tighter one.
	wantHeaders(t, n.ping(c, key, "", 200), "3", "2", "1200", "3;w=3600", "")
	wantHeaders(t, n.ping(c, key, "", 200), "3", "1", "2400", "3;w=3600", "")
	wantHeaders(t, n.ping(c, key, "", 200), "3", "0", "3600", "3;w=3600", "")
	wantHeaders(t, n.ping(c, key, "", 429), "3", "0", "3600", "3;w=3600", "1200")
	if v := n.metric(`skybridge_rate_limited_total{scope="client"}`); v != 1 {
		t.Fatalf("skybridge_rate_limited_total{scope=client} = %v, want 1", v)
	}
	// Routes outside the keyed group are not limited.
	n.json(request{method: "GET", path: "/v1/openapi.json"}, 200, nil)
}

// TestRateLimitScopes: two addresses and two users have a client budget
// each, while the environment's budget is shared; another environment
// has its own; server calls count against the environment only.
func TestRateLimitScopes(t *testing.T) {
	t.Parallel()
	n := newRateNode(t, Config{RateLimitClient: ratelimit.Policy{Limit: 4, Period: time.Hour}, RateLimitEnv: ratelimit.Policy{Limit: 10, Period: time.Hour}}, nil, nil)
	app := n.createApp(n.login(), "Scoped")
	key, _ := app.keys(t, "dev")
	ipA, ipB, ipC := from("127.0.0.1"), from("127.0.0.2"), from("127.0.0.3")
	u1 := n.signupFrom(ipC, key, "one@example.com") // env 1, ipC 1
	u2 := n.signupFrom(ipC, key, "two@example.com") // env 2, ipC 2
	for range 4 {
		n.ping(ipA, key, "", 200) // env 6
	}
	n.ping(ipA, key, "", 429) // the address's budget; the environment's is not touched
	n.ping(ipA, key, u1, 200) // a user is its own client, from any address
	n.ping(ipA, key, u1, 200) // env 8
	n.ping(ipB, key, "", 200)
	resp := n.ping(ipA, key, u2, 200) // env 10: both budgets shown, the environment's is tighter
	wantHeaders(t, resp, "10", "0", "3600", "10;w=3600", "")
	resp = n.ping(ipB, key, "", 429) // the environment is used up for everyone
	wantHeaders(t, resp, "10", "0", "3600", "10;w=3600", "360")
	n.ping(ipA, key, u2, 429)
	stageKey, stageServer := app.keys(t, "stage")
	n.ping(ipA, stageKey, "", 200)
	if got := [2]float64{n.metric(`skybridge_rate_limited_total{scope="client"}`), n.metric(`skybridge_rate_limited_total{scope="environment"}`)}; got != [2]float64{1, 2} {
		t.Fatalf("limited client, environment = %v, want [1 2]", got)
	}
	// A trusted server is not limited per address: 5 calls pass where the
	// address allows 4 (stage: 1 used above).
	for range 5 {
		resp, body := n.call(ipA, "GET", "/v1/ping", nil, map[string]string{AppKeyHeader: stageKey, ServerKeyHeader: stageServer})
		if resp.StatusCode != 200 {
			t.Fatalf("server call: %d %s", resp.StatusCode, body)
		}
	}
}

// rateLimitsPath is the admin route of an environment's rate limits.
func rateLimitsPath(appID, env string) string {
	return "/admin/api/apps/" + appID + "/environments/" + env + "/rate-limits"
}

func TestRateLimitOverride(t *testing.T) {
	t.Parallel()
	n := newRateNode(t, Config{RateLimitClient: ratelimit.Policy{Limit: 2, Period: time.Hour}, RateLimitEnv: ratelimit.Off}, nil, nil)
	tok := n.login()
	app := n.createApp(tok, "Overridden")
	key, _ := app.keys(t, "dev")
	c := from("127.0.0.1")
	path := rateLimitsPath(app.ID, "dev")

	var got rateLimitsJSON
	n.json(request{method: "GET", path: path, headers: bearer(tok)}, 200, &got)
	if *got.Environment != (policyJSON{Off: true, Default: true}) || *got.Client != (policyJSON{Limit: 2, Period: "1h", Burst: 2, Default: true}) {
		t.Fatalf("defaults: %+v %+v", got.Environment, got.Client)
	}
	// Headers come from the client policy only: the environment's is off.
	wantHeaders(t, n.ping(c, key, "", 200), "2", "1", "1800", "2;w=3600", "")

	got = rateLimitsJSON{}
	n.json(request{method: "PUT", path: path, headers: bearer(tok), body: map[string]any{
		"client":      map[string]any{"limit": 5, "period": "1h", "burst": 10},
		"environment": map[string]any{"limit": 100, "period": "1m"},
	}}, 200, &got)
	if *got.Environment != (policyJSON{Limit: 100, Period: "1m", Burst: 100}) || *got.Client != (policyJSON{Limit: 5, Period: "1h", Burst: 10}) {
		t.Fatalf("after PUT: %+v %+v", got.Environment, got.Client)
	}
	// The node that wrote the change applies it at once.
	resp := n.ping(c, key, "", 200)
	if resp.Header.Get("RateLimit-Policy") != "5;w=3600;burst=10" || resp.Header.Get("RateLimit-Limit") != "10" {
		t.Fatalf("after the override: policy %q limit %q", resp.Header.Get("RateLimit-Policy"), resp.Header.Get("RateLimit-Limit"))
	}
	// Other environments keep the defaults.
	otherKey, _ := app.keys(t, "prod")
	wantHeaders(t, n.ping(c, otherKey, "", 200), "2", "1", "1800", "2;w=3600", "")

	// A GET answer put back changes nothing; off turns a scope off.
	var before rateLimitsJSON
	n.json(request{method: "GET", path: path, headers: bearer(tok)}, 200, &before)
	got = rateLimitsJSON{}
	n.json(request{method: "PUT", path: path, headers: bearer(tok), body: before}, 200, &got)
	if *got.Client != *before.Client || *got.Environment != *before.Environment {
		t.Fatalf("round trip: %+v → %+v", before, got)
	}
	n.json(request{method: "PUT", path: path, headers: bearer(tok), body: map[string]any{"client": map[string]any{"off": true}, "environment": map[string]any{"off": true}}}, 200, nil)
	for range 5 {
		if resp := n.ping(c, key, "", 200); resp.Header.Get("RateLimit-Limit") != "" {
			t.Fatalf("no policy, yet RateLimit-Limit %q", resp.Header.Get("RateLimit-Limit"))
		}
	}
	// An empty body resets both scopes to the defaults.
	got = rateLimitsJSON{}
	n.json(request{method: "PUT", path: path, headers: bearer(tok), body: map[string]any{}}, 200, &got)
	if !got.Client.Default || !got.Environment.Default {
		t.Fatalf("after reset: %+v %+v", got.Client, got.Environment)
	}
	n.json(request{method: "GET", path: rateLimitsPath(app.ID, "nope"), headers: bearer(tok)}, 404, nil)
	n.json(request{method: "PUT", path: rateLimitsPath("nope", "dev"), headers: bearer(tok), body: map[string]any{}}, 404, nil)
	n.json(request{method: "GET", path: path}, 401, nil)
}

func TestRateLimitAdminValidation(t *testing.T) {
	t.Parallel()
	n := newRateNode(t, Config{}, nil, nil)
	tok := n.login()
	app := n.createApp(tok, "Validated")
	path := rateLimitsPath(app.ID, "dev")
	cases := []struct {
		body   string
		fields []string
	}{
		{`{"environment": {"limit": 0, "period": "1m"}}`, []string{"environment.limit"}},
		{`{"environment": {"limit": 10, "period": "forever"}}`, []string{"environment.period"}},
		{`{"client": {"limit": 10}}`, []string{"client.period"}},
		{`{"client": {"limit": 10, "period": "1m", "burst": -1}}`, []string{"client.burst"}},
		{`{"client": {"limit": 10, "period": "1m", "burst": 101}}`, []string{"client.burst"}},
		{`{"client": {"off": true, "limit": 10}}`, []string{"client.off"}},
		{`{"environment": {"limit": 2000000, "period": "1s"}}`, []string{"environment.limit"}},
		{`{"environment": {"limit": -5, "period": "48h"}, "client": {"period": "1m"}}`, []string{"environment.limit", "environment.period", "client.limit"}},
		{`{"environment": {"limit": "many", "period": "1m"}}`, []string{"environment.limit"}},
		{`{"environment": {"limit": 1.5, "period": "1m"}}`, []string{"environment.limit"}},
		{`{"environment": {"limit": 10, "period": "1m", "window": 3}}`, []string{"window"}},
	}
	for _, tc := range cases {
		resp := n.do(request{method: "PUT", path: path, headers: bearer(tok), body: tc.body})
		p, err := readProblem(resp, 400)
		if err != nil {
			t.Fatalf("%s: %v", tc.body, err)
		}
		var fields []string
		for _, fe := range p.Errors {
			fields = append(fields, fe.Field)
		}
		if strings.Join(fields, ",") != strings.Join(tc.fields, ",") {
			t.Errorf("%s: fields %v, want %v (%s)", tc.body, fields, tc.fields, p.Detail)
		}
	}
	// Nothing was stored.
	var got rateLimitsJSON
	n.json(request{method: "GET", path: path, headers: bearer(tok)}, 200, &got)
	if !got.Environment.Default || !got.Client.Default {
		t.Fatalf("a refused PUT changed the policies: %+v %+v", got.Environment, got.Client)
	}
}

// TestRateLimitRedisSharedByNodes: two nodes of one deployment, each with
// its own Redis client, share the budgets on the real redis-server.
func TestRateLimitRedisSharedByNodes(t *testing.T) {
	t.Parallel()
	srv, err := testenv.SharedRedis()
	if err != nil {
		t.Fatal(err)
	}
	prefix := "test:" + rand.Text() + ":"
	limiter := func() RateLimiter {
		opts, err := redis.ParseURL(srv.URL(0))
		if err != nil {
			t.Fatal(err)
		}
		c := redis.NewClient(opts)
		t.Cleanup(func() { _ = c.Close() })
		return ratelimit.NewRedis(c, ratelimit.RedisConfig{Prefix: prefix})
	}
	cfg := Config{RateLimitClient: ratelimit.Policy{Limit: 3, Period: time.Hour}, RateLimitEnv: ratelimit.Policy{Limit: 1000, Period: time.Hour}}
	n1 := newRateNode(t, cfg, limiter(), nil)
	n2 := newRateNode(t, cfg, limiter(), n1)
	var n2skew atomic.Int64
	n2.api.rates.policies.now = func() time.Time { return time.Now().Add(time.Duration(n2skew.Load())) }
	app := n1.createApp(n1.login(), "Shared")
	key, _ := app.keys(t, "dev")
	c := from("127.0.0.1")
	n1.ping(c, key, "", 200)
	n2.ping(c, key, "", 200)
	wantHeaders(t, n1.ping(c, key, "", 200), "3", "0", "3600", "3;w=3600", "")
	resp := n2.ping(c, key, "", 429)
	if ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")); ra < 1100 || ra > 1200 {
		t.Fatalf("Retry-After %q, want about 1200", resp.Header.Get("Retry-After"))
	}
	// An override applies on the node that wrote it at once, on the others
	// once their cached copy expires (10s; n2's clock is moved instead). A
	// key's state carries over: its bucket is as empty under the new
	// policy as under the old, and refills at the new rate.
	tok := n1.login()
	n1.json(request{method: "PUT", path: rateLimitsPath(app.ID, "dev"), headers: bearer(tok), body: map[string]any{"client": map[string]any{"limit": 100, "period": "1h"}}}, 200, nil)
	resp = n1.ping(c, key, "", 429)
	wantHeaders(t, resp, "100", "0", "3600", "100;w=3600", "36")
	if resp = n2.ping(c, key, "", 429); resp.Header.Get("RateLimit-Policy") != "3;w=3600" {
		t.Fatalf("n2 applied the override before its cache expired: %q", resp.Header.Get("RateLimit-Policy"))
	}
	n2skew.Store(int64(11 * time.Second))
	wantHeaders(t, n2.ping(c, key, "", 429), "100", "0", "3600", "100;w=3600", "36")
}

// TestRateLimitFailsOpen: with the limiter's Redis down, requests pass
// unlimited, the failure is counted, and the log is not flooded.
func TestRateLimitFailsOpen(t *testing.T) {
	t.Parallel()
	port, err := testenv.FreePort() // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port), MaxRetries: -1, DialTimeout: 500 * time.Millisecond})
	t.Cleanup(func() { _ = c.Close() })
	n := newRateNode(t, Config{RateLimitClient: ratelimit.Policy{Limit: 1, Period: time.Hour}}, ratelimit.NewRedis(c, ratelimit.RedisConfig{}), nil)
	app := n.createApp(n.login(), "Open")
	key, _ := app.keys(t, "dev")
	for range 5 {
		if resp := n.ping(from("127.0.0.1"), key, "", 200); resp.Header.Get("RateLimit-Limit") != "" {
			t.Fatal("headers from a failed limiter")
		}
	}
	// The first failure makes the next second's requests pass without
	// asking; how many seconds the five took is up to the machine.
	if v := n.metric("skybridge_rate_limit_errors_total"); v < 1 || v > 10 {
		t.Fatalf("skybridge_rate_limit_errors_total = %v, want 1 to 10", v)
	}
	if recs := n.log.records(t, "rate limit unavailable; letting requests through"); len(recs) != 1 {
		t.Fatalf("%d failure log lines, want 1", len(recs))
	}
}

func TestRateLimitConfig(t *testing.T) {
	t.Parallel()
	c := Config{}.withDefaults()
	if c.RateLimitEnv != DefaultRateLimitEnv || c.RateLimitClient != DefaultRateLimitClient ||
		DefaultRateLimitEnv.String() != "6000/1m" || DefaultRateLimitClient.String() != "600/1m" {
		t.Fatalf("defaults %v %v", c.RateLimitEnv, c.RateLimitClient)
	}
	if c := (Config{RateLimitEnv: ratelimit.Off}).withDefaults(); !c.RateLimitEnv.Disabled() {
		t.Fatal("off became the default")
	}
	for _, bad := range []Config{
		{RateLimitEnv: ratelimit.Policy{Limit: 5}},
		{RateLimitClient: ratelimit.Policy{Limit: 5, Period: time.Second, Burst: 100}},
	} {
		if err := bad.validate(); err == nil || !strings.Contains(err.Error(), "RateLimit") {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}
