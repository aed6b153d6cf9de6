package sync_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestScopes: an admin declares a scope with ${user.id}; each user pulls
// only his part by scope name, and a realtime scope subscription gets a
// sync hint when something in the scope changes.
func TestScopes(t *testing.T) {
	n := startNode(t)
	a, b := n.user(), n.user()
	n.settings("todos", map[string]any{"rules": map[string]string{"read": "authenticated", "create": "authenticated", "update": "authenticated", "delete": "authenticated"}})
	admin := map[string]string{"Authorization": "Bearer " + n.admin}
	path := fmt.Sprintf("/admin/api/apps/%s/environments/dev/collections/todos/scopes", n.app.ID)
	resp, body := n.srv.Do(t, http.MethodPut, path, map[string]any{"scopes": map[string]any{"mine": map[string]any{"_owner": "${user.id}"}}}, admin)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("put scopes: %d %s", resp.StatusCode, body)
	}
	resp, body = n.srv.Do(t, http.MethodPut, path, map[string]any{"scopes": map[string]any{"bad": map[string]any{"$where": "1"}}}, admin)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "scopes.bad") {
		t.Fatalf("bad scope: %d %s", resp.StatusCode, body)
	}
	resp, body = n.srv.Do(t, http.MethodGet, path, nil, admin)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "${user.id}") {
		t.Fatalf("get scopes: %d %s", resp.StatusCode, body)
	}

	// a listens for hints of his scope.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(n.srv.URL, "http")+"/v1/realtime", &websocket.DialOptions{
		HTTPHeader: http.Header{"X-Skybridge-Key": {a["X-Skybridge-Key"]}, "Authorization": {a["Authorization"]}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close(websocket.StatusNormalClosure, "")
	read := func() map[string]any {
		t.Helper()
		_, data, err := ws.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	for m := read(); m["op"] != "ready"; m = read() {
	}
	sub, _ := json.Marshal(map[string]any{"op": "subscribe", "id": "s1", "collection": "todos", "scope": "mine"})
	if err := ws.Write(ctx, websocket.MessageText, sub); err != nil {
		t.Fatal(err)
	}
	if m := read(); m["op"] != "subscribed" {
		t.Fatalf("subscribe: %v", m)
	}

	n.call(b, "push", push("todos", map[string]any{"id": "b1", "baseVersion": 0, "doc": map[string]any{"t": "b"}}), 200)
	pa := n.call(a, "push", push("todos", map[string]any{"id": "a1", "baseVersion": 0, "doc": map[string]any{"t": "a"}}), 200)
	hint := read() // b's write is outside a's scope: the first hint is a's
	if hint["type"] != "sync" || hint["collection"] != "todos" || hint["sub"] != "s1" || hint["object"] != nil ||
		num(hint["_seq"]) != num(first(pa, "applied")["_seq"]) {
		t.Fatalf("hint %v, want a sync hint for a's write %v", hint, pa)
	}

	for user, want := range map[string]map[string]string{"a": a, "b": b} {
		out := n.call(want, "pull", map[string]any{"collections": map[string]any{"todos": map[string]any{"scope": "mine"}}}, 200)
		docs := list(out["collections"].(map[string]any)["todos"].(map[string]any), "documents")
		if len(docs) != 1 || docs[0].(map[string]any)["_id"] != user+"1" {
			t.Fatalf("%s pulled by scope: %v", user, docs)
		}
	}
}
