package e2e

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// token is the upstream's bearer token: a secret of every environment.
const token = "tok-3f9a1c-very-secret"

// connector is the REST connector of the test bundles.
const connector = `apiVersion: skybridge/v1
kind: Connector
name: sys
type: rest
config:
  baseURL: "${env.UPSTREAM}"
  auth: {type: bearer, token: "${secret.SYS_TOKEN}"}
  timeout: 5s
  circuitBreaker: {failures: 3, window: 1m, openFor: 1h}
operations:
  getCustomer: {method: GET, path: "/customers/{id}"}
  listOrders: {method: GET, path: "/orders?customer={customer}"}
  getItem: {method: GET, path: "/items/{n}"}
  barrier: {method: GET, path: "/barrier/{side}"}
  flaky: {method: GET, path: "/flaky/{key}"}
  broken: {method: GET, path: "/broken"}
  slow: {method: GET, path: "/slow"}
  whoami: {method: GET, path: "/whoami"}
`

// flows exercises every step kind.
const flows = `apiVersion: skybridge/v1
kind: Flow
name: kinds
auth: public
input: {id: {type: string, required: true, pattern: "^[a-z0-9]+$"}}
steps:
  - {id: customer, call: sys.getCustomer, with: {id: "${input.id}"}}
  - set: {label: "${upper(steps.customer.fullName)}"}
  - id: discount
    if: ${steps.customer.tier == "gold"}
    then: [{transform: 10}]
    else: [{transform: 0}]
  - id: perks
    switch: ${steps.customer.tier}
    cases:
      gold: [{transform: [lounge, upgrade]}]
    default: [{transform: []}]
  - id: both
    parallel:
      - {id: orders, call: sys.listOrders, with: {customer: "${input.id}"}}
      - {id: sub, flow: greeting, with: {name: "${steps.customer.fullName}"}}
  - id: items
    foreach: ${[1, 2, 3]}
    concurrency: 2
    steps:
      - {id: item, call: sys.getItem, with: {n: "${item}"}}
    output: ${steps.item.double}
  - id: shape
    transform: {count: "${len(steps.orders.rows)}", first: "${steps.orders.rows[0].ORDER_NO}"}
  - if: ${input.id == "blocked"}
    then: [{fail: {status: 403, title: Blocked, detail: "customer ${input.id} is blocked"}}]
output:
  label: ${vars.label}
  discount: ${steps.discount}
  perks: ${steps.perks}
  orders: "${map(steps.orders.rows, ({id: #.ORDER_NO, total: #.AMOUNT}))}"
  greeting: ${steps.sub}
  items: ${steps.items}
  shape: ${steps.shape}
  text: "${steps.customer.fullName} has ${len(steps.orders.rows)} orders"
---
apiVersion: skybridge/v1
kind: Flow
name: greeting
auth: public
input: {name: {type: string, required: true}}
steps:
  - transform: "hello ${input.name}"
---
apiVersion: skybridge/v1
kind: Flow
name: meet
auth: public
steps:
  - parallel:
      - {id: left, call: sys.barrier, with: {side: left}}
      - {id: right, call: sys.barrier, with: {side: right}}
output: {sides: ["${steps.left.side}", "${steps.right.side}"]}
---
apiVersion: skybridge/v1
kind: Flow
name: retried
auth: public
input: {key: {type: string, required: true}}
steps:
  - id: f
    call: sys.flaky
    with: {key: "${input.key}"}
    retry: {attempts: 3, backoff: 1ms, on: [status]}
output: ${steps.f}
---
apiVersion: skybridge/v1
kind: Flow
name: fragile
auth: public
steps:
  - {id: b, call: sys.broken}
errors:
  - when: {kind: circuit-open}
    status: 503
    title: Backend resting
---
apiVersion: skybridge/v1
kind: Flow
name: tolerant
auth: public
steps:
  - {id: b, call: sys.broken, onError: continue}
  - {id: s, call: sys.slow, timeout: 50ms, fallback: {value: {from: fallback}}}
output: {broken: "${steps.b}", slow: "${steps.s.from}"}
---
apiVersion: skybridge/v1
kind: Flow
name: sluggish
auth: public
timeout: 100ms
steps:
  - {id: s, call: sys.slow}
---
apiVersion: skybridge/v1
kind: Flow
name: internal
auth: server
steps:
  - transform: {ok: true}
---
apiVersion: skybridge/v1
kind: Flow
name: whoami
auth: user
steps:
  - {id: w, call: sys.whoami}
output: {user: "${user.id}", upstreamSaw: "${steps.w.authorized}", trace: "${steps.w.traceparent}"}
`

