package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/internal/testenv"
)

// versioned is a bundle whose every part says which version it is: the
// connector's operation path, a called flow and the output. A request
// that saw parts of two deployments would answer mixed stamps.
func versioned(v int) map[string]string {
	return map[string]string{
		"connectors/sys.yaml": fmt.Sprintf(`apiVersion: skybridge/v1
kind: Connector
name: sys
type: rest
config: {baseURL: "${env.UPSTREAM}", auth: {type: bearer, token: "${secret.SYS_TOKEN}"}}
operations:
  stamp: {method: GET, path: "/stamp/%d"}
`, v),
		"flows/stamp.yaml": fmt.Sprintf(`apiVersion: skybridge/v1
kind: Flow
name: stamp
auth: public
steps:
  - {id: up, call: sys.stamp}
  - {id: inner, flow: inner}
output: {up: "${steps.up.v}", inner: "${steps.inner}", own: %d}
---
apiVersion: skybridge/v1
kind: Flow
name: inner
auth: public
steps:
  - transform: %d
`, v, v),
	}
}

// stampSystem answers /stamp/N with {"v": N}, counting calls.
func stampSystem(t *testing.T) *upstream {
	return newUpstream(t, map[string]http.HandlerFunc{
		"GET /stamp/{v}": func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer "+token {
				writeJSON(w, 401, map[string]string{"error": "bad token " + r.Header.Get("Authorization")})
				return
			}
			var v int
			fmt.Sscan(r.PathValue("v"), &v)
			writeJSON(w, 200, map[string]int{"v": v})
		},
	})
}

// TestDeploymentsSwapAtomicallyUnderLoad: 20 deployments while 8 clients
// call the flow without pause: no request fails, every answer comes
// whole from one version, and versions only move forward for a client.
func TestDeploymentsSwapAtomicallyUnderLoad(t *testing.T) {
	u := stampSystem(t)
	e := start(t)
	e.vars("dev", map[string]any{"UPSTREAM": u.URL})
	e.secret("dev", "SYS_TOKEN", token)
	e.deploy("dev", versioned(1))
	ctx, stop := context.WithCancel(context.Background())
	var wg gosync.WaitGroup
	var calls atomic.Int64
	failures := make(chan string, 16)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := 0
			for ctx.Err() == nil {
				st, out, _, err := e.tryFlow("dev", "stamp", "", nil)
				calls.Add(1)
				if err != nil || st != 200 {
					failures <- fmt.Sprintf("status %d %v: %v", st, out, err)
					return
				}
				up, inner, own := out["up"], out["inner"], out["own"]
				if up != inner || inner != own {
					failures <- fmt.Sprintf("mixed versions in one answer: %v", out)
					return
				}
				v := int(own.(float64))
				if v < last {
					failures <- fmt.Sprintf("went back from version %d to %d", last, v)
					return
				}
				last = v
			}
		}()
	}
	for v := 2; v <= 21; v++ {
		if got := e.deploy("dev", versioned(v)); got != v {
			t.Errorf("deployment %d got version %d", v, got)
		}
	}
	stop()
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Error(f)
	}
	if st, out, _ := e.flow("dev", "stamp", "", nil); st != 200 || out["own"] != 21.0 {
		t.Fatalf("after 20 deployments: %d %v", st, out)
	}
	t.Logf("%d calls during 20 deployments", calls.Load())
}

