package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/internal/server"
	"github.com/skybridgehq/skybridge/internal/testenv"
	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
	"github.com/skybridgehq/skybridge/orchestration/trigger"
	"github.com/skybridgehq/skybridge/store"
)

// sysCall is one call the fake system received from a triggered flow.
type sysCall struct {
	Key     string `json:"key"`
	Trigger string `json:"trigger"`
	Object  string `json:"object"`
	Event   string `json:"event"`
	Time    string `json:"time"`
	// Header is the Idempotency-Key header the connector sent.
	Header string `json:"-"`
}

// fakeSystem is a local REST server standing in for the system a triggered
// flow notifies: it records every POST /notify. With hold set, a call
// whose object is hold waits until release is closed (or the client goes
// away), after signalling entered.
type fakeSystem struct {
	*httptest.Server
	mu      gosync.Mutex
	calls   []sysCall
	hold    string
	entered chan struct{}
	release chan struct{}
}

func newSystem(t *testing.T) *fakeSystem {
	t.Helper()
	s := &fakeSystem{entered: make(chan struct{}, 16), release: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var c sysCall
		if r.URL.Path != "/notify" || json.NewDecoder(r.Body).Decode(&c) != nil {
			http.Error(w, "bad call", http.StatusBadRequest)
			return
		}
		c.Header = r.Header.Get("Idempotency-Key")
		s.mu.Lock()
		s.calls = append(s.calls, c)
		hold := s.hold != "" && c.Object == s.hold
		s.mu.Unlock()
		if hold {
			s.entered <- struct{}{}
			select {
			case <-s.release:
			case <-r.Context().Done():
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true})
	}))
	t.Cleanup(func() {
		s.mu.Lock()
		if s.hold != "" {
			close(s.release)
			s.hold = ""
		}
		s.mu.Unlock()
		s.Close()
	})
	return s
}

func (s *fakeSystem) snapshot() []sysCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sysCall(nil), s.calls...)
}

// waitCalls waits until the system got at least n calls.
func (s *fakeSystem) waitCalls(t *testing.T, n int) []sysCall {
	t.Helper()
	if !testenv.WaitFor(context.Background(), 90*time.Second, func() bool { return len(s.snapshot()) >= n }) {
		t.Fatalf("the system got %d calls, want %d: %+v", len(s.snapshot()), n, s.snapshot())
	}
	return s.snapshot()
}

// byObject counts the calls per object and event.
func byObject(calls []sysCall) map[string]int {
	out := map[string]int{}
	for _, c := range calls {
		out[c.Object+"/"+c.Event]++
	}
	return out
}

// triggerBundle is a REST connector to the fake system, a server flow
// notifying it, and the trigger documents given.
func triggerBundle(triggers ...string) map[string]string {
	return map[string]string{
		"fakeSystem.yaml": `apiVersion: skybridge/v1
kind: Connector
name: sys
type: rest
config: {baseURL: "${env.SYSTEM}", timeout: 20s}
operations:
  notify: {method: POST, path: /notify, headers: {Idempotency-Key: "${args.key}"}, body: "${args}"}
---
apiVersion: skybridge/v1
kind: Flow
name: notify
auth: server
input: {key: string, trigger: string, object: string, event: string, time: string}
steps:
  - call: sys.notify
    with: {key: "${input.key}", trigger: "${input.trigger}", object: "${input.object}", event: "${input.event}", time: "${input.time}"}
`,
		"triggers.yaml": strings.Join(triggers, "\n---\n"),
	}
}

// notifyDo is the `do` of a trigger that notifies the system.
const notifyDo = `do: {flow: notify, input: {key: "${firing.key}", trigger: "${trigger.name}", object: "${object?._id ?? ''}", event: "${event.type}", time: "${event.time}"}}`

// fastTriggers makes a node poll its triggers often.
func fastTriggers(c *server.Config) { c.TriggerPollInterval = 50 * time.Millisecond }

// startTriggers starts a node on kind with fast trigger polling, an app,
// and the system's URL in the dev environment's variables.
func startTriggers(t *testing.T, kind string, sys *fakeSystem) *env {
	t.Helper()
	srv := testnode.Start(t, testnode.Options{Store: kind, Configure: fastTriggers})
	app := srv.CreateApp(t, "triggers")
	e := &env{t: t, srv: srv, app: app, keys: map[string]testnode.EnvKeys{"dev": app.Env(t, "dev")}, logs: &logBuffer{},
		admin: map[string]string{"Authorization": "Bearer " + srv.AdminToken(t)}}
	e.vars("dev", map[string]any{"SYSTEM": sys.URL})
	return e
}

// objects writes an object of the dev environment with the server key:
// method POST creates in col, PATCH and DELETE change object id.
func (e *env) object(method, col, id string, body map[string]any) {
	e.t.Helper()
	path := "/v1/collections/" + col + "/objects"
	if method != http.MethodPost {
		path += "/" + id
	} else {
		body["_id"] = id
	}
	keys := e.keys["dev"]
	resp, b := e.srv.Do(e.t, method, path, body, map[string]string{"X-Skybridge-Key": keys.AppKey, "X-Skybridge-Server-Key": keys.ServerKey})
	if resp.StatusCode/100 != 2 {
		e.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
}

// sysDB is the node's fakeSystem database.
func (e *env) sysDB() store.DB {
	e.t.Helper()
	db, err := e.srv.Node.Store.DB(context.Background(), store.SystemDB)
	if err != nil {
		e.t.Fatal(err)
	}
	return db
}

// firings returns the app's stored firings of trigger.
func (e *env) firings(name string) []store.Doc {
	e.t.Helper()
	page, err := e.sysDB().Collection(trigger.FiringsCollection).Find(context.Background(), store.Query{Limit: store.MaxLimit,
		Filter: store.And{Filters: []store.Filter{store.Compare{Path: "app", Op: store.OpEq, Value: e.app.ID}, store.Compare{Path: "trigger", Op: store.OpEq, Value: name}}}})
	if err != nil {
		e.t.Fatal(err)
	}
	return page.Docs
}

// waitCursor waits until a node has started reading the feed of the
// trigger: changes made from then on fire it.
func (e *env) waitCursor(name string) {
	e.t.Helper()
	ok := testenv.WaitFor(context.Background(), 20*time.Second, func() bool {
		page, err := e.sysDB().Collection(trigger.CursorsCollection).Find(context.Background(), store.Query{
			Filter: store.And{Filters: []store.Filter{store.Compare{Path: "app", Op: store.OpEq, Value: e.app.ID}, store.Compare{Path: "trigger", Op: store.OpEq, Value: name}}}})
		return err == nil && len(page.Docs) > 0
	})
	if !ok {
		e.t.Fatalf("trigger %s: no cursor within 20s", name)
	}
}

// waitStates waits until every firing of trigger is in a final state
// and returns the firings' states.
func (e *env) waitStates(name string, n int) map[string]int {
	e.t.Helper()
	var states map[string]int
	ok := testenv.WaitFor(context.Background(), 60*time.Second, func() bool {
		states = map[string]int{}
		docs := e.firings(name)
		for _, d := range docs {
			states[fmt.Sprint(d["state"])]++
		}
		return len(docs) >= n && states[trigger.StatePending]+states[trigger.StateRunning] == 0
	})
	if !ok {
		e.t.Fatalf("firings of %s not finished: %v", name, states)
	}
	return states
}
