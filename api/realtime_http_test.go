package api

import (
	"encoding/json"
	"testing"
)

// Writes through the HTTP object routes reach subscribers: create, patch
// and delete arrive in order with the _seq the HTTP answers carry.
func TestRealtimeHTTPWrites(t *testing.T) {
	t.Parallel()
	forEachRealtimeStore(t, func(t *testing.T, e *rtEnv) {
		ada := e.signup("dev", "ada@example.com", testUserPassword)
		c := mustDial(t, e.srv, "", rtHeaders(e.key("dev"), ada.AccessToken))
		c.expectOp("ready")
		c.subscribe(map[string]any{"id": "s", "collection": "todos"})

		call := func(method, path string, body any, want int) map[string]any {
			t.Helper()
			st, data := e.call("dev", method, path, ada.AccessToken, body)
			if st != want {
				t.Fatalf("%s %s: %d %s", method, path, st, data)
			}
			var out map[string]any
			if len(data) > 0 {
				if err := json.Unmarshal(data, &out); err != nil {
					t.Fatal(err)
				}
			}
			return out
		}
		created := call("POST", "/v1/collections/todos/objects", map[string]any{"title": "by HTTP"}, 201)
		id := created["_id"].(string)
		patched := call("PATCH", "/v1/collections/todos/objects/"+id, map[string]any{"done": true}, 200)
		call("DELETE", "/v1/collections/todos/objects/"+id, nil, 204)

		for _, w := range []struct {
			typ string
			seq any
		}{{"created", created["_seq"]}, {"updated", patched["_seq"]}, {"deleted", nil}} {
			ev := c.nextEvent()
			if ev.typ != w.typ || ev.id != id || (w.seq != nil && float64(ev.seq) != w.seq.(float64)) {
				t.Fatalf("event %+v, want %s at %v", ev, w.typ, w.seq)
			}
			if w.typ == "updated" && ev.obj["done"] != true {
				t.Errorf("update event carries %v", ev.obj)
			}
		}
	})
}
