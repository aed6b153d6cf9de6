package api

import (
	"bytes"
	"encoding/json"
	skysync "github.com/skybridgehq/skybridge/sync"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skybridgehq/skybridge/analytics"
	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/cache"
	"github.com/skybridgehq/skybridge/internal/testenv/teststore"
	"github.com/skybridgehq/skybridge/iotbridge"
	"github.com/skybridgehq/skybridge/keyring"
	"github.com/skybridgehq/skybridge/objectstore"
	"github.com/skybridgehq/skybridge/orchestration/deploy"
	"github.com/skybridgehq/skybridge/orchestration/deploy/deploytest"
	"github.com/skybridgehq/skybridge/store"
)

// Test admin credentials.
const (
	testAdminEmail    = "owner@example.com"
	testAdminPassword = "correct horse battery staple"
)

// testEnv is a real API over a real auth service and SQLite store, served
// by an httptest server.
type testEnv struct {
	t     testing.TB
	api   *API
	srv   *httptest.Server
	auth  *auth.Service
	store store.Provider
	reg   *prometheus.Registry
	log   *logBuffer
	// deployments serves the flow environments, building with flows.
	deployments *deploy.Service
	flows       *deploytest.Builder
}

// envOptions adjust a testEnv.
type envOptions struct {
	cfg    Config
	checks func(p store.Provider) []Check
	// routes adds test-only routes before the server starts.
	routes func(a *API)
	// analytics configures the analytics service (its clock, limits).
	analytics analytics.Config
}

// newTestEnv opens a SQLite store in a temporary directory, creates the
// auth service's indexes and one owner admin, builds the API and serves it.
func newTestEnv(t testing.TB, opts envOptions) *testEnv {
	t.Helper()
	ctx := t.Context()
	p := teststore.SQLite(t)
	sys, err := p.DB(ctx, store.SystemDB)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.EnsureIndexes(ctx, sys, auth.SystemIndexes()); err != nil {
		t.Fatal(err)
	}
	if err := store.EnsureIndexes(ctx, sys, deploy.Indexes()); err != nil {
		t.Fatal(err)
	}
	kr, _, err := keyring.Generate()
	if err != nil {
		t.Fatal(err)
	}
	log, buf := newTestLogger()
	svc := auth.NewService(sys, kr, auth.Config{
		Password: auth.PasswordParams{Memory: 1024, Time: 1, Threads: 1}, // cheap hashes for tests
		Logger:   log,
	})
	if _, err := svc.CreateAdmin(ctx, testAdminEmail, testAdminPassword, auth.RoleOwner); err != nil {
		t.Fatal(err)
	}
	checks := []Check{{Name: "store", Kind: p.Kind(), Required: true, Ping: p.Ping}}
	if opts.checks != nil {
		checks = opts.checks(p)
	}
	reg := prometheus.NewRegistry()
	objs := objectstore.NewService(p, objectstore.Config{Logger: log})
	flows := &deploytest.Builder{}
	deployments := deploy.NewService(sys, kr, flows, deploy.Config{Logger: log})
	t.Cleanup(func() { _ = deployments.Close() })
	devices, err := iotbridge.NewService(ctx, p, nil, iotbridge.Config{SecretKey: kr.Derive("iotbridge-test"), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(devices.Close)
	a, err := New(Deps{Auth: svc, Store: p, Objects: objs, Deployments: deployments, Devices: devices, Sync: skysync.NewService(objs, p, skysync.Config{}), Checks: checks, Logger: log, Registry: reg, Version: "test", Cache: cache.NewMemory(cache.MemoryConfig{}), Analytics: analytics.NewService(p, opts.analytics)}, opts.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if opts.routes != nil {
		opts.routes(a)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return &testEnv{t: t, api: a, srv: srv, auth: svc, store: p, reg: reg, log: buf, deployments: deployments, flows: flows}
}

// request is one HTTP call of a test.
type request struct {
	method, path string
	// body is sent as is when it is a string or []byte, else as JSON.
	body    any
	headers map[string]string
}

// do sends req; a JSON body gets Content-Type application/json unless
// headers say otherwise.
func (e *testEnv) do(req request) *http.Response {
	e.t.Helper()
	var rd io.Reader
	ctype := ""
	switch b := req.body.(type) {
	case nil:
	case string:
		rd, ctype = strings.NewReader(b), "application/json"
	case []byte:
		rd, ctype = bytes.NewReader(b), "application/json"
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd, ctype = bytes.NewReader(data), "application/json"
	}
	hr, err := http.NewRequestWithContext(e.t.Context(), req.method, e.srv.URL+req.path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if ctype != "" {
		hr.Header.Set("Content-Type", ctype)
	}
	for k, v := range req.headers {
		hr.Header.Set(k, v)
	}
	resp, err := e.srv.Client().Do(hr)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.method, req.path, err)
	}
	return resp
}

// json sends req, expects status and decodes the answer into out (when
// not nil).
func (e *testEnv) json(req request, status int, out any) {
	e.t.Helper()
	resp := e.do(req)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	if resp.StatusCode != status {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", req.method, req.path, resp.StatusCode, status, body)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			e.t.Fatalf("%s %s: decode %s: %v", req.method, req.path, body, err)
		}
	}
}

// login returns an admin token for the test owner.
func (e *testEnv) login() string {
	e.t.Helper()
	var out struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expiresAt"`
	}
	e.json(request{method: "POST", path: "/admin/api/login", body: map[string]string{"email": testAdminEmail, "password": testAdminPassword}}, 200, &out)
	if out.Token == "" || !out.ExpiresAt.After(time.Now()) {
		e.t.Fatalf("login answered %+v", out)
	}
	return out.Token
}

// bearer is the Authorization header of an admin token.
func bearer(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

// createdApp mirrors the POST /admin/api/apps answer.
type createdApp struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	CreatedAt    time.Time `json:"createdAt"`
	Environments []struct {
		Name      string `json:"name"`
		AppKey    string `json:"appKey"`
		ServerKey string `json:"serverKey"`
	} `json:"environments"`
}

// createApp creates an app over HTTP.
func (e *testEnv) createApp(token, name string) createdApp {
	e.t.Helper()
	var app createdApp
	e.json(request{method: "POST", path: "/admin/api/apps", body: map[string]string{"name": name}, headers: bearer(token)}, http.StatusCreated, &app)
	return app
}

// keys returns the app and server keys of environment env of app.
func (app createdApp) keys(t testing.TB, env string) (appKey, serverKey string) {
	t.Helper()
	for _, e := range app.Environments {
		if e.Name == env {
			return e.AppKey, e.ServerKey
		}
	}
	t.Fatalf("app %s has no environment %s", app.ID, env)
	return "", ""
}