// TestPromoteAndRollback: a bundle promoted from dev to prod runs
// unchanged against prod's own variables and secrets, refused while prod
// lacks them; a rollback puts the previous version live again.
func TestPromoteAndRollback(t *testing.T) {
	devSys, prodSys := stampSystem(t), stampSystem(t)
	e := start(t)
	e.vars("dev", map[string]any{"UPSTREAM": devSys.URL})
	e.secret("dev", "SYS_TOKEN", token)
	v1 := e.deploy("dev", versioned(1))
	// prod has no variables yet: the promotion is refused, naming them.
	st, out := e.adminDo(http.MethodPost, "dev", fmt.Sprintf("/deployments/%d/promote", v1), map[string]string{"to": "prod"})
	if st != 400 || !strings.Contains(fmt.Sprint(out["errors"]), "UPSTREAM") || !strings.Contains(fmt.Sprint(out["errors"]), "SYS_TOKEN") {
		t.Fatalf("promote without prod configuration: %d %v", st, out)
	}
	if st, out, _ := e.flow("prod", "stamp", "", nil); st != 404 {
		t.Fatalf("prod before promotion: %d %v", st, out)
	}
	e.vars("prod", map[string]any{"UPSTREAM": prodSys.URL})
	e.secret("prod", "SYS_TOKEN", token)
	if st, out := e.adminDo(http.MethodPost, "dev", fmt.Sprintf("/deployments/%d/promote", v1), map[string]string{"to": "prod"}); st != 201 {
		t.Fatalf("promote: %d %v", st, out)
	}
	if st, out, _ := e.flow("prod", "stamp", "", nil); st != 200 || out["own"] != 1.0 {
		t.Fatalf("prod after promotion: %d %v", st, out)
	}
	if prodSys.count("/stamp/{v}") != 1 || devSys.count("/stamp/{v}") != 0 {
		t.Fatalf("prod's flow called dev's system (prod %d, dev %d calls)", prodSys.count("/stamp/{v}"), devSys.count("/stamp/{v}"))
	}
	// Two versions in dev, then back to the first.
	e.deploy("dev", versioned(2))
	if st, out, _ := e.flow("dev", "stamp", "", nil); st != 200 || out["own"] != 2.0 {
		t.Fatalf("dev v2: %d %v", st, out)
	}
	st, out = e.adminDo(http.MethodPost, "dev", "/rollback", map[string]any{})
	if st/100 != 2 {
		t.Fatalf("rollback: %d %v", st, out)
	}
	if st, out, _ := e.flow("dev", "stamp", "", nil); st != 200 || out["own"] != 1.0 {
		t.Fatalf("after rollback: %d %v", st, out)
	}
	// prod is untouched by dev's rollback.
	if st, out, _ := e.flow("prod", "stamp", "", nil); st != 200 || out["own"] != 1.0 {
		t.Fatalf("prod after dev's rollback: %d %v", st, out)
	}
	st, out = e.adminDo(http.MethodGet, "dev", "/deployments", nil)
	if st != 200 {
		t.Fatalf("history: %d %v", st, out)
	}
	e.assertNoSecret(token)
}

// TestValidationErrorsOverHTTP: a bad bundle is refused with a problem
// whose errors name file, line and column, and nothing goes live.
func TestValidationErrorsOverHTTP(t *testing.T) {
	u := stampSystem(t)
	e := start(t)
	e.vars("dev", map[string]any{"UPSTREAM": u.URL})
	e.secret("dev", "SYS_TOKEN", token)
	files := versioned(1)
	files["flows/stamp.yaml"] = strings.Replace(files["flows/stamp.yaml"], "call: sys.stamp", "call: sys.nope", 1)
	files["flows/extra.yaml"] = "apiVersion: skybridge/v1\nkind: Flow\nname: extra\nauth: public\nsteps:\n  - id: a\n    transform: ${1 +}\n  - id: a\n    transform: 2\n"
	st, out := e.adminDo(http.MethodPost, "dev", "/deployments", map[string]any{"files": files})
	if st != 400 {
		t.Fatalf("bad bundle: %d %v", st, out)
	}
	want := map[string]bool{"flows/stamp.yaml:6": false, "flows/extra.yaml:7": false, "flows/extra.yaml:8": false}
	for _, x := range out["errors"].([]any) {
		m := x.(map[string]any)
		if m["column"].(float64) < 1 || m["message"] == "" {
			t.Errorf("error without column or message: %v", m)
		}
		k := fmt.Sprintf("%s:%.0f", m["file"], m["line"])
		if _, ok := want[k]; ok {
			want[k] = true
		}
	}
	for k, seen := range want {
		if !seen {
			t.Errorf("no error at %s in %v", k, out["errors"])
		}
	}
	if st, _, _ := e.flow("dev", "stamp", "", nil); st != 404 {
		t.Fatalf("a refused bundle went live: %d", st)
	}
}

// TestFlowCacheOverHTTP: the second call is served from the cache
// without touching the system; a deploy and a rollback never serve
// another version's cached answer.
func TestFlowCacheOverHTTP(t *testing.T) {
	u := stampSystem(t)
	e := start(t)
	e.vars("dev", map[string]any{"UPSTREAM": u.URL})
	e.secret("dev", "SYS_TOKEN", token)
	cached := func(v int) map[string]string {
		files := versioned(v)
		files["flows/stamp.yaml"] = strings.Replace(files["flows/stamp.yaml"], "auth: public\n", "auth: public\ncache: {ttl: 1h, key: stamp}\n", 1)
		return files
	}
	e.deploy("dev", cached(1))
	call := func(wantCache string, wantV float64) {
		t.Helper()
		st, out, resp := e.flow("dev", "stamp", "", nil)
		if st != 200 || out["own"] != wantV || out["up"] != wantV || resp.Header.Get("X-Skybridge-Cache") != wantCache {
			t.Fatalf("want v%.0f (%s): %d %v, X-Skybridge-Cache %q", wantV, wantCache, st, out, resp.Header.Get("X-Skybridge-Cache"))
		}
	}
	call("miss", 1)
	call("hit", 1)
	if n := u.count("/stamp/{v}"); n != 1 {
		t.Fatalf("the cached call reached the system: %d calls", n)
	}
	e.deploy("dev", cached(2))
	call("miss", 2)
	call("hit", 2)
	if st, out := e.adminDo(http.MethodPost, "dev", "/rollback", map[string]any{}); st/100 != 2 {
		t.Fatalf("rollback: %d %v", st, out)
	}
	st, out, resp := e.flow("dev", "stamp", "", nil)
	if st != 200 || out["own"] != 1.0 || out["up"] != 1.0 {
		t.Fatalf("after rollback: %d %v (X-Skybridge-Cache %q)", st, out, resp.Header.Get("X-Skybridge-Cache"))
	}
}

