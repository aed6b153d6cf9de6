package sync_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/internal/testenv"
	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
	"github.com/skybridgehq/skybridge/objectstore"
	"github.com/skybridgehq/skybridge/store"
)

// node is one test server with an app, its dev keys and an admin token.
type node struct {
	t     *testing.T
	srv   *testnode.Server
	app   testnode.App
	keys  testnode.EnvKeys
	admin string
	users int
}

func startNode(t *testing.T) *node { t.Helper(); return startNodeOn(t, "sqlite") }

// startNodeOn starts a node on store kind ("sqlite" or "ferretdb").
func startNodeOn(t *testing.T, kind string) *node {
	t.Helper()
	srv := testnode.Start(t, testnode.Options{Store: kind})
	app := srv.CreateApp(t, "sync")
	return &node{t: t, srv: srv, app: app, keys: app.Env(t, "dev"), admin: srv.AdminToken(t)}
}

func (n *node) settings(col string, body any) {
	n.t.Helper()
	resp, b := n.srv.Do(n.t, http.MethodPut, fmt.Sprintf("/admin/api/apps/%s/environments/dev/collections/%s", n.app.ID, col), body,
		map[string]string{"Authorization": "Bearer " + n.admin})
	if resp.StatusCode != http.StatusOK {
		n.t.Fatalf("settings: %d %s", resp.StatusCode, b)
	}
}

func (n *node) user() map[string]string {
	n.t.Helper()
	n.users++
	resp, b := n.srv.Do(n.t, http.MethodPost, "/v1/auth/signup",
		map[string]string{"email": fmt.Sprintf("u%d@example.com", n.users), "password": "s3cret-pass-word"},
		map[string]string{"X-Skybridge-Key": n.keys.AppKey})
	var out struct{ AccessToken string }
	if resp.StatusCode/100 != 2 || json.Unmarshal(b, &out) != nil {
		n.t.Fatalf("signup: %d %s", resp.StatusCode, b)
	}
	return map[string]string{"X-Skybridge-Key": n.keys.AppKey, "Authorization": "Bearer " + out.AccessToken}
}

// call posts body to a sync route and decodes the answer, expecting status.
func (n *node) call(h map[string]string, route string, body any, status int) map[string]any {
	n.t.Helper()
	resp, b := n.srv.Do(n.t, http.MethodPost, "/v1/sync/"+route, body, h)
	if resp.StatusCode != status {
		n.t.Fatalf("%s: %d %s, want %d", route, resp.StatusCode, b, status)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		n.t.Fatalf("%s answer %s: %v", route, b, err)
	}
	return out
}

func push(col string, changes ...map[string]any) map[string]any {
	return map[string]any{"collection": col, "changes": changes}
}

func list(m map[string]any, k string) []any { l, _ := m[k].([]any); return l }

func first(m map[string]any, k string) map[string]any {
	l := list(m, k)
	if len(l) == 0 {
		return nil
	}
	e, _ := l[0].(map[string]any)
	return e
}

func num(v any) int64 { f, _ := v.(float64); return int64(f) }

// serverDoc pulls the collection with the server key and returns object id.
func (n *node) serverDoc(col, id string) map[string]any {
	n.t.Helper()
	h := map[string]string{"X-Skybridge-Key": n.keys.AppKey, "X-Skybridge-Server-Key": n.keys.ServerKey}
	out := n.call(h, "pull", map[string]any{"collections": map[string]any{col: map[string]any{"limit": 1000}}}, 200)
	docs := list(out["collections"].(map[string]any)[col].(map[string]any), "documents")
	for _, d := range docs {
		if m := d.(map[string]any); m["_id"] == id {
			return m
		}
	}
	return nil
}

