package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	gosync "sync"
	"testing"

	"github.com/skybridgehq/skybridge/internal/testenv"
	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopShared()
	testenv.CleanBinary()
	os.Exit(code)
}

// logBuffer collects a node's logs, to check that no secret reaches them.
type logBuffer struct {
	mu  gosync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// env is one node with an app, its environments' keys, an admin token,
// and every response body seen (to check none carries a secret).
type env struct {
	t     *testing.T
	srv   *testnode.Server
	app   testnode.App
	keys  map[string]testnode.EnvKeys
	admin map[string]string
	logs  *logBuffer
	mu    gosync.Mutex
	seen  []string
}

func start(t *testing.T) *env { t.Helper(); return startOn(t, "sqlite") }

// startOn starts the node on store kind ("sqlite" or "ferretdb").
func startOn(t *testing.T, kind string) *env {
	t.Helper()
	logs := &logBuffer{}
	srv := testnode.Start(t, testnode.Options{Store: kind, Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	app := srv.CreateApp(t, "flows")
	e := &env{t: t, srv: srv, app: app, keys: map[string]testnode.EnvKeys{}, logs: logs,
		admin: map[string]string{"Authorization": "Bearer " + srv.AdminToken(t)}}
	for _, name := range []string{"dev", "stage", "prod"} {
		e.keys[name] = app.Env(t, name)
	}
	return e
}

// peer starts another node on e's store (FerretDB), serving e's app.
func (e *env) peer() *env {
	e.t.Helper()
	logs := &logBuffer{}
	srv := testnode.Start(e.t, testnode.Options{Store: "ferretdb", Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	return &env{t: e.t, srv: srv, app: e.app, keys: e.keys, admin: e.admin, logs: logs}
}

func (e *env) note(b []byte) {
	e.mu.Lock()
	e.seen = append(e.seen, string(b))
	e.mu.Unlock()
}

// adminDo calls an admin route of the app's environment envName.
func (e *env) adminDo(method, envName, path string, body any) (int, map[string]any) {
	e.t.Helper()
	resp, b := e.srv.Do(e.t, method, "/admin/api/apps/"+e.app.ID+"/environments/"+envName+path, body, e.admin)
	e.note(b)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

// vars sets the variables of envName.
func (e *env) vars(envName string, v map[string]any) {
	e.t.Helper()
	if st, out := e.adminDo(http.MethodPut, envName, "/variables", v); st != http.StatusOK {
		e.t.Fatalf("variables of %s: %d %v", envName, st, out)
	}
}

// secret sets a secret of envName.
func (e *env) secret(envName, name, value string) {
	e.t.Helper()
	if st, out := e.adminDo(http.MethodPut, envName, "/secrets/"+name, map[string]string{"value": value}); st/100 != 2 {
		e.t.Fatalf("secret %s of %s: %d %v", name, envName, st, out)
	}
}

// deploy deploys files to envName and returns the new version.
func (e *env) deploy(envName string, files map[string]string) int {
	e.t.Helper()
	st, out := e.adminDo(http.MethodPost, envName, "/deployments", map[string]any{"files": files})
	if st != http.StatusCreated {
		e.t.Fatalf("deploy to %s: %d %v", envName, st, out)
	}
	return int(out["version"].(float64))
}

// flow runs flow name in envName with the query q and extra headers,
// returning the status, the decoded body and the response.
func (e *env) flow(envName, name, q string, headers map[string]string) (int, map[string]any, *http.Response) {
	e.t.Helper()
	st, out, resp, err := e.tryFlow(envName, name, q, headers)
	if err != nil {
		e.t.Fatal(err)
	}
	return st, out, resp
}

// tryFlow is flow for other goroutines than the test's.
func (e *env) tryFlow(envName, name, q string, headers map[string]string) (int, map[string]any, *http.Response, error) {
	h := map[string]string{"X-Skybridge-Key": e.keys[envName].AppKey}
	for k, v := range headers {
		h[k] = v
	}
	path := "/v1/flows/" + name
	if q != "" {
		path += "?" + q
	}
	resp, b, err := e.srv.TryDo(http.MethodGet, path, nil, h)
	if err != nil {
		return 0, nil, nil, err
	}
	e.note(b)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return resp.StatusCode, nil, resp, fmt.Errorf("flow %s: %d %s: %v", name, resp.StatusCode, b, err)
	}
	return resp.StatusCode, out, resp, nil
}

// assertNoSecret fails if value appears in any response seen or in the
// node's logs.
func (e *env) assertNoSecret(value string) {
	e.t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, b := range e.seen {
		if strings.Contains(b, value) {
			e.t.Fatalf("a response carries the secret: %s", b)
		}
	}
	if strings.Contains(e.logs.String(), value) {
		e.t.Fatal("the logs carry the secret")
	}
}

// upstream is a local REST server standing in for an enterprise system;
// it counts the requests each path gets.
type upstream struct {
	*httptest.Server
	mu   gosync.Mutex
	hits map[string]int
}

func newUpstream(t *testing.T, routes map[string]http.HandlerFunc) *upstream {
	t.Helper()
	u := &upstream{hits: map[string]int{}}
	mux := http.NewServeMux()
	for pattern, h := range routes {
		path := pattern
		if i := strings.IndexByte(pattern, ' '); i >= 0 {
			path = pattern[i+1:]
		}
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			u.mu.Lock()
			u.hits[path]++
			u.mu.Unlock()
			h(w, r)
		})
	}
	u.Server = httptest.NewServer(mux)
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) count(path string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.hits[path]
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func jsonInto(b []byte, v any) error { return json.Unmarshal(b, v) }

func urlEscape(s string) string { return url.QueryEscape(s) }