// TestFlowTestRoute: the admin test route runs a live flow and answers
// its output with each step's timing, and the problem of a failing one.
func TestFlowTestRoute(t *testing.T) {
	e, _ := deployed(t)
	st, out := e.adminDo(http.MethodPost, "dev", "/flows/kinds/test", map[string]any{"input": map[string]any{"id": "g1"}})
	if st != 200 || out["output"] == nil || out["version"] != 1.0 {
		t.Fatalf("test run: %d %v", st, out)
	}
	steps, _ := out["steps"].([]any)
	if len(steps) < 7 {
		t.Fatalf("test run traced %d steps: %v", len(steps), out["steps"])
	}
	first := steps[0].(map[string]any)
	if first["id"] != "customer" || first["kind"] != "call" || first["durationMs"] == nil {
		t.Fatalf("first step trace: %v", first)
	}
	st, out = e.adminDo(http.MethodPost, "dev", "/flows/kinds/test", map[string]any{"input": map[string]any{"id": "blocked"}})
	if st != 200 || out["error"].(map[string]any)["status"] != 403.0 {
		t.Fatalf("failing test run: %d %v", st, out)
	}
	// A user flow run without a user answers its 401 inside the run.
	st, out = e.adminDo(http.MethodPost, "dev", "/flows/whoami/test", map[string]any{})
	if st != 200 || out["error"].(map[string]any)["status"] != 401.0 {
		t.Fatalf("user flow without a user: %d %v", st, out)
	}
	if st, out := e.adminDo(http.MethodPost, "dev", "/flows/none/test", map[string]any{}); st != 404 {
		t.Fatalf("test of an unknown flow: %d %v", st, out)
	}
	e.assertNoSecret(token)
}

// TestSecretsStayHidden: a secret set through the admin API is used by
// the connector but appears in no admin or flow response, not in a
// failing call's problem (the system echoes the credentials it got), and
// not in the logs.
func TestSecretsStayHidden(t *testing.T) {
	u := stampSystem(t)
	e := start(t)
	e.vars("dev", map[string]any{"UPSTREAM": u.URL})
	e.secret("dev", "SYS_TOKEN", token)
	e.deploy("dev", versioned(1))
	if st, out, _ := e.flow("dev", "stamp", "", nil); st != 200 {
		t.Fatalf("stamp: %d %v", st, out)
	}
	// A wrong token makes the system answer 401 quoting it.
	e.secret("dev", "SYS_TOKEN", "wrong-"+token)
	if st, out, _ := e.flow("dev", "stamp", "", nil); st != 502 {
		t.Fatalf("stamp with a wrong token: %d %v", st, out)
	}
	e.adminDo(http.MethodPost, "dev", "/flows/stamp/test", map[string]any{})
	for _, path := range []string{"/secrets", "/variables", "/deployments"} {
		if st, out := e.adminDo(http.MethodGet, "dev", path, nil); st != 200 {
			t.Fatalf("GET %s: %d %v", path, st, out)
		}
	}
	resp, b := e.srv.Do(t, http.MethodGet, "/admin/api/audit?app="+e.app.ID, nil, e.admin)
	e.note(b)
	if resp.StatusCode != 200 {
		t.Fatalf("audit: %d %s", resp.StatusCode, b)
	}
	e.assertNoSecret(token)
}

// TestDeployReachesEveryNode: two nodes on one MongoDB-wire store; a
// bundle deployed through one is served by the other within its refresh
// interval, and so is the next version.
func TestDeployReachesEveryNode(t *testing.T) {
	u := stampSystem(t)
	a := startOn(t, "ferretdb")
	b := a.peer()
	a.vars("dev", map[string]any{"UPSTREAM": u.URL})
	a.secret("dev", "SYS_TOKEN", token)
	for v := 1; v <= 2; v++ {
		a.deploy("dev", versioned(v))
		var st int
		var out map[string]any
		if !testenv.WaitFor(context.Background(), 15*time.Second, func() bool {
			st, out, _, _ = b.tryFlow("dev", "stamp", "", nil)
			return st == 200 && out["own"] == float64(v)
		}) {
			t.Fatalf("the other node still answers %d %v for version %d", st, out, v)
		}
	}
}