// system is the enterprise system behind the connector.
func system(t *testing.T, release <-chan struct{}) *upstream {
	arrived := map[string]chan struct{}{"left": make(chan struct{}), "right": make(chan struct{})}
	var flaky atomic.Int64
	return newUpstream(t, map[string]http.HandlerFunc{
		"GET /customers/{id}": func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer "+token {
				// Echo what came: a careless system quotes credentials.
				writeJSON(w, 401, map[string]string{"error": "bad token " + r.Header.Get("Authorization")})
				return
			}
			id := r.PathValue("id")
			tier := "silver"
			if strings.HasPrefix(id, "g") {
				tier = "gold"
			}
			writeJSON(w, 200, map[string]any{"id": id, "fullName": "Ada " + id, "tier": tier})
		},
		"GET /orders": func(w http.ResponseWriter, r *http.Request) {
			c := r.URL.Query().Get("customer")
			writeJSON(w, 200, map[string]any{"rows": []map[string]any{{"ORDER_NO": c + "-1", "AMOUNT": 12.5}, {"ORDER_NO": c + "-2", "AMOUNT": 99}}})
		},
		"GET /items/{n}": func(w http.ResponseWriter, r *http.Request) {
			var n int
			fmt.Sscan(r.PathValue("n"), &n)
			writeJSON(w, 200, map[string]any{"double": n * 2})
		},
		"GET /barrier/{side}": func(w http.ResponseWriter, r *http.Request) {
			side := r.PathValue("side")
			other := map[string]string{"left": "right", "right": "left"}[side]
			close(arrived[side])
			// Each side answers only once the other has arrived: run one
			// after the other, the first would wait for ever.
			select {
			case <-arrived[other]:
				writeJSON(w, 200, map[string]string{"side": side})
			case <-time.After(10 * time.Second):
				writeJSON(w, 500, map[string]string{"error": "the other branch never came"})
			}
		},
		"GET /flaky/{key}": func(w http.ResponseWriter, r *http.Request) {
			if flaky.Add(1)%3 != 0 {
				writeJSON(w, 503, map[string]string{"error": "try again"})
				return
			}
			writeJSON(w, 200, map[string]string{"key": r.PathValue("key")})
		},
		"GET /broken": func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 500, map[string]string{"error": "down"})
		},
		"GET /slow": func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
			writeJSON(w, 200, map[string]string{"from": "slow"})
		},
		"GET /whoami": func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]any{"authorized": r.Header.Get("Authorization") == "Bearer "+token, "traceparent": r.Header.Get("Traceparent")})
		},
	})
}

// deployed starts a node whose dev environment runs connector+flows
// against a fresh system.
func deployed(t *testing.T) (*env, *upstream) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	u := system(t, release)
	e := start(t)
	e.vars("dev", map[string]any{"UPSTREAM": u.URL})
	e.secret("dev", "SYS_TOKEN", token)
	e.deploy("dev", map[string]string{"connectors/sys.yaml": connector, "flows/all.yaml": flows})
	return e, u
}

// TestEveryStepKindOverHTTP: call, set, if, switch, parallel (with a flow
// step inside), foreach, transform and fail, served at /v1/flows.
func TestEveryStepKindOverHTTP(t *testing.T) {
	e, u := deployed(t)
	st, out, _ := e.flow("dev", "kinds", "id=g7", nil)
	if st != 200 {
		t.Fatalf("kinds: %d %v", st, out)
	}
	want := map[string]any{
		"label":    "ADA G7",
		"discount": 10.0,
		"perks":    []any{"lounge", "upgrade"},
		"orders":   []any{map[string]any{"id": "g7-1", "total": 12.5}, map[string]any{"id": "g7-2", "total": 99.0}},
		"greeting": "hello Ada g7",
		"items":    []any{2.0, 4.0, 6.0},
		"shape":    map[string]any{"count": 2.0, "first": "g7-1"},
		"text":     "Ada g7 has 2 orders",
	}
	if !reflect.DeepEqual(out, want) {
		t.Fatalf("kinds answered\n%v\nwant\n%v", out, want)
	}
	if u.count("/items/{n}") != 3 {
		t.Fatalf("foreach made %d item calls, want 3", u.count("/items/{n}"))
	}
	// The other branches of if and switch.
	if st, out, _ := e.flow("dev", "kinds", "id=s1", nil); st != 200 || out["discount"] != 0.0 || len(out["perks"].([]any)) != 0 {
		t.Fatalf("silver: %d %v", st, out)
	}
	// fail answers its problem.
	st, out, resp := e.flow("dev", "kinds", "id=blocked", nil)
	if st != 403 || out["title"] != "Blocked" || out["detail"] != "customer blocked is blocked" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		t.Fatalf("fail step: %d %v", st, out)
	}
	// Input is checked before anything runs.
	for q, field := range map[string]string{"": "id", "id=Not-Valid": "id"} {
		st, out, _ := e.flow("dev", "kinds", q, nil)
		errs, _ := out["errors"].([]any)
		if st != 400 || len(errs) != 1 || errs[0].(map[string]any)["field"] != field {
			t.Fatalf("input %q: %d %v", q, st, out)
		}
	}
	if st, out, _ := e.flow("dev", "nope", "", nil); st != 404 {
		t.Fatalf("unknown flow: %d %v", st, out)
	}
}

