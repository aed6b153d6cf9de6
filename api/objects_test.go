package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/internal/testenv/teststore"
	"github.com/skybridgehq/skybridge/objectstore"
	"github.com/skybridgehq/skybridge/ratelimit"
	"github.com/skybridgehq/skybridge/store"
)

// The object routes are tested end to end over HTTP on both store
// adapters: runObjectSuite runs every scenario on a SQLite store and on
// the MongoDB adapter over FerretDB. No scenario is skipped on FerretDB.

func TestObjectsSQLite(t *testing.T) {
	t.Parallel()
	runObjectSuite(t, newObjEnv(t, teststore.SQLite(t)))
}

func TestObjectsFerretDB(t *testing.T) {
	t.Parallel()
	runObjectSuite(t, newObjEnv(t, teststore.FerretDB(t)))
}

func runObjectSuite(t *testing.T, o *objEnv) {
	for _, s := range []struct {
		name string
		run  func(*testing.T, *objEnv)
	}{
		{"CRUD", testObjectCRUD},
		{"Conditional", testObjectConditional},
		{"MergePatch", testObjectMergePatch},
		{"SystemFields", testObjectSystemFields},
		{"MalformedBodies", testObjectMalformedBodies},
		{"UserIsolation", testObjectUserIsolation},
		{"EnvironmentIsolation", testObjectEnvironmentIsolation},
		{"ServerKeyAndAnonymous", testObjectServerKeyAndAnonymous},
		{"CollectionCreation", testObjectCollectionCreation},
		{"UniqueIndex", testObjectUniqueIndex},
		{"Schema", testObjectSchema},
		{"TooLarge", testObjectTooLarge},
		{"Idempotency", testObjectIdempotency},
		{"List", testObjectList},
		{"ListErrors", testObjectListErrors},
		{"PaginationUnderInserts", testObjectPaginationUnderInserts},
	} {
		t.Run(s.name, func(t *testing.T) { s.run(t, o) })
	}
}

// objEnv is a userEnv (one app with dev, stage and prod, and a second
// app) with helpers for the object routes. Rate limits are off: the
// scenarios send many requests from one address.
type objEnv struct {
	*userEnv
}

func newObjEnv(t *testing.T, p store.Provider) *objEnv {
	t.Helper()
	return &objEnv{newUserEnv(t, p, Config{RateLimitEnv: ratelimit.Off, RateLimitClient: ratelimit.Off})}
}

// caller is who sends a request: the app key of env (of the main app
// unless appKey is set), an access token, the server key.
type caller struct {
	env    string
	id     string // the user id, for assertions
	token  string
	server bool
	appKey string
	srvKey string
}

// user signs up a new user in env.
func (o *objEnv) user(env, name string) caller {
	o.t.Helper()
	s := o.signup(env, fmt.Sprintf("%s-%d@example.com", name, time.Now().UnixNano()), testUserPassword)
	return caller{env: env, id: s.User.ID, token: s.AccessToken}
}

// server is the server key of env of the main app.
func (o *objEnv) server(env string) caller { return caller{env: env, server: true} }

// anon sends the app key of env only.
func (o *objEnv) anon(env string) caller { return caller{env: env} }

// headers are the credentials of c.
func (o *objEnv) headers(c caller) map[string]string {
	appKey, srvKey := o.app.keys(o.t, c.env)
	if c.appKey != "" {
		appKey = c.appKey
	}
	if c.srvKey != "" {
		srvKey = c.srvKey
	}
	h := map[string]string{AppKeyHeader: appKey}
	if c.token != "" {
		h["Authorization"] = "Bearer " + c.token
	}
	if c.server {
		h[ServerKeyHeader] = srvKey
	}
	return h
}

// objResp is an answer.
type objResp struct {
	status int
	header http.Header
	body   []byte
}

// call sends a request as c; kv are extra header name/value pairs.
func (o *objEnv) call(t *testing.T, c caller, method, path string, body any, kv ...string) objResp {
	t.Helper()
	h := o.headers(c)
	for i := 0; i+1 < len(kv); i += 2 {
		h[kv[i]] = kv[i+1]
	}
	resp := o.do(request{method: method, path: path, body: body, headers: h})
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return objResp{status: resp.StatusCode, header: resp.Header, body: data}
}

// want fails the test unless r has status.
func (r objResp) want(t *testing.T, status int) objResp {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	return r
}

// object decodes the body as an object.
func (r objResp) object(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	return m
}

