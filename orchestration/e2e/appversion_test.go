package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// versionedBundle serves old apps customer-v1 (deprecated), the others
// customer.
var versionedBundle = map[string]string{"flows/customer.yaml": `apiVersion: skybridge/v1
kind: Flow
name: customer
auth: public
appVersions:
  - {range: "<2.0.0", flow: customer-v1}
steps:
  - transform: {shape: new}
---
apiVersion: skybridge/v1
kind: Flow
name: customer-v1
auth: public
deprecated: {since: 2026-10-01, sunset: 2027-03-31, link: "https://example.com/upgrade"}
steps:
  - transform: {shape: old}
`}

// TestAppVersionsOverHTTP: old and new apps are served side by side by
// X-App-Version; the old flow's answers announce its deprecation and
// sunset; an environment's minimum app version refuses older apps with
// 426 on every /v1 route, and a malformed version with 400.
func TestAppVersionsOverHTTP(t *testing.T) {
	e := start(t)
	e.deploy("dev", versionedBundle)
	for app, want := range map[string]string{"1.4.2": "old", "2.0.0": "new", "": "new"} {
		h := map[string]string{}
		if app != "" {
			h["X-App-Version"] = app
		}
		st, out, resp := e.flow("dev", "customer", "", h)
		if st != 200 || out["shape"] != want {
			t.Fatalf("app %q: %d %v, want shape %s", app, st, out, want)
		}
		dep, sunset, link := resp.Header.Get("Deprecation"), resp.Header.Get("Sunset"), resp.Header.Get("Link")
		if want == "old" {
			if dep != "@1790812800" || sunset != "Wed, 31 Mar 2027 00:00:00 GMT" || link != `<https://example.com/upgrade>; rel="deprecation"` {
				t.Fatalf("old app's headers: Deprecation %q, Sunset %q, Link %q", dep, sunset, link)
			}
		} else if dep != "" || sunset != "" {
			t.Fatalf("app %q got deprecation headers %q %q", app, dep, sunset)
		}
	}
	if st, out, _ := e.flow("dev", "customer", "", map[string]string{"X-App-Version": "one.two"}); st != 400 || !strings.Contains(errorsOf(out), "X-App-Version") {
		t.Fatalf("malformed version: %d %v", st, out)
	}
	// The environment stops serving apps older than 1.5.
	if st, out := e.adminDo(http.MethodPut, "dev", "/app-versions", map[string]string{"minimum": "1.5.0"}); st != 200 || out["minimum"] != "1.5.0" {
		t.Fatalf("set minimum: %d %v", st, out)
	}
	if st, out := e.adminDo(http.MethodPut, "dev", "/app-versions", map[string]string{"minimum": "soon"}); st != 400 || !strings.Contains(errorsOf(out), "minimum") {
		t.Fatalf("bad minimum: %d %v", st, out)
	}
	st, out, _ := e.flow("dev", "customer", "", map[string]string{"X-App-Version": "1.4.2"})
	if st != 426 || out["type"] != "urn:skybridge:problem:app-version-too-old" || !strings.Contains(out["detail"].(string), "1.5.0") {
		t.Fatalf("app below the minimum: %d %v", st, out)
	}
	// Every /v1 route, not only flows.
	resp, b := e.srv.Do(t, http.MethodGet, "/v1/auth/me", nil, map[string]string{"X-Skybridge-Key": e.keys["dev"].AppKey, "X-App-Version": "1.0.0"})
	if resp.StatusCode != 426 {
		t.Fatalf("/v1/auth/me below the minimum: %d %s", resp.StatusCode, b)
	}
	if st, out, _ := e.flow("dev", "customer", "", map[string]string{"X-App-Version": "1.5.0"}); st != 200 || out["shape"] != "old" {
		t.Fatalf("app at the minimum: %d %v", st, out)
	}
	// Other environments are not affected; clearing the minimum serves all.
	e.deploy("stage", versionedBundle)
	if st, out, _ := e.flow("stage", "customer", "", map[string]string{"X-App-Version": "1.0.0"}); st != 200 {
		t.Fatalf("stage: %d %v", st, out)
	}
	if st, out := e.adminDo(http.MethodPut, "dev", "/app-versions", map[string]string{"minimum": ""}); st != 200 || out["minimum"] != "" {
		t.Fatalf("clear minimum: %d %v", st, out)
	}
	if st, out, _ := e.flow("dev", "customer", "", map[string]string{"X-App-Version": "1.0.0"}); st != 200 {
		t.Fatalf("after clearing: %d %v", st, out)
	}
}

// errorsOf renders a problem's errors[] for matching.
func errorsOf(p map[string]any) string {
	var b strings.Builder
	for _, e := range p["errors"].([]any) {
		m := e.(map[string]any)
		b.WriteString(m["field"].(string) + ": " + m["detail"].(string) + "\n")
	}
	return b.String()
}