// TestPushStrategies: a change on a stale base version is resolved by
// each of the five strategies as documented, over HTTP.
func TestPushStrategies(t *testing.T) {
	n := startNode(t)
	a, b := n.user(), n.user()
	open := map[string]string{"read": "authenticated", "create": "authenticated", "update": "authenticated", "delete": "authenticated"}
	now := time.Now().UTC()
	tests := []struct {
		strategy   string
		aTime      time.Time // the stale edit's clientTime
		bTime      time.Time // the newer server edit's clientTime
		applied    bool
		resolution string
		wantText   string
		wantExtra  any
	}{
		{objectstore.ConflictReject, now, now, false, "rejected", "b", nil},
		{objectstore.ConflictServerWins, now, now, false, "server-wins", "b", nil},
		{objectstore.ConflictClientWins, now, now, true, "client-wins", "a", nil},
		{objectstore.ConflictLastWriteWins, now.Add(-time.Minute), now, false, "server-wins", "b", nil},
		{objectstore.ConflictLastWriteWins, now.Add(time.Minute), now, true, "client-wins", "a", nil},
		// The clock-skew guard: b's device clock is ten hours ahead and
		// counts as now+5m; a's edit at now+6m (also capped, later) wins.
		{objectstore.ConflictLastWriteWins, now.Add(6 * time.Minute), now.Add(10 * time.Hour), true, "client-wins", "a", nil},
		{objectstore.ConflictMergeFields, now, now, true, "merged", "b", "from-a"},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.strategy, i), func(t *testing.T) {
			col := fmt.Sprintf("s%d", i)
			n.settings(col, map[string]any{"rules": open, "conflict": tt.strategy})
			created := n.call(a, "push", push(col, map[string]any{"id": "x", "baseVersion": 0, "doc": map[string]any{"text": "0"}}), 200)
			v1 := num(first(created, "applied")["_v"])
			n.call(b, "push", push(col, map[string]any{"id": "x", "baseVersion": v1, "doc": map[string]any{"text": "b"}, "clientTime": tt.bTime, "changeId": "b1"}), 200)
			res := n.call(a, "push", push(col, map[string]any{"id": "x", "baseVersion": v1, "doc": map[string]any{"text": "0", "extra": "from-a"}, "clientTime": tt.aTime, "changeId": "a1"}), 200)
			if tt.strategy != objectstore.ConflictMergeFields {
				res = n.call(a, "push", push(col, map[string]any{"id": "x", "baseVersion": v1, "doc": map[string]any{"text": "a"}, "clientTime": tt.aTime, "changeId": "a2"}), 200)
			}
			if got := len(list(res, "applied")) == 1; got != tt.applied {
				t.Fatalf("applied = %v, want %v: %v", got, tt.applied, res)
			}
			res2 := res
			var resolution string
			if c := first(res2, "conflicts"); c != nil {
				resolution, _ = c["resolution"].(string)
				if tt.resolution != "client-wins" && c["server"] == nil {
					t.Fatalf("conflict without the server's document: %v", res)
				}
			} else if ap := first(res2, "applied"); ap != nil {
				resolution, _ = ap["resolution"].(string)
			}
			if resolution != tt.resolution {
				t.Fatalf("resolution %q, want %q: %v", resolution, tt.resolution, res)
			}
			doc := n.serverDoc(col, "x")
			if doc["text"] != tt.wantText || (tt.wantExtra != nil && doc["extra"] != tt.wantExtra) {
				t.Fatalf("server document %v, want text %q extra %v", doc, tt.wantText, tt.wantExtra)
			}
		})
	}
	// Every conflict is in the audit trail with its resolution; the
	// trail is written in the background, so poll.
	for _, action := range []string{"sync.conflict.rejected", "sync.conflict.server-wins", "sync.conflict.client-wins", "sync.conflict.merged"} {
		var body []byte
		ok := testenv.WaitFor(context.Background(), 10*time.Second, func() bool {
			var resp *http.Response
			resp, body = n.srv.Do(t, http.MethodGet, fmt.Sprintf("/admin/api/audit?action=%s", action), nil, map[string]string{"Authorization": "Bearer " + n.admin})
			return resp.StatusCode == http.StatusOK && strings.Contains(string(body), action)
		})
		if !ok {
			t.Errorf("audit trail lacks %s: %s", action, body)
		}
	}
}

// TestReplayedChangeID: a change id pushed again is a no-op answered with
// the first result, even after the object moved on.
func TestReplayedChangeID(t *testing.T) {
	n := startNode(t)
	a := n.user()
	n.settings("notes", map[string]any{"rules": map[string]string{"read": "authenticated", "create": "authenticated", "update": "authenticated", "delete": "authenticated"}})
	body := push("notes", map[string]any{"id": "r", "baseVersion": 0, "doc": map[string]any{"n": 1}, "changeId": "c-1"})
	one := n.call(a, "push", body, 200)
	n.call(a, "push", push("notes", map[string]any{"id": "r", "baseVersion": num(first(one, "applied")["_v"]), "doc": map[string]any{"n": 2}}), 200)
	two := n.call(a, "push", body, 200)
	if fmt.Sprint(one) != fmt.Sprint(two) {
		t.Fatalf("replay answered %v, first answer %v", two, one)
	}
	if d := n.serverDoc("notes", "r"); num(d["n"]) != 2 || num(d["_v"]) != 2 {
		t.Fatalf("replay wrote: %v", d)
	}
}