// problem checks that r is a problem with status naming field (when not
// "") and returns it.
func (r objResp) problem(t *testing.T, status int, field string) Problem {
	t.Helper()
	r.want(t, status)
	if ct := r.header.Get("Content-Type"); ct != ProblemContentType {
		t.Fatalf("content type %q, body %s", ct, r.body)
	}
	p := problemOf(t, r.body)
	if field != "" && !p.names(field) {
		t.Fatalf("problem does not name %q: %s", field, r.body)
	}
	return p
}

// names reports whether the problem's errors name field.
func (p Problem) names(field string) bool {
	for _, e := range p.Errors {
		if e.Field == field {
			return true
		}
	}
	return false
}

func objectsPath(col string) string { return "/v1/collections/" + col + "/objects" }

func objectPath(col, id string) string { return objectsPath(col) + "/" + id }

// num reads a JSON number of an object as int64.
func num(t *testing.T, v any) int64 {
	t.Helper()
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("%v (%T) is not a number", v, v)
	}
	i, err := n.Int64()
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// envDB is the object store environment env of the main app, for direct
// service calls.
func (o *objEnv) envDB(env string) objectstore.Env {
	return objectstore.Env{DB: store.EnvDBName(o.app.ID, env)}
}

func testObjectCRUD(t *testing.T, o *objEnv) {
	ada := o.user("dev", "ada")
	col := objectsPath("notes")
	r := o.call(t, ada, "POST", col, map[string]any{"title": "hello", "n": 1, "tags": []string{"a", "b"}, "nested": map[string]any{"x": 1.5}}).want(t, 201)
	created := r.object(t)
	id, _ := created["_id"].(string)
	if id == "" || num(t, created["_v"]) != 1 || num(t, created["_seq"]) < 1 || created["_owner"] != ada.id ||
		created["title"] != "hello" || num(t, created["n"]) != 1 || created["nested"].(map[string]any)["x"] != json.Number("1.5") {
		t.Fatalf("created %s", r.body)
	}
	for _, f := range []string{"_createdAt", "_updatedAt"} {
		if _, err := time.Parse(time.RFC3339Nano, fmt.Sprint(created[f])); err != nil {
			t.Errorf("%s = %v: %v", f, created[f], err)
		}
	}
	if _, deleted := created["_deleted"]; deleted {
		t.Errorf("a live object carries _deleted: %s", r.body)
	}
	loc := r.header.Get("Location")
	if loc != objectPath("notes", id) || r.header.Get("ETag") != `"1"` {
		t.Fatalf("Location %q, ETag %q", loc, r.header.Get("ETag"))
	}

	g := o.call(t, ada, "GET", loc, nil).want(t, 200)
	if g.header.Get("ETag") != `"1"` || !bytes.Equal(bytes.TrimSpace(g.body), bytes.TrimSpace(r.body)) {
		t.Fatalf("GET: ETag %q body %s, created %s", g.header.Get("ETag"), g.body, r.body)
	}

	p := o.call(t, ada, "PUT", loc, map[string]any{"title": "replaced"}).want(t, 200)
	put := p.object(t)
	if num(t, put["_v"]) != 2 || put["title"] != "replaced" || put["n"] != nil || put["_createdAt"] != created["_createdAt"] ||
		put["_owner"] != ada.id || num(t, put["_seq"]) <= num(t, created["_seq"]) || p.header.Get("ETag") != `"2"` {
		t.Fatalf("PUT answered %s (ETag %s)", p.body, p.header.Get("ETag"))
	}

	o.call(t, ada, "DELETE", loc, nil).want(t, 204)
	for _, m := range []string{"GET", "PUT", "PATCH", "DELETE"} {
		o.call(t, ada, m, loc, map[string]any{"title": "x"}).problem(t, 404, "")
	}
	// A tombstone's id can be taken again; a live one's cannot.
	again := o.call(t, ada, "POST", col, map[string]any{"_id": id, "title": "reborn"}).want(t, 201).object(t)
	if again["_id"] != id || again["title"] != "reborn" {
		t.Fatalf("re-create: %v", again)
	}
	o.call(t, ada, "POST", col, map[string]any{"_id": id, "title": "twice"}).problem(t, 409, "_id")
	o.call(t, ada, "GET", objectPath("notes", "nope"), nil).problem(t, 404, "")
	o.call(t, ada, "GET", objectPath("nothing-here", "nope"), nil).problem(t, 404, "")
	o.call(t, ada, "GET", objectPath("notes", "bad%20id"), nil).problem(t, 400, "_id")
	o.call(t, ada, "POST", objectsPath("9bad"), map[string]any{}).problem(t, 400, "collection")

	// Logs and audit records name the route pattern, not the object.
	routes := map[string]string{}
	for _, rec := range o.log.records(t, "http request") {
		routes[fmt.Sprint(rec["method"], " ", rec["path"])] = fmt.Sprint(rec["route"])
	}
	for req, want := range map[string]string{"GET " + loc: "/v1/collections/{col}/objects/{id}", "POST " + col: "/v1/collections/{col}/objects"} {
		if routes[req] != want {
			t.Errorf("%s logged as route %q, want %q", req, routes[req], want)
		}
	}
}

