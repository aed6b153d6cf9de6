package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/internal/testenv/teststore"
	"github.com/skybridgehq/skybridge/objectstore"
	"github.com/skybridgehq/skybridge/ratelimit"
	"github.com/skybridgehq/skybridge/store"
)

// The admin collection settings routes are tested end to end over HTTP on
// both store adapters.

func TestCollectionsAdminSQLite(t *testing.T) {
	t.Parallel()
	runCollectionsAdmin(t, newSettingsEnv(t, teststore.SQLite(t)))
}

func TestCollectionsAdminFerretDB(t *testing.T) {
	t.Parallel()
	runCollectionsAdmin(t, newSettingsEnv(t, teststore.FerretDB(t)))
}

func runCollectionsAdmin(t *testing.T, e *settingsEnv) {
	for _, s := range []struct {
		name string
		run  func(*testing.T, *settingsEnv)
	}{
		{"RoundTrip", testSettingsRoundTrip},
		{"Validation", testSettingsValidation},
		{"UnknownAppOrEnv", testSettingsUnknownAppOrEnv},
		{"UniqueIndexConflict", testSettingsUniqueConflict},
		{"ViewerReadsOnly", testSettingsViewer},
		{"ObjectSettings", testObjectSettings},
		{"ClientCreateToggle", testClientCreateToggle},
	} {
		t.Run(s.name, func(t *testing.T) { s.run(t, e.withT(t)) })
	}
}

// withT returns a copy of e whose helpers fail t.
func (e *settingsEnv) withT(t *testing.T) *settingsEnv {
	te := *e.testEnv
	te.t = t
	u := *e.userEnv
	u.testEnv = &te
	return &settingsEnv{userEnv: &u, token: e.token}
}

// settingsEnv is a userEnv with an owner admin token.
type settingsEnv struct {
	*userEnv
	token string
}

func newSettingsEnv(t *testing.T, p store.Provider) *settingsEnv {
	t.Helper()
	u := newUserEnv(t, p, Config{RateLimitEnv: ratelimit.Off, RateLimitClient: ratelimit.Off})
	return &settingsEnv{userEnv: u, token: u.login()}
}

// collPath is the admin path of collection col (or of the list, when col
// is "") in environment env of the main app.
func (e *settingsEnv) collPath(env, col string) string {
	p := "/admin/api/apps/" + e.app.ID + "/environments/" + env + "/collections"
	if col != "" {
		p += "/" + col
	}
	return p
}

// admin sends an admin request with the owner token and returns the
// status and body.
func (e *settingsEnv) admin(method, path string, body any) (int, []byte) {
	e.t.Helper()
	return e.callWith(bearer(e.token), method, path, body)
}

