package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	gosync "sync"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
	"github.com/skybridgehq/skybridge/sync/client"
)

// harness is one test node with an app whose collection col has the given
// conflict strategy and rules that let any signed-in user write any
// object.
type harness struct {
	t      *testing.T
	srv    *testnode.Server
	keys   testnode.EnvKeys
	admin  string
	app    testnode.App
	col    string
	nusers int
}

func newHarness(t *testing.T, storeKind, strategy string) *harness {
	t.Helper()
	srv := testnode.Start(t, testnode.Options{Store: storeKind})
	app := srv.CreateApp(t, "sync")
	h := &harness{t: t, srv: srv, app: app, keys: app.Env(t, "dev"), admin: srv.AdminToken(t), col: "notes"}
	h.settings(map[string]any{
		"rules":    map[string]string{"read": "authenticated", "create": "authenticated", "update": "authenticated", "delete": "authenticated"},
		"conflict": strategy,
	})
	return h
}

func (h *harness) settings(body map[string]any) {
	h.t.Helper()
	path := fmt.Sprintf("/admin/api/apps/%s/environments/dev/collections/%s", h.app.ID, h.col)
	resp, b := h.srv.Do(h.t, http.MethodPut, path, body, map[string]string{"Authorization": "Bearer " + h.admin})
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("collection settings: %d %s", resp.StatusCode, b)
	}
}

// user signs a new user up and returns a token function that answers
// his access token, signing in again before the token's 15 minutes run
// out (a full-length property run lasts longer), as an app refreshes.
func (h *harness) user() func() string {
	h.t.Helper()
	h.nusers++
	creds := map[string]string{"email": fmt.Sprintf("u%d@example.com", h.nusers), "password": "s3cret-pass-word"}
	key := map[string]string{"X-Skybridge-Key": h.keys.AppKey}
	resp, b := h.srv.Do(h.t, http.MethodPost, "/v1/auth/signup", creds, key)
	if resp.StatusCode/100 != 2 {
		h.t.Fatalf("signup: %d %s", resp.StatusCode, b)
	}
	var out struct{ AccessToken string }
	if err := json.Unmarshal(b, &out); err != nil || out.AccessToken == "" {
		h.t.Fatalf("signup answer %s: %v", b, err)
	}
	var mu gosync.Mutex
	tok, issued := out.AccessToken, time.Now()
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(issued) < 10*time.Minute {
			return tok
		}
		// Called from the client's requests: no t.Fatal here. A failed
		// sign-in keeps the old token, and the next request says why.
		resp, b, err := h.srv.TryDo(http.MethodPost, "/v1/auth/login", creds, key)
		var in struct{ AccessToken string }
		if err == nil && resp.StatusCode == http.StatusOK && json.Unmarshal(b, &in) == nil && in.AccessToken != "" {
			tok, issued = in.AccessToken, time.Now()
		}
		return tok
	}
}

// client opens a sync client for a new user (or the server key when
// server is set) on a fresh local file.
func (h *harness) client(server bool, cfg client.Config) *client.Client {
	h.t.Helper()
	cfg.URL, cfg.AppKey = h.srv.URL, h.keys.AppKey
	if server {
		cfg.ServerKey = h.keys.ServerKey
	} else {
		cfg.Token = h.user()
	}
	c, err := client.Open(context.Background(), filepath.Join(h.t.TempDir(), "local.db"), cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { _ = c.Close() })
	return c
}

// serverState pulls the collection from scratch with the server key.
func (h *harness) serverState(ctx context.Context) map[string]client.Doc {
	h.t.Helper()
	c := h.client(true, client.Config{PullLimit: 1000})
	if err := c.Pull(ctx, h.col); err != nil {
		h.t.Fatal(err)
	}
	all, err := c.All(ctx, h.col)
	if err != nil {
		h.t.Fatal(err)
	}
	return all
}

func canon(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