func testObjectConditional(t *testing.T, o *objEnv) {
	ada := o.user("dev", "ada")
	loc := o.call(t, ada, "POST", objectsPath("cond"), map[string]any{"n": 1}).want(t, 201).header.Get("Location")

	// If-None-Match: a match is a 304 without a body.
	for _, inm := range []string{`"1"`, `W/"1"`, `*`, `"7", "1"`} {
		r := o.call(t, ada, "GET", loc, nil, "If-None-Match", inm).want(t, 304)
		if len(r.body) != 0 || r.header.Get("ETag") != `"1"` {
			t.Errorf("If-None-Match %s: ETag %q body %q", inm, r.header.Get("ETag"), r.body)
		}
	}
	for _, inm := range []string{`"2"`, `1`, `"x"`} {
		o.call(t, ada, "GET", loc, nil, "If-None-Match", inm).want(t, 200)
	}

	// If-Match: a stale version is a 412 on every write, and nothing is
	// written.
	for _, m := range []string{"PUT", "PATCH", "DELETE"} {
		for _, im := range []string{`"2"`, `W/"1"`, `"0"`, `"x"`, `"3", "4"`} {
			o.call(t, ada, m, loc, map[string]any{"n": 9}, "If-Match", im).problem(t, 412, "")
		}
		o.call(t, ada, m, loc, map[string]any{"n": 9}, "If-Match", "1").problem(t, 400, "If-Match")
	}
	if got := o.call(t, ada, "GET", loc, nil).want(t, 200).object(t); num(t, got["_v"]) != 1 || num(t, got["n"]) != 1 {
		t.Fatalf("a refused write changed the object: %v", got)
	}
	r := o.call(t, ada, "PUT", loc, map[string]any{"n": 2}, "If-Match", `"1"`).want(t, 200)
	if r.header.Get("ETag") != `"2"` {
		t.Fatalf("ETag after PUT %q", r.header.Get("ETag"))
	}
	o.call(t, ada, "PUT", loc, map[string]any{"n": 3}, "If-Match", `"1"`).problem(t, 412, "")
	o.call(t, ada, "PATCH", loc, map[string]any{"n": 3}, "If-Match", `"5", "2"`).want(t, 200)
	o.call(t, ada, "PATCH", loc, map[string]any{"n": 4}, "If-Match", `*`).want(t, 200)
	o.call(t, ada, "DELETE", loc, nil, "If-Match", `"3"`).problem(t, 412, "")
	o.call(t, ada, "DELETE", loc, nil, "If-Match", `"4"`).want(t, 204)
	o.call(t, ada, "PUT", loc, map[string]any{"n": 5}, "If-Match", `*`).problem(t, 404, "")
}

func testObjectMergePatch(t *testing.T, o *objEnv) {
	ada := o.user("dev", "ada")
	loc := o.call(t, ada, "POST", objectsPath("patched"), map[string]any{
		"title": "t", "a": map[string]any{"b": 1, "c": 2}, "keep": true, "list": []int{1, 2},
	}).want(t, 201).header.Get("Location")
	patch := `{"a": {"b": null, "d": 3}, "list": [3], "title": null, "new": "x"}`
	got := o.call(t, ada, "PATCH", loc, patch, "Content-Type", mergePatchContentType).want(t, 200).object(t)
	a, _ := got["a"].(map[string]any)
	list, _ := got["list"].([]any)
	if _, has := got["title"]; has || got["keep"] != true || got["new"] != "x" || len(a) != 2 || num(t, a["c"]) != 2 ||
		num(t, a["d"]) != 3 || len(list) != 1 || num(t, list[0]) != 3 || num(t, got["_v"]) != 2 {
		t.Fatalf("merge patch gave %v", got)
	}
	got = o.call(t, ada, "PATCH", loc, `{"a": null}`, "Content-Type", "application/json; charset=utf-8").want(t, 200).object(t)
	if _, has := got["a"]; has || got["keep"] != true {
		t.Fatalf("plain JSON patch gave %v", got)
	}
	for _, ct := range []string{"text/plain", "application/json-patch+json", "application/x-www-form-urlencoded", "", "application/json; charset=latin1"} {
		o.call(t, ada, "PATCH", loc, `{"keep": false}`, "Content-Type", ct).problem(t, 415, "")
	}
	o.call(t, ada, "PATCH", loc, `{"_id": null}`, "Content-Type", mergePatchContentType).problem(t, 400, "_id")
	o.call(t, ada, "PATCH", loc, `null`, "Content-Type", mergePatchContentType).problem(t, 400, "")
	if got := o.call(t, ada, "GET", loc, nil).want(t, 200).object(t); got["keep"] != true || num(t, got["_v"]) != 3 {
		t.Fatalf("refused patches changed the object: %v", got)
	}
}