// settingsAnswer mirrors collectionSettingsJSON.
type settingsAnswer struct {
	Name  string            `json:"name"`
	Rules objectstore.Rules `json:"rules"`
	// Schema is kept raw to compare.
	Schema   json.RawMessage `json:"schema"`
	Indexes  []indexJSON     `json:"indexes"`
	Conflict string          `json:"conflict"`
	Cache    struct {
		TTL string `json:"ttl"`
	} `json:"cache"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

func (e *settingsEnv) putSettings(env, col string, body any) settingsAnswer {
	e.t.Helper()
	status, data := e.admin("PUT", e.collPath(env, col), body)
	if status != http.StatusOK {
		e.t.Fatalf("PUT %s %v: %d %s", col, body, status, data)
	}
	var out settingsAnswer
	if err := json.Unmarshal(data, &out); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// wantProblemField fails unless data is a problem of the given status
// naming field (and, when detail is not "", with that in the field's
// detail).
func wantProblemField(t *testing.T, what string, status int, data []byte, wantStatus int, field, detail string) {
	t.Helper()
	var p Problem
	if err := json.Unmarshal(data, &p); err != nil || status != wantStatus || p.Status != wantStatus {
		t.Fatalf("%s: %d %s, want a %d problem", what, status, data, wantStatus)
	}
	for _, fe := range p.Errors {
		if fe.Field == field && strings.Contains(fe.Detail, detail) {
			return
		}
	}
	t.Fatalf("%s: problem %s names no field %q with %q", what, data, field, detail)
}

func testSettingsRoundTrip(t *testing.T, e *settingsEnv) {
	full := map[string]any{
		"rules":    map[string]any{"read": "public", "create": "authenticated", "update": "owner", "delete": "role:editor"},
		"schema":   map[string]any{"type": "object", "properties": map[string]any{"n": map[string]any{"type": "integer"}}},
		"indexes":  []any{map[string]any{"fields": []string{"n"}, "unique": false}, map[string]any{"name": "by_slug", "fields": []string{"slug"}, "unique": true}},
		"conflict": "merge-fields",
		"cache":    map[string]any{"ttl": "30s"},
	}
	got := e.putSettings("prod", "posts", full)
	want := objectstore.Rules{Read: "public", Create: "authenticated", Update: "owner", Delete: "role:editor"}
	if got.Name != "posts" || got.Rules != want || got.Conflict != "merge-fields" || got.Cache.TTL != "30s" ||
		len(got.Indexes) != 2 || got.Indexes[1].Name != "by_slug" || !got.Indexes[1].Unique || got.Indexes[0].Fields[0] != "n" ||
		!strings.Contains(string(got.Schema), `"integer"`) || got.CreatedAt.IsZero() {
		t.Fatalf("PUT answer = %+v", got)
	}
	// Only one rule: everything else, the other rules included, stays.
	got = e.putSettings("prod", "posts", map[string]any{"rules": map[string]any{"update": "role:editor"}})
	want.Update = "role:editor"
	if got.Rules != want || got.Conflict != "merge-fields" || got.Cache.TTL != "30s" || len(got.Indexes) != 2 || !strings.Contains(string(got.Schema), `"integer"`) {
		t.Fatalf("after a one-rule PUT = %+v", got)
	}
	// An empty body changes nothing; GET answers the same.
	got = e.putSettings("prod", "posts", map[string]any{})
	var read settingsAnswer
	e.expectAdmin("GET", e.collPath("prod", "posts"), nil, http.StatusOK, &read)
	if read.Rules != want || read.Cache.TTL != "30s" || len(read.Indexes) != 2 || string(read.Schema) != string(got.Schema) {
		t.Fatalf("GET = %+v, want %+v", read, got)
	}
	// Schema null removes the schema; a cache of 0s turns it off.
	got = e.putSettings("prod", "posts", map[string]any{"schema": nil, "cache": map[string]any{"ttl": "0s"}, "indexes": []any{}})
	if string(got.Schema) != "null" || got.Cache.TTL != "0s" || len(got.Indexes) != 0 || got.Rules != want {
		t.Fatalf("after removing schema and cache = %+v", got)
	}
	// A second collection, in the list by name; the other environment has
	// none.
	e.putSettings("prod", "comments", map[string]any{"cache": map[string]any{"ttl": "1m30s"}})
	var list struct {
		Items []settingsAnswer `json:"items"`
	}
	e.expectAdmin("GET", e.collPath("prod", ""), nil, http.StatusOK, &list)
	if len(list.Items) != 2 || list.Items[0].Name != "comments" || list.Items[0].Cache.TTL != "1m30s" ||
		list.Items[0].Rules != objectstore.DefaultRules || list.Items[1].Name != "posts" {
		t.Fatalf("list = %+v", list.Items)
	}
	e.expectAdmin("GET", e.collPath("stage", ""), nil, http.StatusOK, &list)
	if len(list.Items) != 0 {
		t.Fatalf("stage list = %+v", list.Items)
	}
	// DELETE drops the collection.
	e.expectAdmin("DELETE", e.collPath("prod", "comments"), nil, http.StatusNoContent, nil)
	status, data := e.admin("GET", e.collPath("prod", "comments"), nil)
	wantProblem(t, "GET a dropped collection", status, data, http.StatusNotFound)
	status, data = e.admin("DELETE", e.collPath("prod", "comments"), nil)
	wantProblem(t, "DELETE a dropped collection", status, data, http.StatusNotFound)
}

// expectAdmin sends an admin request, checks the status and decodes the
// answer into out (when not nil).
func (e *settingsEnv) expectAdmin(method, path string, body any, status int, out any) {
	e.t.Helper()
	got, data := e.admin(method, path, body)
	if got != status {
		e.t.Fatalf("%s %s: %d %s, want %d", method, path, got, data, status)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			e.t.Fatalf("%s %s: decode %s: %v", method, path, data, err)
		}
	}
}

// wantProblem fails unless data is a problem of the given status.
func wantProblem(t *testing.T, what string, status int, data []byte, want int) {
	t.Helper()
	var p Problem
	if err := json.Unmarshal(data, &p); err != nil || status != want || p.Status != want || p.Type == "" {
		t.Fatalf("%s: %d %s, want a %d problem", what, status, data, want)
	}
}

func testSettingsValidation(t *testing.T, e *settingsEnv) {
	e.putSettings("prod", "valid", map[string]any{"rules": map[string]any{"read": "public"}})
	for _, tt := range []struct {
		body          string
		field, detail string
	}{
		{`{"rules": {"read": "everyone"}}`, "rules.read", "everyone"},
		{`{"rules": {"delete": "role:"}}`, "rules.delete", ""},
		{`{"schema": {"type": 1}}`, "schema", "/type"},
		{`{"schema": {"properties": {"n": {"minimum": "x"}}}}`, "schema", "/properties/n/minimum"},
		{`{"schema": "string"}`, "schema", ""},
		{`{"indexes": [{"fields": ["n"]}, {"fields": []}]}`, "indexes[1].fields", ""},
		{`{"indexes": [{"fields": ["n"]}, {"fields": ["a.$b"]}]}`, "indexes[1].fields", ""},
		{`{"indexes": [{"unique": true}]}`, "indexes[0].fields", ""},
		{`{"indexes": [{"name": "no spaces", "fields": ["n"]}]}`, "indexes[0].name", ""},
		{`{"indexes": [{"fields": ["a"]}, {"fields": ["a"]}]}`, "indexes[1]", "repeated"},
		{`{"conflict": "mine-wins"}`, "conflict", "mine-wins"},
		{`{"cache": {"ttl": "soon"}}`, "cache.ttl", "soon"},
		{`{"cache": {"ttl": "-1s"}}`, "cache.ttl", ""},
		{`{"cache": {"ttl": "48h"}}`, "cache.ttl", ""},
		{`{"cache": {"ttl": 30}}`, "cache.ttl", "string"},
		{`{"rules": {"read": 1}}`, "rules.read", "string"},
		{`{"owner": "me"}`, "owner", "unknown"},
	} {
		status, data := e.admin("PUT", e.collPath("prod", "valid"), tt.body)
		wantProblemField(t, tt.body, status, data, http.StatusBadRequest, tt.field, tt.detail)
	}
	// Several bad keys are named together.
	status, data := e.admin("PUT", e.collPath("prod", "valid"), `{"rules": {"read": "x", "update": "y"}, "cache": {"ttl": "z"}}`)
	for _, f := range []string{"rules.read", "rules.update", "cache.ttl"} {
		wantProblemField(t, "three bad keys", status, data, http.StatusBadRequest, f, "")
	}
	// Nothing was changed by the refused requests.
	var got settingsAnswer
	e.expectAdmin("GET", e.collPath("prod", "valid"), nil, http.StatusOK, &got)
	want := objectstore.DefaultRules
	want.Read = "public"
	if got.Rules != want || got.Conflict != "reject" || string(got.Schema) != "null" || len(got.Indexes) != 0 || got.Cache.TTL != "0s" {
		t.Fatalf("settings after refused PUTs = %+v", got)
	}
	// A bad collection name, and a malformed body.
	status, data = e.admin("PUT", e.collPath("prod", "9lives"), `{}`)
	wantProblemField(t, "bad collection name", status, data, http.StatusBadRequest, "collection", "")
	status, data = e.admin("GET", e.collPath("prod", "_x"), nil)
	wantProblemField(t, "bad collection name on GET", status, data, http.StatusBadRequest, "collection", "")
	status, data = e.admin("PUT", e.collPath("prod", "valid"), `{"rules": `)
	wantProblem(t, "truncated body", status, data, http.StatusBadRequest)
}

func testSettingsUnknownAppOrEnv(t *testing.T, e *settingsEnv) {
	for _, p := range []string{
		"/admin/api/apps/nope/environments/prod/collections",
		"/admin/api/apps/" + e.app.ID + "/environments/qa/collections",
		"/admin/api/apps/nope/environments/prod/collections/posts",
		"/admin/api/apps/" + e.app.ID + "/environments/qa/collections/posts",
	} {
		for _, m := range []string{"GET", "PUT", "DELETE"} {
			if strings.HasSuffix(p, "/collections") && m != "GET" {
				continue
			}
			status, data := e.admin(m, p, `{}`)
			wantProblem(t, m+" "+p, status, data, http.StatusNotFound)
		}
	}
	for _, m := range []string{"GET", "PUT"} {
		status, data := e.admin(m, "/admin/api/apps/"+e.app.ID+"/environments/qa/object-settings", `{"allowClientCreate": true}`)
		wantProblem(t, m+" object-settings of an unknown environment", status, data, http.StatusNotFound)
	}
}

func testSettingsUniqueConflict(t *testing.T, e *settingsEnv) {
	ctx := t.Context()
	env, err := e.auth.GetEnvironment(ctx, e.app.ID, "stage")
	if err != nil {
		t.Fatal(err)
	}
	server := objectstore.Principal{Server: true}
	for range 2 {
		if _, err := e.api.deps.Objects.Create(ctx, objectstore.Env{DB: env.DB}, server, "people", map[string]any{"email": "a@x"}); err != nil {
			t.Fatal(err)
		}
	}
	status, data := e.admin("PUT", e.collPath("stage", "people"), `{"indexes": [{"fields": ["email"], "unique": true}]}`)
	wantProblemField(t, "unique index over duplicates", status, data, http.StatusConflict, "indexes[0]", "")
	var got settingsAnswer
	e.expectAdmin("GET", e.collPath("stage", "people"), nil, http.StatusOK, &got)
	if len(got.Indexes) != 0 {
		t.Fatalf("indexes after a refused PUT = %+v", got.Indexes)
	}
}

func testSettingsViewer(t *testing.T, e *settingsEnv) {
	if _, err := e.auth.CreateAdmin(t.Context(), "viewer@example.com", testAdminPassword, auth.RoleViewer); err != nil {
		t.Fatal(err)
	}
	var login struct {
		Token string `json:"token"`
	}
	e.json(request{method: "POST", path: "/admin/api/login", body: map[string]string{"email": "viewer@example.com", "password": testAdminPassword}}, http.StatusOK, &login)
	viewer := bearer(login.Token)
	e.putSettings("dev", "seen", map[string]any{"conflict": "server-wins"})
	for _, c := range []struct {
		method, path string
		body         any
		status       int
	}{
		{"GET", e.collPath("dev", ""), nil, http.StatusOK},
		{"GET", e.collPath("dev", "seen"), nil, http.StatusOK},
		{"PUT", e.collPath("dev", "seen"), `{"conflict": "reject"}`, http.StatusForbidden},
		{"DELETE", e.collPath("dev", "seen"), nil, http.StatusForbidden},
		{"GET", "/admin/api/apps/" + e.app.ID + "/environments/dev/object-settings", nil, http.StatusOK},
		{"PUT", "/admin/api/apps/" + e.app.ID + "/environments/dev/object-settings", `{"allowClientCreate": false}`, http.StatusForbidden},
	} {
		status, data := e.callWith(viewer, c.method, c.path, c.body)
		if status != c.status {
			t.Fatalf("viewer %s %s: %d %s, want %d", c.method, c.path, status, data, c.status)
		}
	}
	var got settingsAnswer
	e.expectAdmin("GET", e.collPath("dev", "seen"), nil, http.StatusOK, &got)
	if got.Conflict != "server-wins" {
		t.Fatalf("a viewer changed the settings: %+v", got)
	}
}

func (e *settingsEnv) objectSettingsPath(env string) string {
	return "/admin/api/apps/" + e.app.ID + "/environments/" + env + "/object-settings"
}

func testObjectSettings(t *testing.T, e *settingsEnv) {
	var got struct {
		AllowClientCreate *bool `json:"allowClientCreate"`
	}
	for env, want := range map[string]bool{"dev": true, "stage": false} {
		e.expectAdmin("GET", e.objectSettingsPath(env), nil, http.StatusOK, &got)
		if got.AllowClientCreate == nil || *got.AllowClientCreate != want {
			t.Fatalf("default object settings of %s = %+v", env, got)
		}
	}
	e.expectAdmin("PUT", e.objectSettingsPath("stage"), `{"allowClientCreate": true}`, http.StatusOK, &got)
	if !*got.AllowClientCreate {
		t.Fatalf("PUT answered %+v", got)
	}
	// An empty body keeps the value.
	e.expectAdmin("PUT", e.objectSettingsPath("stage"), `{}`, http.StatusOK, &got)
	e.expectAdmin("GET", e.objectSettingsPath("stage"), nil, http.StatusOK, &got)
	if !*got.AllowClientCreate {
		t.Fatalf("GET after PUT = %+v", got)
	}
	for _, body := range []string{`{"allowClientCreate": "yes"}`, `{"allow": true}`, `[]`} {
		status, data := e.admin("PUT", e.objectSettingsPath("stage"), body)
		wantProblem(t, body, status, data, http.StatusBadRequest)
	}
	// The other app's stage is untouched.
	var other struct {
		AllowClientCreate bool `json:"allowClientCreate"`
	}
	e.expectAdmin("GET", "/admin/api/apps/"+e.other.ID+"/environments/stage/object-settings", nil, http.StatusOK, &other)
	if other.AllowClientCreate {
		t.Fatal("the setting leaked to another app")
	}
}

// testClientCreateToggle: a signed-in client's first write to a missing
// collection is refused in prod until the environment allows it.
func testClientCreateToggle(t *testing.T, e *settingsEnv) {
	s := e.signup("prod", "toggle@example.com", "violet tractor at noon")
	status, data := e.call("prod", "POST", "/v1/collections/fresh/objects", s.AccessToken, map[string]any{"n": 1})
	wantProblem(t, "client create in prod", status, data, http.StatusForbidden)
	e.expectAdmin("PUT", e.objectSettingsPath("prod"), `{"allowClientCreate": true}`, http.StatusOK, nil)
	e.expect("prod", "POST", "/v1/collections/fresh/objects", s.AccessToken, map[string]any{"n": 1}, http.StatusCreated, nil)
	// Turned off again, another missing collection is refused; the
	// existing one keeps working.
	e.expectAdmin("PUT", e.objectSettingsPath("prod"), `{"allowClientCreate": false}`, http.StatusOK, nil)
	status, data = e.call("prod", "POST", "/v1/collections/fresh2/objects", s.AccessToken, map[string]any{"n": 1})
	wantProblem(t, "client create in prod, turned off", status, data, http.StatusForbidden)
	e.expect("prod", "POST", "/v1/collections/fresh/objects", s.AccessToken, map[string]any{"n": 2}, http.StatusCreated, nil)
}
