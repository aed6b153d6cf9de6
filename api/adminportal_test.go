package api

import (
	"io"
	"io/fs"
	"net/http"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/skybridgehq/skybridge/web"
)

// TestAdminPortal serves the embedded portal: the page at /admin and at
// every /admin/<page> (the browser routes), hashed assets with a long
// cache, a 404 problem for a missing asset, a self-only CSP, and the
// admin API untouched beside it.
func TestAdminPortal(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	var asset string
	err := fs.WalkDir(web.Assets(), "assets", func(name string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(name, ".js") {
			asset = "/admin/" + name
		}
		return err
	})
	if err != nil || asset == "" {
		t.Fatalf("no embedded script under assets/: %v", err)
	}
	tests := []struct {
		name, method, path string
		status             int
		ctype, cache, body string
	}{
		{"root", "GET", "/admin", 200, "text/html", "no-cache", `<div id="app">`},
		{"root slash", "GET", "/admin/", 200, "text/html", "no-cache", `<div id="app">`},
		{"page", "GET", "/admin/devices", 200, "text/html", "no-cache", `<div id="app">`},
		{"head", "HEAD", "/admin/", 200, "text/html", "no-cache", ""},
		{"asset", "GET", asset, 200, "text/javascript", "public, max-age=31536000, immutable", ""},
		{"missing asset", "GET", "/admin/assets/nope.js", 404, "application/problem+json", "", ""},
		{"admin api stays JSON", "GET", "/admin/api/apps", 401, "application/problem+json", "no-store", ""},
		{"unknown admin api route", "GET", "/admin/api/nope", 401, "application/problem+json", "no-store", ""},
		{"post to the page", "POST", "/admin/", 405, "application/problem+json", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.do(request{method: tc.method, path: tc.path})
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("%s %s: %d, want %d: %s", tc.method, tc.path, resp.StatusCode, tc.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, tc.ctype) {
				t.Errorf("Content-Type %q, want %s", ct, tc.ctype)
			}
			if tc.cache != "" && resp.Header.Get("Cache-Control") != tc.cache {
				t.Errorf("Cache-Control %q, want %q", resp.Header.Get("Cache-Control"), tc.cache)
			}
			if tc.status == 200 {
				if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "unsafe") {
					t.Errorf("CSP %q", csp)
				}
				if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
					t.Errorf("no nosniff")
				}
			}
			if !strings.Contains(string(body), tc.body) {
				t.Errorf("body lacks %q: %.200s", tc.body, body)
			}
		})
	}

	t.Run("revalidation", func(t *testing.T) {
		resp := e.do(request{method: "GET", path: "/admin/"})
		resp.Body.Close()
		etag := resp.Header.Get("ETag")
		if etag == "" {
			t.Fatal("no ETag")
		}
		resp = e.do(request{method: "GET", path: "/admin/", headers: map[string]string{"If-None-Match": etag}})
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("If-None-Match: %d, want 304", resp.StatusCode)
		}
	})
}

// TestAdminPortalNeedsIndex refuses a build without index.html when the
// API is built, not on the first request.
func TestAdminPortalNeedsIndex(t *testing.T) {
	t.Parallel()
	if _, err := newAdminPortal(fstest.MapFS{"assets/a.js": {Data: []byte("x")}}); err == nil {
		t.Error("a portal without index.html was accepted")
	}
	p, err := newAdminPortal(fstest.MapFS{"index.html": {Data: []byte("<p>")}})
	if err != nil {
		t.Fatalf("a portal without assets: %v", err)
	}
	if len(p.assets) != 0 {
		t.Errorf("assets = %v", p.assets)
	}
}
