package api

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/skybridgehq/skybridge/auth"

	"github.com/skybridgehq/skybridge/internal/testenv/teststore"
	"github.com/skybridgehq/skybridge/objectstore"
	"github.com/skybridgehq/skybridge/store"
)

// The key and token come as headers, as query parameters or in the first
// message; without a key, or with a bad one, nothing is served.
func TestRealtimeAuth(t *testing.T) {
	t.Parallel()
	e := newRealtimeEnv(t, nil)
	key := e.key("dev")
	s := e.signup("dev", "ada@example.com", testUserPassword)

	// Headers.
	c := mustDial(t, e.srv, "", rtHeaders(key, s.AccessToken))
	if r := c.expectOp("ready"); r["user"] != s.User.ID {
		t.Errorf("ready by header: %v", r)
	}
	// Query parameters (browsers cannot set handshake headers).
	c = mustDial(t, e.srv, "key="+url.QueryEscape(key)+"&access_token="+url.QueryEscape(s.AccessToken), nil)
	if r := c.expectOp("ready"); r["user"] != s.User.ID {
		t.Errorf("ready by query: %v", r)
	}
	// Key only: an anonymous caller.
	c = mustDial(t, e.srv, "key="+url.QueryEscape(key), nil)
	if r := c.expectOp("ready"); r["user"] != nil {
		t.Errorf("anonymous ready: %v", r)
	}
	// First message.
	c = mustDial(t, e.srv, "", nil)
	c.send(map[string]any{"op": "auth", "key": key, "token": s.AccessToken})
	if r := c.expectOp("ready"); r["user"] != s.User.ID {
		t.Errorf("ready by first message: %v", r)
	}
	c.send(map[string]any{"op": "auth", "key": key})
	if r := c.expectOp("error"); r["error"].(map[string]any)["status"] != float64(400) {
		t.Errorf("second auth: %v", r)
	}

	// Refusals at the handshake: a 401 problem, no upgrade.
	for name, h := range map[string]http.Header{
		"no key":               nil,
		"bad key":              rtHeaders(key+"x", ""),
		"bad token":            rtHeaders(key, s.AccessToken+"x"),
		"token of another app": rtHeaders(func() string { k, _ := e.other.keys(t, "dev"); return k }(), s.AccessToken),
	} {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", e.srv.URL+"/v1/realtime", nil)
		for k, v := range h {
			req.Header[k] = v
		}
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 401 || resp.Header.Get("Content-Type") != ProblemContentType {
			t.Errorf("%s: %d %s", name, resp.StatusCode, body)
		}
		if name == "no key" {
			continue
		}
		if _, resp, err := dialRealtime(t, e.srv, "", h); err == nil || resp == nil || resp.StatusCode != 401 {
			t.Errorf("%s: WebSocket handshake not refused with 401 (%v)", name, err)
		}
	}
	// A plain GET with a good key: not a WebSocket, a 400 naming Upgrade.
	st, body := e.callWith(map[string]string{AppKeyHeader: key}, "GET", "/v1/realtime", nil)
	if st != 400 || !strings.Contains(string(body), `"field":"Upgrade"`) {
		t.Errorf("plain GET: %d %s", st, body)
	}

	// Refusals after the handshake: an error message, then close 1008.
	for name, first := range map[string]map[string]any{
		"subscribe first": {"op": "subscribe", "id": "s1", "collection": "todos"},
		"bad key":         {"op": "auth", "key": key + "x"},
		"bad token":       {"op": "auth", "key": key, "token": "nope"},
		"garbage":         {"op": "hello"},
	} {
		c := mustDial(t, e.srv, "", nil)
		c.send(first)
		r := c.expectOp("error")
		if p := r["error"].(map[string]any); p["status"] == float64(500) {
			t.Errorf("%s: %v", name, p)
		}
		if _, err := c.read(); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
			t.Errorf("%s: closed with %v, want 1008", name, err)
		}
	}
}

// forEachRealtimeStore runs f on an rtEnv over each store adapter.
func forEachRealtimeStore(t *testing.T, f func(t *testing.T, e *rtEnv)) {
	t.Helper()
	for _, name := range []string{"sqlite", "ferretdb"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var p store.Provider
			if name == "ferretdb" {
				p = teststore.FerretDB(t)
			}
			f(t, newRealtimeEnv(t, p))
		})
	}
}

