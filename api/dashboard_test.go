package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/dashboard"
	"github.com/skybridgehq/skybridge/internal/testenv"
	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
)

// dashboardBundle has a cached flow and one that always fails with 503.
const dashboardBundle = `apiVersion: skybridge/v1
kind: Flow
name: hello
auth: public
cache: {key: hello, ttl: 1h}
steps:
  - {id: t, transform: 1}
output: {n: 1}
---
apiVersion: skybridge/v1
kind: Flow
name: down
auth: public
steps:
  - fail: {status: 503, title: Down}
`

// getDashboard reads the dashboard of envPath over minutes.
func getDashboard(t *testing.T, s *testnode.Server, envPath string, admin map[string]string, minutes string) dashboard.Report {
	t.Helper()
	var rep dashboard.Report
	path := envPath + "/dashboard"
	if minutes != "" {
		path += "?minutes=" + minutes
	}
	resp, body := s.Do(t, http.MethodGet, path, nil, admin)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("dashboard: %d %s", resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatalf("dashboard %s: %v", body, err)
	}
	return rep
}

// routeRow finds the row of route and version, or a zero row.
func routeRow(rep dashboard.Report, route, version string) dashboard.RouteRow {
	for _, r := range rep.Routes {
		if r.Route == route && r.AppVersion == version {
			return r
		}
	}
	return dashboard.RouteRow{}
}

func TestDashboardOverHTTP(t *testing.T) {
	t.Parallel()
	p := startPush(t)
	p.call(t, http.MethodPost, p.envPath+"/deployments", map[string]any{"files": map[string]string{"flows.yaml": dashboardBundle}}, p.admin, http.StatusCreated, nil)
	v230 := map[string]string{"X-Skybridge-Key": p.key["X-Skybridge-Key"], "X-App-Version": "2.3.0"}
	for i := range 3 {
		h := p.call(t, http.MethodGet, "/v1/flows/hello", nil, v230, http.StatusOK, nil)
		if want := map[bool]string{true: "miss", false: "hit"}[i == 0]; h.Get("X-Skybridge-Cache") != want {
			t.Fatalf("call %d: X-Skybridge-Cache %q, want %s", i, h.Get("X-Skybridge-Cache"), want)
		}
	}
	p.call(t, http.MethodGet, "/v1/flows/hello", nil, p.key, http.StatusOK, nil)               // no version
	p.call(t, http.MethodGet, "/v1/flows/nope", nil, v230, http.StatusNotFound, nil)           // a client error
	p.call(t, http.MethodGet, "/v1/flows/down", nil, v230, http.StatusServiceUnavailable, nil) // a server error
	prod := map[string]string{"X-Skybridge-Key": p.app.Env(t, "prod").AppKey}
	p.call(t, http.MethodPost, "/v1/auth/anonymous", map[string]any{"deviceId": "d-1"}, prod, http.StatusOK, nil) // another environment

	// One push sent to one device.
	tok := strings.Repeat("0c", 32)
	p.call(t, http.MethodPost, "/v1/push/installations", map[string]any{"platform": "ios", "token": tok, "topics": []string{"news"}}, p.user, http.StatusCreated, nil)
	p.call(t, http.MethodPut, p.envPath+"/push/apns", map[string]any{"key": p.apns.Key, "keyId": p.apns.KeyID, "teamId": p.apns.TeamID, "bundleId": p.apns.BundleID}, p.admin, http.StatusOK, nil)
	p.call(t, http.MethodPost, "/v1/push/send", map[string]any{"target": map[string]any{"topics": []string{"news"}}, "notification": map[string]any{"title": "Hi"}}, p.server, http.StatusAccepted, nil)
	var rep dashboard.Report
	if !testenv.WaitFor(context.Background(), 20*time.Second, func() bool {
		rep = getDashboard(t, p.s, p.envPath, p.admin, "")
		return rep.Totals.PushesSent == 1
	}) {
		t.Fatalf("pushes sent %d, want 1", rep.Totals.PushesSent)
	}

	const flow = "GET /v1/flows/{name}"
	if r := routeRow(rep, flow, "2.3.0"); r.Requests != 5 || r.Errors != 1 || r.ClientErrors != 1 || r.P50Ms <= 0 || r.P99Ms < r.P50Ms || r.PerMinute != 0.0833 {
		t.Errorf("flow row of 2.3.0: %+v", r)
	}
	if r := routeRow(rep, flow, ""); r.Requests != 1 || r.Errors != 0 {
		t.Errorf("flow row without a version: %+v", r)
	}
	if r := routeRow(rep, "POST /v1/push/send", ""); r.Requests != 1 {
		t.Errorf("push send row: %+v (rows %+v)", r, rep.Routes)
	}
	tot := rep.Totals
	if tot.CacheHits != 3 || tot.CacheMisses != 1 || tot.CacheHitRatio != 0.75 || tot.Errors != 1 || tot.ClientErrors < 1 {
		t.Errorf("totals %+v", tot)
	}
	if tot.ErrorRate <= 0 || tot.ErrorRate != float64(int64(1e4/float64(tot.Requests)+0.5))/1e4 {
		t.Errorf("error rate %v of %d requests", tot.ErrorRate, tot.Requests)
	}
	var sum int64
	for i, m := range rep.Series {
		sum += m.Requests
		if want := rep.From.Add(time.Duration(i) * time.Minute); !m.T.Equal(want) {
			t.Fatalf("series[%d] at %v, want %v", i, m.T, want)
		}
	}
	if len(rep.Series) != 60 || sum != tot.Requests || !rep.To.Equal(rep.From.Add(time.Hour)) {
		t.Errorf("%d minutes summing %d requests of %d, window %v-%v", len(rep.Series), sum, tot.Requests, rep.From, rep.To)
	}
	for _, r := range rep.Routes {
		if strings.Contains(r.Route, "/admin/") || strings.Contains(r.Route, "/auth/anonymous") {
			t.Errorf("admin or other-environment traffic counted: %+v", r)
		}
	}
	if one := getDashboard(t, p.s, p.envPath, p.admin, "1440"); len(one.Series) != 1440 || one.Totals.Requests < tot.Requests {
		t.Errorf("minutes=1440: %d minutes, %d requests", len(one.Series), one.Totals.Requests)
	}

	for _, bad := range []string{"0", "1441", "-5", "ten", "1.5"} {
		p.problemField(t, http.MethodGet, p.envPath+"/dashboard?minutes="+bad, nil, p.admin, "minutes")
	}
	p.call(t, http.MethodGet, p.envPath+"/dashboard", nil, nil, http.StatusUnauthorized, nil)
	p.call(t, http.MethodGet, "/admin/api/apps/"+p.app.ID+"/environments/nope/dashboard", nil, p.admin, http.StatusNotFound, nil)
	var doc struct{ Paths map[string]any }
	p.call(t, http.MethodGet, "/v1/openapi.json", nil, nil, http.StatusOK, &doc)
	if doc.Paths["/admin/api/apps/{id}/environments/{env}/dashboard"] == nil {
		t.Error("OpenAPI lacks the dashboard")
	}
}

