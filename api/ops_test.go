package api

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/store"
	"github.com/skybridgehq/skybridge/store/sqlite"
)

func TestHealthz(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	// Liveness never touches the store: it answers with the store closed.
	if err := e.store.Close(); err != nil {
		t.Fatal(err)
	}
	var out map[string]string
	e.json(request{method: "GET", path: "/healthz"}, 200, &out)
	if out["status"] != "ok" || len(out) != 1 {
		t.Errorf("healthz = %v", out)
	}
	resp := e.do(request{method: "HEAD", path: "/healthz"})
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("HEAD /healthz: %d", resp.StatusCode)
	}
}

// readyAnswer mirrors the /readyz answer.
type readyAnswer struct {
	Status     string `json:"status"`
	Components map[string]struct {
		Kind     string `json:"kind"`
		Status   string `json:"status"`
		Required bool   `json:"required"`
	} `json:"components"`
}

func TestReadyz(t *testing.T) {
	t.Parallel()
	// The store check pings a provider the test can close and replace,
	// as a restarted database would be; the cache check is optional.
	dir := t.TempDir()
	openProvider := func() store.Provider {
		p, err := sqlite.Open(sqlite.Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	var checked atomic.Pointer[store.Provider]
	first := openProvider()
	checked.Store(&first)
	t.Cleanup(func() { _ = (*checked.Load()).Close() })
	var cacheDown atomic.Bool
	e := newTestEnv(t, envOptions{checks: func(store.Provider) []Check {
		return []Check{
			{Name: "store", Kind: first.Kind(), Required: true, Ping: func(ctx context.Context) error { return (*checked.Load()).Ping(ctx) }},
			{Name: "cache", Kind: "memory", Ping: func(context.Context) error {
				if cacheDown.Load() {
					return errors.New("cache unreachable")
				}
				return nil
			}},
		}
	}})
	ready := func(status int, want string) readyAnswer {
		t.Helper()
		var out readyAnswer
		e.json(request{method: "GET", path: "/readyz"}, status, &out)
		if out.Status != want {
			t.Fatalf("readyz status %q, want %q", out.Status, want)
		}
		return out
	}

	out := ready(200, "ok")
	if c := out.Components["store"]; c.Kind != "sqlite" || c.Status != "ok" || !c.Required {
		t.Errorf("store component %+v", c)
	}
	if c := out.Components["cache"]; c.Kind != "memory" || c.Status != "ok" || c.Required {
		t.Errorf("cache component %+v", c)
	}

	cacheDown.Store(true)
	out = ready(200, "degraded")
	if out.Components["cache"].Status != "unavailable" || out.Components["store"].Status != "ok" {
		t.Errorf("degraded components %+v", out.Components)
	}
	cacheDown.Store(false)

	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	out = ready(503, "unavailable")
	if out.Components["store"].Status != "unavailable" {
		t.Errorf("store component after Close: %+v", out.Components["store"])
	}
	if !strings.Contains(e.log.String(), "readiness check failed") {
		t.Error("a failed check is not logged")
	}

	reopened := openProvider()
	checked.Store(&reopened)
	ready(200, "ok")
}

func TestReadyzHonoursTimeout(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{cfg: Config{ReadyTimeout: 50 * time.Millisecond}, checks: func(p store.Provider) []Check {
		// The store answers at once here: on a loaded machine its real
		// ping may take longer than the 50ms under test, which is about
		// the check that hangs.
		return []Check{
			{Name: "store", Kind: p.Kind(), Required: true, Ping: func(context.Context) error { return nil }},
			{Name: "broker", Kind: "mqtt", Ping: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }},
		}
	}})
	start := time.Now()
	var out readyAnswer
	e.json(request{method: "GET", path: "/readyz"}, 200, &out)
	if out.Status != "degraded" || out.Components["broker"].Status != "unavailable" {
		t.Errorf("a hanging optional check: %+v", out)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("readyz took %v with a 50ms check timeout", d)
	}
}

