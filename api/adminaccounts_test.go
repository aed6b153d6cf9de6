package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skybridgehq/skybridge/audit"
	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/internal/testenv/teststore"
	"github.com/skybridgehq/skybridge/keyring"
	"github.com/skybridgehq/skybridge/store"
)

// newAuditedEnv is newTestEnv over store provider p (SQLite when nil)
// with an audit trail, so that tests can read the records of their
// requests through GET /admin/api/audit.
func newAuditedEnv(t *testing.T, p store.Provider) *testEnv {
	t.Helper()
	ctx := t.Context()
	if p == nil {
		p = teststore.SQLite(t)
	}
	sys, err := p.DB(ctx, store.SystemDB)
	if err != nil {
		t.Fatal(err)
	}
	for _, idx := range []map[string][]store.Index{auth.SystemIndexes(), audit.Indexes()} {
		if err := store.EnsureIndexes(ctx, sys, idx); err != nil {
			t.Fatal(err)
		}
	}
	kr, _, err := keyring.Generate()
	if err != nil {
		t.Fatal(err)
	}
	log, buf := newTestLogger()
	svc := auth.NewService(sys, kr, auth.Config{Password: auth.PasswordParams{Memory: 1024, Time: 1, Threads: 1}, Logger: log})
	if _, err := svc.CreateAdmin(ctx, testAdminEmail, testAdminPassword, auth.RoleOwner); err != nil {
		t.Fatal(err)
	}
	trail, err := audit.NewService(sys, audit.Config{Key: kr.Derive(audit.KeyPurpose), FlushInterval: time.Millisecond, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	trail.Start()
	t.Cleanup(func() { _ = trail.Close(t.Context()) })
	reg := prometheus.NewRegistry()
	a, err := New(Deps{Auth: svc, Store: p, Logger: log, Registry: reg, Audit: trail, Version: "test"}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return &testEnv{t: t, api: a, srv: srv, auth: svc, store: p, reg: reg, log: buf}
}

// adminLoginAs returns an admin token for email.
func (e *testEnv) adminLoginAs(email, password string) string {
	e.t.Helper()
	var out loginResponse
	e.json(request{method: "POST", path: "/admin/api/login", body: map[string]string{"email": email, "password": password}}, 200, &out)
	return out.Token
}

// forbidden expects req to be refused with a 403 problem.
func (e *testEnv) forbidden(req request) {
	e.t.Helper()
	e.status(req, http.StatusForbidden)
}

// status expects req to answer status; 4xx answers must be problems.
func (e *testEnv) status(req request, status int) Problem {
	e.t.Helper()
	resp := e.do(req)
	if status < 400 {
		resp.Body.Close()
		if resp.StatusCode != status {
			e.t.Fatalf("%s %s: status %d, want %d", req.method, req.path, resp.StatusCode, status)
		}
		return Problem{}
	}
	p, err := readProblem(resp, status)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.method, req.path, err)
	}
	return p
}

func TestAdminRolesOverHTTP(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	owner := e.login()
	app := e.createApp(owner, "Roles")
	ob := bearer(owner)

	// The owner adds a viewer and a developer; nothing secret comes back.
	var viewer, dev adminJSON
	resp := e.do(request{method: "POST", path: "/admin/api/admins", headers: ob,
		body: map[string]string{"email": " Viewer@Example.com", "password": testAdminPassword, "role": "viewer"}})
	var raw json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil || resp.StatusCode != 201 {
		t.Fatalf("create viewer: %d %s %v", resp.StatusCode, raw, err)
	}
	resp.Body.Close()
	_ = json.Unmarshal(raw, &viewer)
	if viewer.ID == "" || viewer.Email != "viewer@example.com" || viewer.Role != auth.RoleViewer ||
		resp.Header.Get("Location") != "/admin/api/admins/"+viewer.ID ||
		strings.Contains(strings.ToLower(string(raw)), "hash") || strings.Contains(string(raw), testAdminPassword) {
		t.Fatalf("created viewer %s (Location %q)", raw, resp.Header.Get("Location"))
	}
	e.json(request{method: "POST", path: "/admin/api/admins", headers: ob,
		body: map[string]string{"email": "dev@example.com", "password": testAdminPassword, "role": "developer"}}, 201, &dev)

	// Refused creations name the field.
	for _, c := range []struct {
		body   map[string]string
		status int
		field  string
	}{
		{map[string]string{"email": "dev@example.com", "password": testAdminPassword, "role": "viewer"}, 409, "email"},
		{map[string]string{"email": "x@example.com", "password": testAdminPassword, "role": "admin"}, 400, "role"},
		{map[string]string{"email": "x@example.com", "password": "short", "role": "viewer"}, 400, "password"},
		{map[string]string{"email": "not-an-email", "password": testAdminPassword, "role": "viewer"}, 400, "email"},
	} {
		p := e.status(request{method: "POST", path: "/admin/api/admins", headers: ob, body: c.body}, c.status)
		if len(p.Errors) != 1 || p.Errors[0].Field != c.field {
			t.Errorf("%v: problem %+v, want field %s", c.body, p, c.field)
		}
	}

	var list struct{ Items []adminJSON }
	e.json(request{method: "GET", path: "/admin/api/admins", headers: ob}, 200, &list)
	if len(list.Items) != 3 || list.Items[0].Email != testAdminEmail || list.Items[0].Role != auth.RoleOwner {
		t.Fatalf("admins %+v", list.Items)
	}

	// A viewer reads, and is refused every write and the admin accounts.
	vt := bearer(e.adminLoginAs("viewer@example.com", testAdminPassword))
	var me adminJSON
	e.json(request{method: "GET", path: "/admin/api/me", headers: vt}, 200, &me)
	if me.ID != viewer.ID || me.Role != auth.RoleViewer || me.Email != "viewer@example.com" {
		t.Fatalf("viewer's me = %+v", me)
	}
	e.status(request{method: "GET", path: "/admin/api/apps", headers: vt}, 200)
	e.status(request{method: "HEAD", path: "/admin/api/apps/" + app.ID, headers: vt}, 200)
	e.status(request{method: "GET", path: "/admin/api/apps/" + app.ID + "/environments/dev/deploy-tokens", headers: vt}, 200)
	e.forbidden(request{method: "POST", path: "/admin/api/apps", headers: vt, body: map[string]string{"name": "Nope"}})
	e.forbidden(request{method: "POST", path: "/admin/api/apps/" + app.ID + "/environments/dev/keys/rotate", headers: vt, body: map[string]any{"key": "app"}})
	e.forbidden(request{method: "POST", path: "/admin/api/apps/" + app.ID + "/environments/dev/deploy-tokens", headers: vt, body: map[string]string{"name": "ci"}})
	e.forbidden(request{method: "GET", path: "/admin/api/admins", headers: vt})

	// A developer writes, but does not manage admins.
	dt := bearer(e.adminLoginAs("dev@example.com", testAdminPassword))
	e.status(request{method: "POST", path: "/admin/api/apps", headers: dt, body: map[string]string{"name": "DevApp"}}, 201)
	e.status(request{method: "POST", path: "/admin/api/apps/" + app.ID + "/environments/dev/deploy-tokens", headers: dt, body: map[string]string{"name": "ci"}}, 201)
	e.forbidden(request{method: "GET", path: "/admin/api/admins", headers: dt})
	e.forbidden(request{method: "POST", path: "/admin/api/admins", headers: dt, body: map[string]string{"email": "x@example.com", "password": testAdminPassword, "role": "owner"}})
	e.forbidden(request{method: "PATCH", path: "/admin/api/admins/" + dev.ID, headers: dt, body: map[string]string{"role": "owner"}})
	e.forbidden(request{method: "DELETE", path: "/admin/api/admins/" + viewer.ID, headers: dt})

	// The last owner can be neither demoted nor deleted.
	var ownerMe adminJSON
	e.json(request{method: "GET", path: "/admin/api/me", headers: ob}, 200, &ownerMe)
	ownerPath := "/admin/api/admins/" + ownerMe.ID
	if p := e.status(request{method: "PATCH", path: ownerPath, headers: ob, body: map[string]string{"role": "developer"}}, 409); p.Type != problemTypePrefix+"last-owner" {
		t.Errorf("demote the last owner: %+v", p)
	}
	e.status(request{method: "DELETE", path: ownerPath, headers: ob}, 409)
	if p := e.status(request{method: "PATCH", path: "/admin/api/admins/" + dev.ID, headers: ob, body: map[string]string{"role": "admin"}}, 400); len(p.Errors) != 1 || p.Errors[0].Field != "role" {
		t.Errorf("legacy role given: %+v", p)
	}
	e.status(request{method: "PATCH", path: "/admin/api/admins/nope", headers: ob, body: map[string]string{"role": "viewer"}}, 404)
	e.status(request{method: "DELETE", path: "/admin/api/admins/nope", headers: ob}, 404)

	// A demotion takes effect on the next request of an existing token.
	var changed adminJSON
	e.json(request{method: "PATCH", path: "/admin/api/admins/" + dev.ID, headers: ob, body: map[string]string{"role": "viewer"}}, 200, &changed)
	if changed.Role != auth.RoleViewer {
		t.Fatalf("patched %+v", changed)
	}
	e.forbidden(request{method: "POST", path: "/admin/api/apps", headers: dt, body: map[string]string{"name": "Late"}})

	// With a second owner, the first may step down.
	e.json(request{method: "PATCH", path: "/admin/api/admins/" + dev.ID, headers: ob, body: map[string]string{"role": "owner"}}, 200, &changed)
	e.json(request{method: "PATCH", path: ownerPath, headers: dt, body: map[string]string{"role": "developer"}}, 200, &changed)
	e.forbidden(request{method: "GET", path: "/admin/api/admins", headers: ob})

	// A deleted admin's token is refused on the next request.
	e.status(request{method: "DELETE", path: "/admin/api/admins/" + viewer.ID, headers: dt}, 204)
	resp = e.do(request{method: "GET", path: "/admin/api/me", headers: vt})
	if _, err := readProblem(resp, 401); err != nil || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "invalid_token") {
		t.Fatalf("deleted admin's token: %v, challenge %q", err, resp.Header.Get("WWW-Authenticate"))
	}
}

