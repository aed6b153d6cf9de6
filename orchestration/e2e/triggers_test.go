package e2e

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/internal/server"
	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
	"github.com/skybridgehq/skybridge/orchestration/trigger"
)

// TestTriggerObjectEvents: created, updated and deleted events of
// matching objects each call the system once, with the firing's key as
// the Idempotency-Key; objects outside the filter call nothing.
func TestTriggerObjectEvents(t *testing.T) {
	t.Parallel()
	sys := newSystem(t)
	e := startTriggers(t, "sqlite", sys)
	e.deploy("dev", triggerBundle(`apiVersion: skybridge/v1
kind: Trigger
name: carts
on: {collection: carts, events: [created, updated, deleted], filter: {status: open}}
`+notifyDo))
	e.waitCursor("carts")
	e.object(http.MethodPost, "carts", "c1", map[string]any{"status": "open"})
	sys.waitCalls(t, 1)
	e.object(http.MethodPost, "carts", "c2", map[string]any{"status": "closed"})
	e.object(http.MethodPatch, "carts", "c1", map[string]any{"qty": 2})
	sys.waitCalls(t, 2)
	e.object(http.MethodDelete, "carts", "c1", nil)
	sys.waitCalls(t, 3)
	states := e.waitStates("carts", 3)
	calls := sys.snapshot()
	want := map[string]int{"c1/created": 1, "c1/updated": 1, "c1/deleted": 1}
	if got := byObject(calls); len(got) != len(want) || got["c1/created"] != 1 || got["c1/updated"] != 1 || got["c1/deleted"] != 1 {
		t.Fatalf("calls = %v, want %v", got, want)
	}
	if states[trigger.StateDone] != 3 || len(e.firings("carts")) != 3 {
		t.Fatalf("firing states = %v, want 3 done", states)
	}
	keys := map[string]bool{}
	for _, c := range calls {
		if c.Key == "" || c.Header != c.Key || keys[c.Key] || c.Trigger != "carts" {
			t.Fatalf("call %+v: want a new key, sent as the Idempotency-Key", c)
		}
		keys[c.Key] = true
	}
}

// TestTriggerDelay: a delayed firing is replaced by later events of its
// object and fires once after the last; `unless`, evaluated on the object
// as it is at fire time, skips it.
func TestTriggerDelay(t *testing.T) {
	t.Parallel()
	sys := newSystem(t)
	e := startTriggers(t, "sqlite", sys)
	e.deploy("dev", triggerBundle(`apiVersion: skybridge/v1
kind: Trigger
name: reminder
on: {collection: carts, events: [created, updated], filter: {status: {$in: [open, checked_out]}}}
delay: 2s
unless: ${object.status == "checked_out"}
`+notifyDo))
	e.waitCursor("reminder")
	e.object(http.MethodPost, "carts", "a", map[string]any{"status": "open"})
	e.object(http.MethodPost, "carts", "b", map[string]any{"status": "open"})
	for i := range 3 {
		e.object(http.MethodPatch, "carts", "a", map[string]any{"qty": i})
	}
	e.object(http.MethodPatch, "carts", "b", map[string]any{"status": "checked_out"})
	states := e.waitStates("reminder", 2)
	calls := sys.snapshot()
	if len(calls) != 1 || calls[0].Object != "a" || calls[0].Event != "updated" {
		t.Fatalf("calls = %+v, want one for a's last update", calls)
	}
	if states[trigger.StateDone] != 1 || states[trigger.StateSkipped] != 1 {
		t.Fatalf("states = %v, want a done and b skipped", states)
	}
	for _, d := range e.firings("reminder") {
		if d["state"] == trigger.StateDone && d["key"] != calls[0].Key {
			t.Fatalf("the call's key %q is not the firing's %v", calls[0].Key, d["key"])
		}
	}
	// A later event after the firing ran starts a new one with a new key.
	e.object(http.MethodPatch, "carts", "a", map[string]any{"qty": 9})
	calls = sys.waitCalls(t, 2)
	if calls[1].Object != "a" || calls[1].Key == calls[0].Key {
		t.Fatalf("second firing %+v, want a new key for a", calls[1])
	}
}

