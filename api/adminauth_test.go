package api

import (
	"errors"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/skybridgehq/skybridge/auth"
)

// TestGroupMiddlewareSeesTheRoute pins the chi behaviour adminAuth's
// policy rests on: middleware of a group inside a mounted router runs per
// endpoint, after routing, so it sees the full route pattern and the URL
// parameters.
func TestGroupMiddlewareSeesTheRoute(t *testing.T) {
	t.Parallel()
	var pattern, id, env string
	sub := chi.NewRouter()
	sub.Group(func(g chi.Router) {
		g.Use(func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				pattern = chi.RouteContext(r.Context()).RoutePattern()
				id, env = chi.URLParam(r, "id"), chi.URLParam(r, "env")
				next.ServeHTTP(w, r)
			})
		})
		g.Post("/apps/{id}/environments/{env}/keys/rotate", func(http.ResponseWriter, *http.Request) {})
	})
	root := chi.NewRouter()
	root.Mount("/admin/api", sub)
	root.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/admin/api/apps/a1/environments/prod/keys/rotate", nil))
	if pattern != "/admin/api/apps/{id}/environments/{env}/keys/rotate" || id != "a1" || env != "prod" {
		t.Fatalf("middleware saw pattern %q, id %q, env %q", pattern, id, env)
	}
}

func TestAdminRoleAllows(t *testing.T) {
	t.Parallel()
	const (
		owner, dev, viewer = auth.RoleOwner, auth.RoleDeveloper, auth.RoleViewer
		rotate             = "/admin/api/apps/{id}/environments/{env}/keys/rotate"
		tokens             = "/admin/api/apps/{id}/environments/{env}/deploy-tokens"
	)
	cases := []struct {
		role, method, pattern string
		allowed               bool
	}{
		{owner, "DELETE", "/admin/api/admins/{adminId}", true},
		{owner, "POST", rotate, true},
		{dev, "POST", rotate, true},
		{dev, "POST", tokens, true},
		{dev, "DELETE", tokens + "/{tokenId}", true},
		{dev, "GET", "/admin/api/admins", false},
		{dev, "POST", "/admin/api/admins", false},
		{dev, "PATCH", "/admin/api/admins/{adminId}", false},
		{dev, "GET", "/admin/api/adminsettings", true}, // not under /admins
		{viewer, "GET", "/admin/api/apps", true},
		{viewer, "HEAD", "/admin/api/apps", true},
		{viewer, "GET", "/admin/api/me", true},
		{viewer, "GET", tokens, true},
		{viewer, "POST", tokens, false},
		{viewer, "POST", "/admin/api/apps", false},
		{viewer, "PUT", "/admin/api/apps/{id}/environments/{env}/mail", false},
		{viewer, "DELETE", "/admin/api/apps/{id}/environments/{env}/users/{uid}", false},
		{viewer, "GET", "/admin/api/admins", false},
		{"admin", "GET", "/admin/api/apps", false}, // legacy roles are mapped before this
		{"", "GET", "/admin/api/apps", false},
	}
	for _, c := range cases {
		err := adminRoleAllows(c.role, c.method, c.pattern)
		if (err == nil) != c.allowed || err != nil && !errors.Is(err, ErrForbidden) {
			t.Errorf("%s %s %s: %v, want allowed %v", c.role, c.method, c.pattern, err, c.allowed)
		}
	}
}

func TestDeployTokenAllows(t *testing.T) {
	t.Parallel()
	tok := auth.DeployToken{ID: "t1", App: "app1", Env: "prod"}
	const env = "/admin/api/apps/{id}/environments/{env}"
	cases := []struct {
		method, pattern, id, env string
		allowed                  bool
	}{
		{"POST", env + "/keys/rotate", "app1", "prod", true},
		{"GET", env + "/users", "app1", "prod", true},
		{"DELETE", env + "/users/{uid}", "app1", "prod", true},
		{"GET", env, "app1", "prod", true},
		{"DELETE", env, "app1", "prod", false},
		{"GET", "/admin/api/apps/{id}", "app1", "", true},
		{"HEAD", "/admin/api/apps/{id}", "app1", "", true},
		{"PATCH", "/admin/api/apps/{id}", "app1", "", false},
		{"GET", "/admin/api/apps/{id}", "app2", "", false},
		{"POST", "/admin/api/apps/{id}/environments", "app1", "", false},
		{"POST", env + "/keys/rotate", "app1", "dev", false},
		{"POST", env + "/keys/rotate", "app2", "prod", false},
		{"POST", env + "/keys/rotate", "", "", false},
		{"GET", env + "/deploy-tokens", "app1", "prod", false},
		{"POST", env + "/deploy-tokens", "app1", "prod", false},
		{"DELETE", env + "/deploy-tokens/{tokenId}", "app1", "prod", false},
		{"GET", env + "/audit/retention", "app1", "prod", false},
		{"PUT", env + "/audit/retention", "app1", "prod", false},
		{"GET", "/admin/api/apps", "", "", false},
		{"GET", "/admin/api/admins", "", "", false},
		{"GET", "/admin/api/me", "", "", false},
		{"GET", "/admin/api/audit", "", "", false},
		{"GET", "/admin/api/things/{id}/environments/{env}/x", "app1", "prod", false},
		{"GET", "/admin/api/apps/{id}/environmentsx/{env}", "app1", "prod", false},
	}
	for _, c := range cases {
		err := deployTokenAllows(tok, c.method, c.pattern, c.id, c.env)
		if (err == nil) != c.allowed || err != nil && !errors.Is(err, ErrForbidden) {
			t.Errorf("%s %s (id %q, env %q): %v, want allowed %v", c.method, c.pattern, c.id, c.env, err, c.allowed)
		}
	}
}