// deployTokenOut mirrors the answers of the deploy token routes.
type deployTokenOut struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Token      string     `json:"token"`
	App        string     `json:"app"`
	Env        string     `json:"env"`
	CreatedAt  time.Time  `json:"createdAt"`
	CreatedBy  string     `json:"createdBy"`
	LastUsedAt *time.Time `json:"lastUsedAt"`
}

func TestDeployTokenFlowSQLite(t *testing.T) {
	t.Parallel()
	runDeployTokenFlow(t, newAuditedEnv(t, nil))
}

// runDeployTokenFlow creates a deploy token, uses it within its scope,
// is refused outside it, finds its use listed and audited, and revokes
// it. It runs on every store adapter.
func runDeployTokenFlow(t *testing.T, e *testEnv) {
	owner := e.login()
	ob := bearer(owner)
	app := e.createApp(owner, "Shop")
	other := e.createApp(owner, "Other")
	base := "/admin/api/apps/" + app.ID + "/environments/prod/deploy-tokens"
	var me adminJSON
	e.json(request{method: "GET", path: "/admin/api/me", headers: ob}, 200, &me)

	var created deployTokenOut
	e.json(request{method: "POST", path: base, headers: ob, body: map[string]string{"name": "GitHub Actions"}}, 201, &created)
	if !strings.HasPrefix(created.Token, auth.DeployTokenPrefix) || !auth.WellFormedDeployToken(created.Token) ||
		created.ID == "" || created.Name != "GitHub Actions" || created.App != app.ID || created.Env != "prod" ||
		created.CreatedBy != me.ID || created.CreatedAt.IsZero() {
		t.Fatalf("created %+v", created)
	}
	if p := e.status(request{method: "POST", path: base, headers: ob, body: map[string]string{"name": " "}}, 400); len(p.Errors) != 1 || p.Errors[0].Field != "name" {
		t.Errorf("blank name: %+v", p)
	}
	e.status(request{method: "POST", path: "/admin/api/apps/" + app.ID + "/environments/nope/deploy-tokens", headers: ob, body: map[string]string{"name": "x"}}, 404)

	// Within its scope.
	db := bearer(created.Token)
	var rotated rotatedKeyJSON
	e.json(request{method: "POST", path: "/admin/api/apps/" + app.ID + "/environments/prod/keys/rotate", headers: db, body: map[string]any{"key": "app"}}, 200, &rotated)
	if rotated.AppKey == "" {
		t.Fatalf("rotate answered %+v", rotated)
	}
	e.status(request{method: "GET", path: "/admin/api/apps/" + app.ID, headers: db}, 200)
	e.status(request{method: "GET", path: "/admin/api/apps/" + app.ID + "/environments/prod/nope", headers: db}, 404)

	// Outside it, and never on admins or deploy tokens.
	for _, req := range []request{
		{method: "POST", path: "/admin/api/apps/" + app.ID + "/environments/dev/keys/rotate", body: map[string]any{"key": "app"}},
		{method: "POST", path: "/admin/api/apps/" + other.ID + "/environments/prod/keys/rotate", body: map[string]any{"key": "app"}},
		{method: "GET", path: "/admin/api/apps/" + other.ID},
		{method: "GET", path: "/admin/api/apps"},
		{method: "POST", path: "/admin/api/apps", body: map[string]string{"name": "Mine"}},
		{method: "POST", path: "/admin/api/apps/" + app.ID + "/environments", body: map[string]string{"name": "qa"}},
		{method: "GET", path: "/admin/api/admins"},
		{method: "POST", path: "/admin/api/admins", body: map[string]string{"email": "ci@example.com", "password": testAdminPassword, "role": "owner"}},
		{method: "DELETE", path: "/admin/api/admins/" + me.ID},
		{method: "GET", path: "/admin/api/me"},
		{method: "GET", path: "/admin/api/audit"},
		{method: "GET", path: base},
		{method: "POST", path: base, body: map[string]string{"name": "child"}},
		{method: "DELETE", path: base + "/" + created.ID},
		{method: "PUT", path: "/admin/api/apps/" + app.ID + "/environments/prod/audit/retention", body: map[string]int{"days": 1}},
	} {
		req.headers = db
		e.forbidden(req)
	}

	// Listed with its last use, never with the token.
	resp := e.do(request{method: "GET", path: base, headers: ob})
	var raw json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil || resp.StatusCode != 200 {
		t.Fatalf("list: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	var list struct{ Items []deployTokenOut }
	_ = json.Unmarshal(raw, &list)
	if strings.Contains(string(raw), created.Token) || strings.Contains(string(raw), `"token"`) || strings.Contains(string(raw), "hash") {
		t.Fatalf("the list shows the token: %s", raw)
	}
	if len(list.Items) != 1 || list.Items[0].ID != created.ID || list.Items[0].LastUsedAt == nil ||
		list.Items[0].LastUsedAt.Before(created.CreatedAt) {
		t.Fatalf("list %s", raw)
	}
	var otherList struct{ Items []deployTokenOut }
	e.json(request{method: "GET", path: "/admin/api/apps/" + app.ID + "/environments/dev/deploy-tokens", headers: ob}, 200, &otherList)
	if len(otherList.Items) != 0 {
		t.Fatalf("dev lists prod's token: %+v", otherList)
	}

	// The audit trail names the deploy token as the actor.
	waitForAudit(t, e, ob, "deploy-token:"+created.ID, func(recs []audit.Record) bool {
		for _, r := range recs {
			if r.Route == "/admin/api/apps/{id}/environments/{env}/keys/rotate" && r.Status == 200 && r.Actor.Kind == audit.ActorDeployToken {
				return true
			}
		}
		return false
	})

	// Revoked: refused from the next request on.
	e.status(request{method: "DELETE", path: base + "/" + created.ID, headers: ob}, 204)
	resp = e.do(request{method: "GET", path: "/admin/api/apps/" + app.ID, headers: db})
	if _, err := readProblem(resp, 401); err != nil || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "invalid_token") {
		t.Fatalf("revoked token: %v, challenge %q", err, resp.Header.Get("WWW-Authenticate"))
	}
	e.status(request{method: "DELETE", path: base + "/" + created.ID, headers: ob}, 404)
}

// waitForAudit polls GET /admin/api/audit?actor=actor until done accepts
// the records (the trail is written asynchronously), or fails after a
// deadline.
func waitForAudit(t *testing.T, e *testEnv, headers map[string]string, actor string, done func([]audit.Record) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var page audit.Page
		e.json(request{method: "GET", path: "/admin/api/audit?actor=" + url.QueryEscape(actor), headers: headers}, 200, &page)
		if done(page.Items) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no matching audit record for %s: %+v", actor, page.Items)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