func TestMetricsEndpoint(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	for range 2 {
		e.json(request{method: "GET", path: "/readyz"}, 200, nil)
	}
	tok := e.login()
	e.createApp(tok, "Metered")
	checkProblem(t, e.do(request{method: "GET", path: "/admin/api/apps/missing", headers: bearer(tok)}), 404)
	checkProblem(t, e.do(request{method: "GET", path: "/wp-login.php"}), 404)

	resp := e.do(request{method: "GET", path: "/metrics"})
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	text := string(body)
	for _, want := range []string{
		`skybridge_http_requests_total{method="GET",route="/readyz",status="200"} 2`,
		`skybridge_http_requests_total{method="POST",route="/admin/api/login",status="200"} 1`,
		`skybridge_http_requests_total{method="POST",route="/admin/api/apps",status="201"} 1`,
		`skybridge_http_requests_total{method="GET",route="/admin/api/apps/{id}",status="404"} 1`,
		`skybridge_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`skybridge_http_request_duration_seconds_bucket{method="GET",route="/readyz",le="+Inf"} 2`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(text, "wp-login") || strings.Contains(text, "/missing") {
		t.Error("a raw path became a label")
	}
	// The default registry carries the Go runtime and process collectors.
	a, err := New(Deps{Auth: e.auth, Store: e.store}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	families, err := a.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range families {
		names[f.GetName()] = true
	}
	if !names["go_goroutines"] || !names["process_cpu_seconds_total"] {
		t.Errorf("default registry lacks Go or process metrics: %v", names)
	}
}

func TestPanicEndToEnd(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{routes: func(a *API) {
		a.router.Get("/test/panic", func(http.ResponseWriter, *http.Request) { panic("handler bug") })
	}})
	resp := e.do(request{method: "GET", path: "/test/panic", headers: map[string]string{RequestIDHeader: "panic-1"}})
	p := checkProblem(t, resp, 500)
	if p.Instance != "panic-1" {
		t.Errorf("instance %q", p.Instance)
	}
	// The server keeps serving.
	e.json(request{method: "GET", path: "/healthz"}, 200, nil)
	recs := e.log.records(t, "handler panic")
	if len(recs) != 1 || recs[0]["requestId"] != "panic-1" || !strings.Contains(recs[0]["stack"].(string), "ops_test.go") {
		t.Errorf("panic log %v", recs)
	}
	var access map[string]any
	for _, r := range e.log.records(t, "http request") {
		if r["requestId"] == "panic-1" {
			access = r
		}
	}
	if access == nil || access["status"] != float64(500) || access["route"] != "/test/panic" {
		t.Errorf("access log of the panic: %v", access)
	}
}

func TestTimeoutEndToEnd(t *testing.T) {
	t.Parallel()
	// Long enough for the login and app creation that set the test up on
	// a loaded machine; the slow route waits it out.
	e := newTestEnv(t, envOptions{cfg: Config{RequestTimeout: 2 * time.Second}, routes: func(a *API) {
		a.keyed.Get("/test/slow", func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		})
	}})
	tok := e.login()
	devKey, _ := e.createApp(tok, "Slow").keys(t, "dev")
	checkProblem(t, e.do(request{method: "GET", path: "/v1/test/slow", headers: keyHeaders(devKey)}), http.StatusGatewayTimeout)
}

func TestRequestIDEndToEnd(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	for _, tt := range []struct {
		path, sent string
		status     int
	}{
		{"/healthz", "client-chosen-1", 200},
		{"/v1/anything", "client-chosen-2", 401},
		{"/healthz", "bad id with spaces", 200},
		{"/nope", "", 404},
	} {
		h := map[string]string{}
		if tt.sent != "" {
			h[RequestIDHeader] = tt.sent
		}
		resp := e.do(request{method: "GET", path: tt.path, headers: h})
		got := resp.Header.Get(RequestIDHeader)
		if tt.status >= 400 {
			checkProblem(t, resp, tt.status) // instance == X-Request-Id
		} else {
			resp.Body.Close()
		}
		if got == "" || validRequestID(tt.sent) != (got == tt.sent) {
			t.Errorf("%s with %q: X-Request-Id %q", tt.path, tt.sent, got)
		}
	}
}

func TestBodyLimitEndToEnd(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{cfg: Config{MaxBodyBytes: 4096}})
	tok := e.login()
	big := `{"name":"` + strings.Repeat("x", 5000) + `"}`
	checkProblem(t, e.do(request{method: "POST", path: "/admin/api/apps", body: big, headers: bearer(tok)}), http.StatusRequestEntityTooLarge)
	checkProblem(t, e.do(request{method: "POST", path: "/admin/api/login", body: big}), http.StatusRequestEntityTooLarge)
	// The default limit is 2 MiB.
	d := newTestEnv(t, envOptions{})
	huge := `{"name":"` + strings.Repeat("x", 2<<20) + `"}`
	checkProblem(t, d.do(request{method: "POST", path: "/admin/api/login", body: huge}), http.StatusRequestEntityTooLarge)
}

func TestCORSEndToEnd(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{cfg: Config{CORSOrigins: []string{"https://app.example.com"}}})
	resp := e.do(request{method: "OPTIONS", path: "/v1/collections/todos/objects", headers: map[string]string{
		"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST",
		"Access-Control-Request-Headers": "x-skybridge-key, content-type, if-match",
	}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), AppKeyHeader) {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	// An actual call carries the CORS headers, problems included.
	resp = e.do(request{method: "GET", path: "/v1/anything", headers: map[string]string{"Origin": "https://app.example.com"}})
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), RequestIDHeader) {
		t.Errorf("CORS headers on a 401: %v", resp.Header)
	}
	checkProblem(t, resp, 401)
	// Without configured origins there are no CORS headers.
	d := newTestEnv(t, envOptions{})
	resp = d.do(request{method: "GET", path: "/healthz", headers: map[string]string{"Origin": "https://app.example.com"}})
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "" || strings.Contains(resp.Header.Get("Vary"), "Origin") {
		t.Errorf("CORS headers without configured origins: %v", resp.Header)
	}
}

func TestGzipEndToEnd(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	// A small answer (a problem) goes out plain; the OpenAPI document is
	// gzipped.
	resp := e.do(request{method: "GET", path: "/nope", headers: map[string]string{"Accept-Encoding": "gzip"}})
	if ce := resp.Header.Get("Content-Encoding"); ce != "" {
		t.Fatalf("small problem: Content-Encoding %q", ce)
	}
	checkProblem(t, resp, 404)
	for _, path := range []string{"/v1/openapi.json"} {
		resp := e.do(request{method: "GET", path: path, headers: map[string]string{"Accept-Encoding": "gzip"}})
		if resp.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("%s: Content-Encoding %q", path, resp.Header.Get("Content-Encoding"))
		}
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := json.NewDecoder(zr).Decode(&v); err != nil {
			t.Errorf("%s: gzipped body is not JSON: %v", path, err)
		}
		resp.Body.Close()
	}
}

// BenchmarkHealthz measures the whole middleware stack around the
// cheapest handler, without the network.
func BenchmarkHealthz(b *testing.B) {
	e := newTestEnv(b, envOptions{})
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		e.api.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}