// TestCheckpointExpired: once tombstones past a checkpoint are compacted,
// pulling from it is a 410 with a resync hint; pulling from scratch works.
func TestCheckpointExpired(t *testing.T) {
	n := startNode(t)
	a := n.user()
	n.settings("notes", map[string]any{"rules": map[string]string{"read": "authenticated", "create": "authenticated", "update": "authenticated", "delete": "authenticated"}})
	p := n.call(a, "push", push("notes",
		map[string]any{"id": "k", "baseVersion": 0, "doc": map[string]any{}},
		map[string]any{"id": "d", "baseVersion": 0, "doc": map[string]any{}}), 200)
	pulled := n.call(a, "pull", map[string]any{"collections": map[string]any{"notes": map[string]any{"limit": 1}}}, 200)
	cp := pulled["collections"].(map[string]any)["notes"].(map[string]any)["checkpoint"]
	dv := num(list(p, "applied")[1].(map[string]any)["_v"])
	n.call(a, "push", push("notes", map[string]any{"id": "d", "baseVersion": dv, "deleted": true}), 200)
	env := objectstore.Env{DB: store.EnvDBName(n.app.ID, "dev")}
	removed, err := n.srv.Node.Objects.CompactTombstones(context.Background(), env, "notes", time.Now().Add(time.Hour))
	if err != nil || removed != 1 {
		t.Fatalf("compact: %d, %v", removed, err)
	}
	resp, b := n.srv.Do(t, http.MethodPost, "/v1/sync/pull", map[string]any{"collections": map[string]any{"notes": map[string]any{"checkpoint": cp}}}, a)
	if resp.StatusCode != http.StatusGone || !strings.Contains(resp.Header.Get("Content-Type"), "problem+json") || !strings.Contains(strings.ToLower(string(b)), "resync") {
		t.Fatalf("stale checkpoint: %d %s", resp.StatusCode, b)
	}
	fresh := n.call(a, "pull", map[string]any{"collections": map[string]any{"notes": map[string]any{}}}, 200)
	if docs := list(fresh["collections"].(map[string]any)["notes"].(map[string]any), "documents"); len(docs) != 1 {
		t.Fatalf("resync pull: %v", docs)
	}
}

// TestPermissions: a client pulls only what it may read and pushes only
// what it may write; check hides what it may not read.
func TestPermissions(t *testing.T) {
	n := startNode(t)
	a, b := n.user(), n.user()
	n.settings("priv", map[string]any{"rules": map[string]string{"read": "owner", "create": "authenticated", "update": "owner", "delete": "owner"}})
	p := n.call(a, "push", push("priv", map[string]any{"id": "mine", "baseVersion": 0, "doc": map[string]any{"s": "secret"}}), 200)
	v := num(first(p, "applied")["_v"])
	pulled := n.call(b, "pull", map[string]any{"collections": map[string]any{"priv": map[string]any{}}}, 200)
	if docs := list(pulled["collections"].(map[string]any)["priv"].(map[string]any), "documents"); len(docs) != 0 {
		t.Fatalf("b pulled a's object: %v", docs)
	}
	res := n.call(b, "push", push("priv", map[string]any{"id": "mine", "baseVersion": v, "doc": map[string]any{"s": "stolen"}}), 200)
	if len(list(res, "applied")) != 0 || len(list(res, "rejected")) != 1 {
		t.Fatalf("b's push over a's object: %v", res)
	}
	// A stale push by b gets a conflict without a's document.
	res = n.call(b, "push", push("priv", map[string]any{"id": "mine", "baseVersion": 0, "doc": map[string]any{"s": "x"}}), 200)
	if c := first(res, "conflicts"); c == nil || c["server"] != nil {
		t.Fatalf("conflict leaks a's document to b: %v", res)
	}
	if d := n.serverDoc("priv", "mine"); d["s"] != "secret" {
		t.Fatalf("a's object changed: %v", d)
	}
	chk := n.call(b, "check", map[string]any{"collection": "priv", "known": [][]any{{"mine", v}}}, 200)
	if len(list(chk, "deleted")) != 1 {
		t.Fatalf("check for b: %v", chk)
	}
	chk = n.call(a, "check", map[string]any{"collection": "priv", "known": [][]any{{"mine", v - 1}}}, 200)
	if len(list(chk, "changed")) != 1 {
		t.Fatalf("check for a: %v", chk)
	}
	// Anonymous callers are refused by an "authenticated" read rule.
	n.settings("auth", map[string]any{"rules": map[string]string{"read": "authenticated"}})
	resp, body := n.srv.Do(t, http.MethodPost, "/v1/sync/pull", map[string]any{"collections": map[string]any{"auth": map[string]any{}}}, map[string]string{"X-Skybridge-Key": n.keys.AppKey})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous pull of an authenticated collection: %d %s", resp.StatusCode, body)
	}
}