// Creates, updates and deletes arrive with their _seq under the read rule
// and the filter; another user's private objects never arrive.
func TestRealtimeEvents(t *testing.T) {
	t.Parallel()
	forEachRealtimeStore(t, func(t *testing.T, e *rtEnv) {
		ctx := t.Context()
		key := e.key("dev")
		ada := e.signup("dev", "ada@example.com", testUserPassword)
		bob := e.signup("dev", "bob@example.com", testUserPassword)
		adaP := objectstore.Principal{UserID: ada.User.ID}
		bobP := objectstore.Principal{UserID: bob.User.ID}
		env := e.env("dev")
		objs := e.node.objects
		// The collection exists before the subscriptions.
		first, err := objs.Create(ctx, env, adaP, "todos", map[string]any{"title": "before"})
		if err != nil {
			t.Fatal(err)
		}

		ca := mustDial(t, e.srv, "", rtHeaders(key, ada.AccessToken))
		ca.expectOp("ready")
		if seq := ca.subscribe(map[string]any{"id": "all", "collection": "todos"}); seq != first.Seq() {
			t.Errorf("ack _seq %d, want the feed's end %d", seq, first.Seq())
		}
		ca.subscribe(map[string]any{"id": "done", "collection": "todos", "filter": map[string]any{"done": true}})
		cb := mustDial(t, e.srv, "", rtHeaders(key, bob.AccessToken))
		cb.expectOp("ready")
		cb.subscribe(map[string]any{"id": "b", "collection": "todos"})

		// A bad filter is an error naming the filter; the connection goes on.
		ca.send(map[string]any{"op": "subscribe", "id": "bad", "collection": "todos", "filter": map[string]any{"n": map[string]any{"$where": "1"}}})
		r := ca.expectOp("error")
		if r["id"] != "bad" || r["error"].(map[string]any)["errors"].([]any)[0].(map[string]any)["field"] != "filter" {
			t.Errorf("bad filter: %v", r)
		}

		a1, err := objs.Create(ctx, env, adaP, "todos", map[string]any{"title": "one"})
		if err != nil {
			t.Fatal(err)
		}
		a1u, err := objs.Patch(ctx, env, adaP, "todos", a1.ID(), map[string]any{"done": true}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := objs.Create(ctx, env, bobP, "todos", map[string]any{"title": "bob's secret", "done": true}); err != nil {
			t.Fatal(err)
		}
		a1d, err := objs.Delete(ctx, env, adaP, "todos", a1.ID(), 0)
		if err != nil {
			t.Fatal(err)
		}
		shared, err := objs.Create(ctx, env, bobP, "todos", map[string]any{"title": "for ada", "_acl": map[string]any{"read": []any{ada.User.ID}}})
		if err != nil {
			t.Fatal(err)
		}

		// Ada: "all" sees her create, update, delete and bob's shared
		// object; "done" sees the update (the match) and the delete.
		want := []string{
			fmt.Sprint("all created ", a1.ID(), " ", a1.Seq()),
			fmt.Sprint("all updated ", a1.ID(), " ", a1u.Seq()),
			fmt.Sprint("done updated ", a1.ID(), " ", a1u.Seq()),
			fmt.Sprint("all deleted ", a1.ID(), " ", a1d.Seq()),
			fmt.Sprint("done deleted ", a1.ID(), " ", a1d.Seq()),
			fmt.Sprint("all created ", shared.ID(), " ", shared.Seq()),
		}
		for i, w := range want {
			ev := ca.nextEvent()
			if got := fmt.Sprint(ev.sub, " ", ev.typ, " ", ev.id, " ", ev.seq); got != w {
				t.Fatalf("ada's event %d: %s, want %s", i, got, w)
			}
		}
		// Bob sees his own two objects and none of ada's.
		for _, w := range []string{"bob's secret", "for ada"} {
			if ev := cb.nextEvent(); ev.obj["title"] != w || ev.obj["_owner"] != bob.User.ID {
				t.Fatalf("bob got %+v, want %q", ev, w)
			}
		}

		// Unsubscribe stops the events of that subscription only.
		ca.send(map[string]any{"op": "unsubscribe", "id": "done"})
		ca.expectOp("unsubscribed")
		last, err := objs.Create(ctx, env, adaP, "todos", map[string]any{"title": "last", "done": true})
		if err != nil {
			t.Fatal(err)
		}
		if ev := ca.nextEvent(); ev.sub != "all" || ev.id != last.ID() {
			t.Fatalf("after unsubscribe: %+v", ev)
		}
		// A marker to be sure nothing else was queued for "done".
		marker, err := objs.Create(ctx, env, adaP, "todos", map[string]any{"title": "marker"})
		if err != nil {
			t.Fatal(err)
		}
		if ev := ca.nextEvent(); ev.id != marker.ID() {
			t.Fatalf("after unsubscribe: %+v", ev)
		}

		// The server key reads everything, anonymous callers nothing
		// under the owner rule.
		srvKey := func() string { _, k := e.app.keys(t, "dev"); return k }()
		cs := mustDial(t, e.srv, "", http.Header{AppKeyHeader: {key}, ServerKeyHeader: {srvKey}})
		cs.expectOp("ready")
		cs.subscribe(map[string]any{"id": "s", "collection": "todos"})
		secret, err := objs.Create(ctx, env, bobP, "todos", map[string]any{"title": "server sees"})
		if err != nil {
			t.Fatal(err)
		}
		if ev := cs.nextEvent(); ev.id != secret.ID() {
			t.Fatalf("server key: %+v", ev)
		}
	})
}

// A connection ends when its access token expires: the client comes back
// with a fresh token (and since), so a revoked session stops receiving.
func TestRealtimeTokenExpiry(t *testing.T) {
	t.Parallel()
	e := newRealtimeEnvAuth(t, nil, nil, "", auth.Config{AccessTokenTTL: 2 * time.Second})
	s := e.signup("dev", "ada@example.com", testUserPassword)
	byMessage := mustDial(t, e.srv, "", nil)
	byMessage.send(map[string]any{"op": "auth", "key": e.key("dev"), "token": s.AccessToken})
	byHeader := mustDial(t, e.srv, "", rtHeaders(e.key("dev"), s.AccessToken))
	for name, c := range map[string]*rtClient{"header": byHeader, "first message": byMessage} {
		c.expectOp("ready")
		if _, err := c.read(); websocket.CloseStatus(err) != websocket.StatusPolicyViolation || !strings.Contains(err.Error(), reasonTokenExpired) {
			t.Errorf("%s: connection ended with %v, want 1008 %q", name, err, reasonTokenExpired)
		}
	}
	// Without a token nothing expires: a subscription still answers.
	c := mustDial(t, e.srv, "key="+url.QueryEscape(e.key("dev")), nil)
	c.expectOp("ready")
	c.send(map[string]any{"op": "unsubscribe", "id": "none"})
	c.expectOp("error")
}

// A connection holds at most realtimeMaxSubs subscriptions, spends a
// bounded operation budget, and is closed on an oversized message.
func TestRealtimeLimits(t *testing.T) {
	t.Parallel()
	e := newRealtimeEnv(t, nil)
	key, srvKey := e.app.keys(t, "dev")
	c := mustDial(t, e.srv, "", http.Header{AppKeyHeader: {key}, ServerKeyHeader: {srvKey}})
	c.expectOp("ready")
	for i := range realtimeMaxSubs {
		c.subscribe(map[string]any{"id": fmt.Sprint("s", i), "collection": "todos"})
	}
	c.send(map[string]any{"op": "subscribe", "id": "one-too-many", "collection": "todos"})
	if r := c.expectOp("error"); r["id"] != "one-too-many" || r["error"].(map[string]any)["status"] != float64(400) {
		t.Errorf("subscription %d: %v", realtimeMaxSubs+1, r)
	}
	c.send(map[string]any{"op": "subscribe", "id": "s0", "collection": "todos"})
	if r := c.expectOp("error"); r["id"] != "s0" {
		t.Errorf("duplicate id: %v", r)
	}
	// Churn past the budget: 429 problems, the connection stays.
	throttled := false
	for i := 0; i < 2*realtimeOpBurst && !throttled; i++ {
		c.send(map[string]any{"op": "unsubscribe", "id": "nope"})
		r := c.expectOp("error")
		throttled = r["error"].(map[string]any)["status"] == float64(429)
	}
	if !throttled {
		t.Error("no operation was throttled")
	}
	// Oversized message: closed with 1009.
	c.send(map[string]any{"op": "subscribe", "id": "big", "collection": "todos", "filter": map[string]any{"t": strings.Repeat("x", realtimeMaxMessage)}})
	for {
		_, err := c.read()
		if err != nil {
			if websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
				t.Errorf("oversized message: %v", err)
			}
			break
		}
	}
}

// A connection whose user is disabled, or whose session is logged out,
// is closed at the next session check, long before its token expires.
func TestRealtimeSessionRevoked(t *testing.T) {
	t.Parallel()
	e := newRealtimeEnv(t, nil)
	admin := e.login()
	for _, how := range []string{"disable", "logout"} {
		s := e.signup("dev", how+"@example.com", testUserPassword)
		c := mustDial(t, e.srv, "", rtHeaders(e.key("dev"), s.AccessToken))
		c.expectOp("ready")
		switch how {
		case "disable":
			e.json(request{method: "PATCH", path: "/admin/api/apps/" + e.app.ID + "/environments/dev/users/" + s.User.ID,
				body: map[string]any{"disabled": true}, headers: bearer(admin)}, 200, nil)
		case "logout":
			e.expect("dev", "POST", "/v1/auth/logout", s.AccessToken, map[string]any{}, http.StatusNoContent, nil)
		}
		if _, err := c.read(); websocket.CloseStatus(err) != websocket.StatusPolicyViolation || !strings.Contains(err.Error(), reasonSessionRevoked) {
			t.Errorf("%s: connection ended with %v, want 1008 %q", how, err, reasonSessionRevoked)
		}
	}
}