// TestTriggerSchedule: a cron schedule with seconds, in a time zone,
// fires once per instant, each with its own key and instant.
func TestTriggerSchedule(t *testing.T) {
	t.Parallel()
	sys := newSystem(t)
	e := startTriggers(t, "sqlite", sys)
	e.deploy("dev", triggerBundle(`apiVersion: skybridge/v1
kind: Trigger
name: tick
schedule: {cron: "* * * * * *", timezone: America/New_York}
`+notifyDo))
	calls := sys.waitCalls(t, 3)
	seen := map[string]bool{}
	for _, c := range calls[:3] {
		at, err := time.Parse(time.RFC3339Nano, c.Time)
		if err != nil || at.Nanosecond() != 0 || c.Event != "schedule" {
			t.Fatalf("call %+v: want a whole-second schedule instant", c)
		}
		if seen[c.Time] || seen[c.Key] {
			t.Fatalf("instant or key fired twice: %+v in %+v", c, calls)
		}
		seen[c.Time], seen[c.Key] = true, true
	}
}

// TestTriggerTwoNodes: two nodes on one store (FerretDB) run every firing
// exactly once, whichever node the changes were written through.
func TestTriggerTwoNodes(t *testing.T) {
	t.Parallel()
	sys := newSystem(t)
	a := startTriggers(t, "ferretdb", sys)
	b := &env{t: t, srv: testnode.Start(t, testnode.Options{Store: "ferretdb", Configure: fastTriggers}), app: a.app, keys: a.keys, admin: a.admin, logs: &logBuffer{}}
	a.deploy("dev", triggerBundle(`apiVersion: skybridge/v1
kind: Trigger
name: orders
on: {collection: orders, events: [created]}
`+notifyDo))
	a.waitCursor("orders")
	const n = 20
	for i := range n {
		node := a
		if i%2 == 1 {
			node = b
		}
		node.object(http.MethodPost, "orders", "o"+strconv.Itoa(i), map[string]any{"n": i})
	}
	sys.waitCalls(t, n)
	states := a.waitStates("orders", n)
	calls := sys.snapshot()
	got := byObject(calls)
	for i := range n {
		if got["o"+strconv.Itoa(i)+"/created"] != 1 {
			t.Fatalf("object o%d called %d times; calls %v", i, got["o"+strconv.Itoa(i)+"/created"], got)
		}
	}
	if len(calls) != n || states[trigger.StateDone] != n {
		t.Fatalf("%d calls, states %v; want %d done", len(calls), states, n)
	}
}

// TestTriggerGracefulRestart: a node shut down mid-stream leaves nothing
// half done; a new node on the same data directory fires the rest, and
// every change fires exactly once.
func TestTriggerGracefulRestart(t *testing.T) {
	t.Parallel()
	sys := newSystem(t)
	a := startTriggers(t, "sqlite", sys)
	a.deploy("dev", triggerBundle(`apiVersion: skybridge/v1
kind: Trigger
name: orders
on: {collection: orders}
`+notifyDo))
	a.waitCursor("orders")
	const n = 10
	for i := range n {
		a.object(http.MethodPost, "orders", "o"+strconv.Itoa(i), map[string]any{"n": i})
	}
	sys.waitCalls(t, 1)
	if err := a.srv.Node.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	dir := a.srv.Config.DataDir
	srv := testnode.Start(t, testnode.Options{Configure: func(c *server.Config) { fastTriggers(c); c.DataDir = dir }})
	b := &env{t: t, srv: srv, app: a.app, keys: a.keys, logs: &logBuffer{}}
	for i := n; i < 2*n; i++ {
		b.object(http.MethodPost, "orders", "o"+strconv.Itoa(i), map[string]any{"n": i})
	}
	sys.waitCalls(t, 2*n)
	states := b.waitStates("orders", 2*n)
	calls := sys.snapshot()
	got := byObject(calls)
	for i := range 2 * n {
		if got["o"+strconv.Itoa(i)+"/created"] != 1 {
			t.Fatalf("object o%d called %d times: %v", i, got["o"+strconv.Itoa(i)+"/created"], got)
		}
	}
	if len(calls) != 2*n || states[trigger.StateDone] != 2*n {
		t.Fatalf("%d calls, states %v", len(calls), states)
	}
}