// TestBadInput: malformed pulls, pushes and checks are 400 problems that
// name the field, and nothing of a refused push is written.
func TestBadInput(t *testing.T) {
	n := startNode(t)
	a := n.user()
	n.settings("notes", map[string]any{"rules": map[string]string{"read": "authenticated", "create": "authenticated", "update": "authenticated", "delete": "authenticated"}})
	tests := []struct {
		route, body, field string
	}{
		{"push", `{"collection":"notes","changes":[{"id":"ok","baseVersion":0,"doc":{}},{"id":"bad","baseVersion":-1,"doc":{}}]}`, "changes[1].baseVersion"},
		{"push", `{"collection":"notes","changes":[{"id":"ok","baseVersion":0,"doc":{}},{"id":"x","baseVersion":0,"doc":{},"deleted":true}]}`, "changes[1].doc"},
		{"push", `{"collection":"notes","changes":[]}`, "changes"},
		{"push", `{"collection":"1bad","changes":[{"id":"a","baseVersion":0,"doc":{}}]}`, "collection"},
		{"pull", `{"collections":{"notes":{"limit":5000}}}`, "collections.notes.limit"},
		{"pull", `{"collections":{"notes":{"checkpoint":"nope"}}}`, "collections.notes.checkpoint"},
		{"pull", `{"collections":{"notes":{"filter":{"$where":"1"}}}}`, "collections.notes.filter"},
		{"pull", `{"collections":{"notes":{"scope":"missing"}}}`, "collections.notes.scope"},
		{"check", `{"collection":"notes","known":[["a"]]}`, "known[0]"},
		{"check", `{"collection":"notes","known":[["a",-2]]}`, "known[0][1]"},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			var body any
			_ = json.Unmarshal([]byte(tt.body), &body)
			resp, b := n.srv.Do(t, http.MethodPost, "/v1/sync/"+tt.route, body, a)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), `"field":"`+tt.field+`"`) {
				t.Fatalf("%s %s: %d %s, want 400 naming %s", tt.route, tt.body, resp.StatusCode, b, tt.field)
			}
		})
	}
	if d := n.serverDoc("notes", "ok"); d != nil {
		t.Fatalf("a refused push was half written: %v", d)
	}
}

// TestMaintenanceCompactsTombstones: the node's maintenance pass removes
// tombstones past the retention (none are that old here: it removes
// nothing and fails on nothing).
func TestMaintenanceCompactsTombstones(t *testing.T) {
	n := startNode(t)
	a := n.user()
	n.settings("notes", map[string]any{"rules": map[string]string{"read": "authenticated", "create": "authenticated", "update": "authenticated", "delete": "authenticated"}})
	p := n.call(a, "push", push("notes", map[string]any{"id": "d", "baseVersion": 0, "doc": map[string]any{}}), 200)
	n.call(a, "push", push("notes", map[string]any{"id": "d", "baseVersion": num(first(p, "applied")["_v"]), "deleted": true}), 200)
	rep, err := n.srv.Node.Maintain(context.Background())
	if err != nil || rep.Tombstones != 0 {
		t.Fatalf("maintenance: %+v, %v", rep, err)
	}
	if d := n.serverDoc("notes", "d"); d == nil || d["_deleted"] != true {
		t.Fatalf("a fresh tombstone was compacted: %v", d)
	}
}