// TestParallelBranchesRunConcurrently: the two branches' calls wait for
// each other at a barrier in the system; run one after the other, the
// flow could not answer.
func TestParallelBranchesRunConcurrently(t *testing.T) {
	e, _ := deployed(t)
	st, out, _ := e.flow("dev", "meet", "", nil)
	if st != 200 || !reflect.DeepEqual(out["sides"], []any{"left", "right"}) {
		t.Fatalf("meet: %d %v", st, out)
	}
}

// TestRetriesAndCircuitBreaker: a call failing twice with 503 succeeds on
// its third attempt; a system failing every call opens the connector's
// circuit after three failures, and later calls are refused without
// reaching it, answered by the flow's error mapping.
func TestRetriesAndCircuitBreaker(t *testing.T) {
	e, u := deployed(t)
	st, out, _ := e.flow("dev", "retried", "key=k1", nil)
	if st != 200 || out["key"] != "k1" || u.count("/flaky/{key}") != 3 {
		t.Fatalf("retried: %d %v after %d attempts", st, out, u.count("/flaky/{key}"))
	}
	for i := range 3 {
		if st, out, _ := e.flow("dev", "fragile", "", nil); st != 502 {
			t.Fatalf("call %d of a broken system: %d %v", i, st, out)
		}
	}
	before := u.count("/broken")
	for range 5 {
		st, out, _ := e.flow("dev", "fragile", "", nil)
		if st != 503 || out["title"] != "Backend resting" {
			t.Fatalf("open circuit: %d %v", st, out)
		}
	}
	if u.count("/broken") != before {
		t.Fatalf("an open circuit still called the system (%d calls, %d before)", u.count("/broken"), before)
	}
}

// TestTimeouts: a step timeout ends a blocking call and its fallback
// answers; a flow timeout ends the flow with 504; onError continue
// leaves a null result.
func TestTimeouts(t *testing.T) {
	e, _ := deployed(t)
	st, out, _ := e.flow("dev", "tolerant", "", nil)
	if st != 200 || out["slow"] != "fallback" || out["broken"] != nil {
		t.Fatalf("tolerant: %d %v", st, out)
	}
	st, out, _ = e.flow("dev", "sluggish", "", nil)
	if st != 504 {
		t.Fatalf("sluggish: %d %v", st, out)
	}
}

// TestFlowAuth: a user flow needs a signed-in user, whose id it sees; the
// connector's secret reaches the system but no response; the caller's
// traceparent reaches the system too.
func TestFlowAuth(t *testing.T) {
	e, _ := deployed(t)
	if st, out, _ := e.flow("dev", "whoami", "", nil); st != 401 {
		t.Fatalf("whoami without a user: %d %v", st, out)
	}
	resp, b := e.srv.Do(t, http.MethodPost, "/v1/auth/signup", map[string]string{"email": "ada@example.com", "password": "violet tractor at noon"},
		map[string]string{"X-Skybridge-Key": e.keys["dev"].AppKey})
	var s struct {
		AccessToken string
		User        struct{ ID string }
	}
	if resp.StatusCode != 201 || jsonInto(b, &s) != nil {
		t.Fatalf("signup: %d %s", resp.StatusCode, b)
	}
	const trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	st, out, _ := e.flow("dev", "whoami", "", map[string]string{"Authorization": "Bearer " + s.AccessToken, "Traceparent": trace})
	if st != 200 || out["user"] != s.User.ID || out["upstreamSaw"] != true || out["trace"] != trace {
		t.Fatalf("whoami: %d %v", st, out)
	}
	// The admin test route runs it as a chosen user of the environment.
	st, out = e.adminDo(http.MethodPost, "dev", "/flows/whoami/test", map[string]any{"user": s.User.ID})
	if o, _ := out["output"].(map[string]any); st != 200 || o["user"] != s.User.ID {
		t.Fatalf("test run as the user: %d %v", st, out)
	}
	if st, out := e.adminDo(http.MethodPost, "dev", "/flows/whoami/test", map[string]any{"user": "nobody"}); st != 404 {
		t.Fatalf("test run as an unknown user: %d %v", st, out)
	}
	// A server flow needs the server key; a user's token is not enough.
	if st, out, _ := e.flow("dev", "internal", "", map[string]string{"Authorization": "Bearer " + s.AccessToken}); st != 401 {
		t.Fatalf("server flow with a user token: %d %v", st, out)
	}
	if st, out, _ := e.flow("dev", "internal", "", map[string]string{"X-Skybridge-Server-Key": e.keys["dev"].ServerKey}); st != 200 || out["ok"] != true {
		t.Fatalf("server flow with the server key: %d %v", st, out)
	}
	e.assertNoSecret(token)
}