// TestDashboardMergesNodes: two nodes on one store (FerretDB, as
// MongoDB); what one served shows on the other's dashboard once its
// minute is written (here: when it stops, which writes the open minute).
func TestDashboardMergesNodes(t *testing.T) {
	t.Parallel()
	a := testnode.Start(t, testnode.Options{Store: "ferretdb"})
	app := a.CreateApp(t, "dash-merge")
	b := testnode.Start(t, testnode.Options{Store: "ferretdb"})
	admin := map[string]string{"Authorization": "Bearer " + a.AdminToken(t)}
	envPath := "/admin/api/apps/" + app.ID + "/environments/dev"
	key := map[string]string{"X-Skybridge-Key": app.Env(t, "dev").AppKey, "X-App-Version": "1.0.0"}
	for _, s := range []*testnode.Server{a, b, b} {
		if resp, body := s.Do(t, http.MethodPost, "/v1/auth/anonymous", map[string]any{"deviceId": "d-1"}, key); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", s, resp.StatusCode, body)
		}
	}
	const route = "POST /v1/auth/anonymous"
	if r := routeRow(getDashboard(t, a, envPath, admin, "5"), route, "1.0.0"); r.Requests != 1 {
		t.Fatalf("node a before b wrote: %+v", r)
	}
	if err := b.Node.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := routeRow(getDashboard(t, a, envPath, admin, "5"), route, "1.0.0"); r.Requests != 3 {
		t.Fatalf("node a after b wrote: %+v", r)
	}
}