func TestAdminAuthUnmatchedRoutes(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	owner := e.login()
	app := e.createApp(owner, "Unmatched")
	var created deployTokenOut
	e.json(request{method: "POST", path: "/admin/api/apps/" + app.ID + "/environments/dev/deploy-tokens", headers: bearer(owner), body: map[string]string{"name": "ci"}}, 201, &created)
	// Unknown routes: authenticated first (401 without a valid token),
	// then a 404, whatever the token's scope.
	e.status(request{method: "GET", path: "/admin/api/nope"}, 401)
	e.status(request{method: "GET", path: "/admin/api/nope", headers: bearer(auth.DeployTokenPrefix + strings.Repeat("x", 43))}, 401)
	e.status(request{method: "GET", path: "/admin/api/nope", headers: bearer(created.Token)}, 404)
	e.status(request{method: "POST", path: "/admin/api/nope", headers: bearer(owner)}, 404)
}

// FuzzAdminAuthorization sends arbitrary Authorization headers to the
// admin API: the answer is the app (for the valid tokens of the seeds), a
// 401 with a Bearer challenge, or a 403; never anything else, and always
// a problem when refused.
func FuzzAdminAuthorization(f *testing.F) {
	e := newTestEnv(f, envOptions{})
	owner := e.login()
	app := e.createApp(owner, "Fuzzed")
	var dev, prod deployTokenOut
	e.json(request{method: "POST", path: "/admin/api/apps/" + app.ID + "/environments/dev/deploy-tokens", headers: bearer(owner), body: map[string]string{"name": "dev"}}, 201, &dev)
	e.json(request{method: "POST", path: "/admin/api/apps/" + app.ID + "/environments/prod/deploy-tokens", headers: bearer(owner), body: map[string]string{"name": "prod"}}, 201, &prod)
	for _, s := range []string{
		"", "Bearer", "Bearer ", "Bearer " + owner, "bearer " + dev.Token, "Bearer " + prod.Token, "Bearer  " + dev.Token + " ",
		"Bearer " + dev.Token + "x", "Bearer " + dev.Token[:20], "Bearer sbd_", "Bearer sbd_" + strings.Repeat("A", 43),
		"Bearer sbd_" + strings.Repeat("é", 22), "Basic " + dev.Token, "Bearer " + strings.Repeat("sbd_", 2000),
		"Bearer sbd_\x00" + strings.Repeat("a", 42), "Bearer " + owner + ".x",
	} {
		f.Add(s, "/admin/api/apps/"+app.ID)
	}
	f.Add("Bearer "+dev.Token, "/admin/api/apps/"+app.ID+"/environments/dev/deploy-tokens")
	f.Add("Bearer "+dev.Token, "/admin/api/apps/"+app.ID+"/environments/dev/users")
	f.Add("Bearer "+dev.Token, "/admin/api/admins")
	f.Fuzz(func(t *testing.T, header, path string) {
		if !strings.HasPrefix(path, "/admin/api/") || strings.ContainsAny(path, " \t\r\n?#%") || len(path) > 200 {
			return
		}
		req := httptest.NewRequest("GET", "http://example.com/", nil)
		req.URL.Path = path
		req.Header.Set("Authorization", header)
		w := httptest.NewRecorder()
		e.api.ServeHTTP(w, req)
		switch w.Code {
		case http.StatusOK, http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusBadRequest:
			if w.Code == http.StatusOK && !strings.Contains(header, owner) && !strings.Contains(header, dev.Token) && !strings.Contains(header, prod.Token) {
				t.Fatalf("%q on %s: 200 without a valid token", header, path)
			}
		case http.StatusUnauthorized:
			if !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer realm=") {
				t.Fatalf("%q: 401 without a Bearer challenge", header)
			}
		case http.StatusForbidden:
			if strings.Contains(header, owner) {
				t.Fatalf("%q on %s: the owner was refused", header, path)
			}
		default:
			t.Fatalf("%q on %s: status %d %s", header, path, w.Code, w.Body)
		}
		if w.Code >= 400 {
			if mt, _, _ := mime.ParseMediaType(w.Header().Get("Content-Type")); mt != ProblemContentType {
				t.Fatalf("%q on %s: %d without a problem: %s", header, path, w.Code, w.Body)
			}
			if strings.Contains(w.Body.String(), dev.Token) || strings.Contains(w.Body.String(), prod.Token) {
				t.Fatalf("a refusal echoes a token: %s", w.Body)
			}
		}
	})
}
