package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
	"github.com/skybridgehq/skybridge/objectstore"
	"github.com/skybridgehq/skybridge/store"
)

// TestRealtimeAcrossNodesOverRedis runs two nodes of one deployment (one
// MongoDB-wire store, one Redis), wired as the binary wires them: a write
// on node 1 reaches a WebSocket subscriber on node 2, once, with its
// _seq; shutting node 2 down closes the socket with 1001.
func TestRealtimeAcrossNodesOverRedis(t *testing.T) {
	opts := testnode.Options{Store: "ferretdb", Redis: true}
	s1 := testnode.Start(t, opts)
	s2 := testnode.Start(t, opts)
	app := s1.CreateApp(t, "live")
	key := app.Env(t, "dev").AppKey
	resp, body := s1.Do(t, "POST", "/v1/auth/signup", map[string]any{"email": "ada@example.com", "password": "violet tractor at noon"},
		map[string]string{"X-Skybridge-Key": key})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("signup: %d %s", resp.StatusCode, body)
	}
	var sess struct {
		User        struct{ ID string }
		AccessToken string
	}
	if err := json.Unmarshal(body, &sess); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s2.URL, "http")+"/v1/realtime", &websocket.DialOptions{
		HTTPHeader: http.Header{"X-Skybridge-Key": {key}, "Authorization": {"Bearer " + sess.AccessToken}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	read := func() (map[string]any, error) {
		_, data, err := ws.Read(ctx)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		return m, json.Unmarshal(data, &m)
	}
	must := func() map[string]any {
		t.Helper()
		m, err := read()
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	if m := must(); m["op"] != "ready" || m["user"] != sess.User.ID {
		t.Fatalf("first message %v", m)
	}
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"op":"subscribe","id":"s","collection":"todos"}`)); err != nil {
		t.Fatal(err)
	}
	if m := must(); m["op"] != "subscribed" {
		t.Fatalf("subscribe answered %v", m)
	}

	env := objectstore.Env{DB: store.EnvDBName(app.ID, "dev"), AllowClientCreate: true}
	p := objectstore.Principal{UserID: sess.User.ID}
	var written []objectstore.Object
	for _, title := range []string{"one", "two"} {
		o, err := s1.Node.Objects.Create(ctx, env, p, "todos", map[string]any{"title": title})
		if err != nil {
			t.Fatal(err)
		}
		written = append(written, o)
	}
	for _, o := range written {
		m := must()
		obj, _ := m["object"].(map[string]any)
		if m["sub"] != "s" || m["type"] != "created" || obj["_id"] != o.ID() || m["_seq"] != float64(o.Seq()) {
			t.Fatalf("event %v, want the creation of %s at %d", m, o.ID(), o.Seq())
		}
	}

	if err := s2.Node.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if m, err := read(); websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("after node 2 shut down: %v %v", m, err)
	}
}
