package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/skybridgehq/skybridge/internal/server"
	"github.com/skybridgehq/skybridge/internal/testenv"
	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopShared()
	os.Exit(code)
}

var stores = []string{"sqlite", "ferretdb"}

func decode(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("not JSON: %s", body)
	}
	return m
}

func isProblem(resp *http.Response) bool {
	return strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json")
}

// TestAdminAppsAndKeysEndToEnd walks the foundation's admin and key flows
// over HTTP on each store adapter.
func TestAdminAppsAndKeysEndToEnd(t *testing.T) {
	for _, st := range stores {
		t.Run("store="+st, func(t *testing.T) {
			s := testnode.Start(t, testnode.Options{Store: st})
			tok := s.AdminToken(t)
			admin := map[string]string{"Authorization": "Bearer " + tok}

			// Bad credentials and missing tokens are 401 problems.
			resp, _ := s.Do(t, "POST", "/admin/api/login", map[string]string{"email": testnode.AdminEmail, "password": "wrong-password-123"}, nil)
			if resp.StatusCode != 401 || !isProblem(resp) {
				t.Fatalf("bad login: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			resp, _ = s.Do(t, "GET", "/admin/api/apps", nil, nil)
			if resp.StatusCode != 401 || !isProblem(resp) {
				t.Fatalf("apps without token: %d", resp.StatusCode)
			}

			app := s.CreateApp(t, "demo")
			names := map[string]bool{}
			keys := map[string]bool{}
			for _, e := range app.Environments {
				names[e.Name] = true
				if e.AppKey == "" || e.ServerKey == "" || keys[e.AppKey] || keys[e.ServerKey] {
					t.Fatalf("environment %s keys missing or repeated: %+v", e.Name, e)
				}
				keys[e.AppKey], keys[e.ServerKey] = true, true
			}
			for _, want := range []string{"dev", "stage", "prod"} {
				if !names[want] {
					t.Fatalf("app lacks environment %s", want)
				}
			}
			dev := app.Env(t, "dev")

			resp, body := s.Do(t, "GET", "/admin/api/apps/"+app.ID, nil, admin)
			if resp.StatusCode != 200 || strings.Contains(string(body), dev.ServerKey) || strings.Contains(string(body), "serverKey") {
				t.Fatalf("GET app: %d %s", resp.StatusCode, body)
			}
			resp, body = s.Do(t, "GET", "/admin/api/apps", nil, admin)
			if resp.StatusCode != 200 || !strings.Contains(string(body), app.ID) {
				t.Fatalf("list apps: %d %s", resp.StatusCode, body)
			}

			// Add a qa environment.
			resp, body = s.Do(t, "POST", "/admin/api/apps/"+app.ID+"/environments", map[string]string{"name": "qa"}, admin)
			if resp.StatusCode != 201 || decode(t, body)["appKey"] == nil || decode(t, body)["serverKey"] == nil {
				t.Fatalf("add qa: %d %s", resp.StatusCode, body)
			}
			resp, _ = s.Do(t, "POST", "/admin/api/apps/"+app.ID+"/environments", map[string]string{"name": "qa"}, admin)
			if resp.StatusCode != 409 || !isProblem(resp) {
				t.Fatalf("duplicate qa: %d", resp.StatusCode)
			}

			// The key middleware.
			v1 := func(h map[string]string) int {
				resp, _ := s.Do(t, "GET", "/v1/no-such-route", nil, h)
				if !isProblem(resp) {
					t.Fatalf("/v1 answer is not problem+json: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
				}
				return resp.StatusCode
			}
			if c := v1(nil); c != 401 {
				t.Fatalf("no key: %d", c)
			}
			if c := v1(map[string]string{"X-Skybridge-Key": "sbk_nope"}); c != 401 {
				t.Fatalf("unknown key: %d", c)
			}
			if c := v1(map[string]string{"X-Skybridge-Key": dev.AppKey}); c != 404 {
				t.Fatalf("valid key, unknown route: %d", c)
			}
			if c := v1(map[string]string{"X-Skybridge-Key": dev.AppKey, "X-Skybridge-Server-Key": "sbs_wrong"}); c != 401 {
				t.Fatalf("bad server key: %d", c)
			}
			if c := v1(map[string]string{"X-Skybridge-Key": dev.AppKey, "X-Skybridge-Server-Key": dev.ServerKey}); c != 404 {
				t.Fatalf("good server key: %d", c)
			}
			if c := v1(map[string]string{"X-Skybridge-Key": dev.AppKey, "X-Skybridge-Server-Key": app.Env(t, "prod").ServerKey}); c != 401 {
				t.Fatalf("another environment's server key: %d", c)
			}
			resp, _ = s.Do(t, "GET", "/v1/openapi.json", nil, nil)
			if resp.StatusCode != 200 {
				t.Fatalf("openapi without key: %d", resp.StatusCode)
			}

			// Rotation with a grace period keeps the old key working; without
			// one it is cut at once.
			rot := func(which string, grace int) map[string]any {
				resp, body := s.Do(t, "POST", "/admin/api/apps/"+app.ID+"/environments/dev/keys/rotate",
					map[string]any{"key": which, "graceSeconds": grace}, admin)
				if resp.StatusCode != 200 {
					t.Fatalf("rotate %s: %d %s", which, resp.StatusCode, body)
				}
				return decode(t, body)
			}
			r1 := rot("app", 3600)
			newKey, _ := r1["appKey"].(string)
			if newKey == "" || newKey == dev.AppKey {
				t.Fatalf("rotation answer %v", r1)
			}
			if c := v1(map[string]string{"X-Skybridge-Key": dev.AppKey}); c != 404 {
				t.Fatalf("old key within grace: %d", c)
			}
			if c := v1(map[string]string{"X-Skybridge-Key": newKey}); c != 404 {
				t.Fatalf("new key: %d", c)
			}
			r2 := rot("app", 0)
			newest, _ := r2["appKey"].(string)
			if c := v1(map[string]string{"X-Skybridge-Key": newKey}); c != 401 {
				t.Fatalf("key rotated out with no grace still works: %d", c)
			}
			if c := v1(map[string]string{"X-Skybridge-Key": newest}); c != 404 {
				t.Fatalf("newest key: %d", c)
			}
			r3 := rot("server", 0)
			newServer, _ := r3["serverKey"].(string)
			if c := v1(map[string]string{"X-Skybridge-Key": newest, "X-Skybridge-Server-Key": dev.ServerKey}); c != 401 {
				t.Fatalf("old server key after rotation: %d", c)
			}
			if c := v1(map[string]string{"X-Skybridge-Key": newest, "X-Skybridge-Server-Key": newServer}); c != 404 {
				t.Fatalf("new server key: %d", c)
			}
			resp, _ = s.Do(t, "POST", "/admin/api/apps/"+app.ID+"/environments/dev/keys/rotate", map[string]any{"key": "both"}, admin)
			if resp.StatusCode != 400 || !isProblem(resp) {
				t.Fatalf("rotate bad key kind: %d", resp.StatusCode)
			}
		})
	}
}

func TestReadyzNamesStoreAndCacheKinds(t *testing.T) {
	cases := []struct {
		opts       testnode.Options
		store, chc string
	}{
		{testnode.Options{}, "sqlite", "memory"},
		{testnode.Options{Store: "ferretdb", Redis: true}, "mongo", "redis"},
	}
	for _, tc := range cases {
		t.Run(tc.store+"+"+tc.chc, func(t *testing.T) {
			s := testnode.Start(t, tc.opts)
			resp, body := s.Do(t, "GET", "/readyz", nil, nil)
			if resp.StatusCode != 200 {
				t.Fatalf("readyz %d %s", resp.StatusCode, body)
			}
			var r struct {
				Status     string
				Components map[string]struct{ Kind, Status string }
			}
			if err := json.Unmarshal(body, &r); err != nil {
				t.Fatal(err)
			}
			if r.Components["store"].Kind != tc.store || r.Components["cache"].Kind != tc.chc || r.Status != "ok" {
				t.Fatalf("readyz: %s", body)
			}
		})
	}
}

func TestReadyzDegradedWhenRedisIsDown(t *testing.T) {
	r, err := testenv.StartRedis()
	if err != nil {
		t.Fatal(err)
	}
	s := testnode.Start(t, testnode.Options{Configure: func(c *server.Config) { c.RedisURL = r.URL(0) }})
	r.Stop()
	resp, body := s.Do(t, "GET", "/readyz", nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "degraded") {
		t.Fatalf("readyz with redis down: %d %s", resp.StatusCode, body)
	}
}

// TestRestartKeepsDataAndSecret reopens a node on the same data directory:
// apps, admins and the generated secret key (so tokens) survive.
func TestRestartKeepsDataAndSecret(t *testing.T) {
	dir := t.TempDir()
	cfg := server.DefaultConfig()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.DataDir = dir
	cfg.AdminEmail, cfg.AdminPassword = testnode.AdminEmail, testnode.AdminPassword
	ctx := context.Background()
	n1, err := server.Open(ctx, cfg, nil, server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := n1.Auth.AdminLogin(ctx, testnode.AdminEmail, testnode.AdminPassword)
	if err != nil {
		t.Fatal(err)
	}
	app, err := n1.Auth.CreateApp(ctx, "persist")
	if err != nil {
		t.Fatal(err)
	}
	if err := n1.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	n2, err := server.Open(ctx, cfg, nil, server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Shutdown(ctx)
	if _, err := n2.Auth.VerifyAdminToken(ctx, tok); err != nil {
		t.Fatalf("token from before the restart: %v", err)
	}
	got, err := n2.Auth.GetApp(ctx, app.ID)
	if err != nil || len(got.Environments) != 3 {
		t.Fatalf("app after restart: %+v %v", got, err)
	}
}