func testObjectSystemFields(t *testing.T, o *objEnv) {
	ada := o.user("dev", "ada")
	col := objectsPath("roundtrip")
	r := o.call(t, ada, "POST", col, map[string]any{"_id": "rt-1", "title": "a", "_acl": map[string]any{"read": []string{"*"}}}).want(t, 201)
	loc := r.header.Get("Location")
	if loc != objectPath("roundtrip", "rt-1") {
		t.Fatalf("Location %q", loc)
	}
	// GET, modify, PUT back with every system field: they are ignored.
	obj := o.call(t, ada, "GET", loc, nil).want(t, 200).object(t)
	obj["title"] = "b"
	next := o.call(t, ada, "PUT", loc, obj).want(t, 200).object(t)
	if num(t, next["_v"]) != 2 || next["title"] != "b" || next["_createdAt"] != obj["_createdAt"] || next["_acl"] == nil {
		t.Fatalf("round trip gave %v", next)
	}
	// The stale copy now differs in _v: refused by name, like any other
	// differing system field.
	o.call(t, ada, "PUT", loc, obj).problem(t, 400, "_v")
	for field, v := range map[string]any{"_createdAt": "2001-01-01T00:00:00.000000Z", "_owner": "someone-else", "_seq": 1, "_id": "other"} {
		stale := map[string]any{}
		for k, x := range next {
			stale[k] = x
		}
		stale[field] = v
		o.call(t, ada, "PUT", loc, stale).problem(t, 400, field)
	}
	for field, v := range map[string]any{"_v": 1, "_seq": 3, "_secret": true, "_createdAt": "2001-01-01T00:00:00.000000Z"} {
		o.call(t, ada, "POST", col, map[string]any{field: v, "x": 1}).problem(t, 400, field)
	}
	o.call(t, ada, "POST", col, map[string]any{"a": map[string]any{"b.c": 1}}).problem(t, 400, "a.b.c")
	o.call(t, ada, "POST", col, map[string]any{"$set": 1}).problem(t, 400, "$set")
	o.call(t, ada, "POST", col, map[string]any{"_acl": map[string]any{"read": "everyone"}}).problem(t, 400, "_acl.read")
}

func testObjectMalformedBodies(t *testing.T, o *objEnv) {
	ada := o.user("dev", "ada")
	col := objectsPath("malformed")
	loc := o.call(t, ada, "POST", col, map[string]any{"n": 1}).want(t, 201).header.Get("Location")
	for _, body := range []string{`{"a":`, `[1]`, `null`, `"text"`, `{"a": 1} {"b": 2}`, `{"a": 1,}`, ``} {
		o.call(t, ada, "POST", col, body).problem(t, 400, "")
		o.call(t, ada, "PUT", loc, body).problem(t, 400, "")
		o.call(t, ada, "PATCH", loc, body).problem(t, 400, "")
	}
	o.call(t, ada, "POST", col, `{"n": 1}`, "Content-Type", "text/plain").problem(t, 415, "")
	o.call(t, ada, "POST", col, `{"a": {"n": 1e400}}`).problem(t, 400, "a.n")
	o.call(t, ada, "PATCH", loc, `{"list": [1, -1e999]}`).problem(t, 400, "list[1]")
	if got := o.call(t, ada, "GET", loc, nil).want(t, 200).object(t); num(t, got["_v"]) != 1 {
		t.Fatalf("malformed writes changed the object: %v", got)
	}
}
