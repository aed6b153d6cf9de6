package orchestration

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// versionedFlows routes old apps to customer-v1 and 2.x before 2.3 to
// customer-v2; customer-v1 is deprecated.
var versionedFlows = flowFiles(`apiVersion: skybridge/v1
kind: Flow
name: customer
auth: public
appVersions:
  - {range: "<2.0.0", flow: customer-v1}
  - {range: ">=2.0.0 <2.3.0", flow: customer-v2}
steps:
  - transform: current`, `apiVersion: skybridge/v1
kind: Flow
name: customer-v1
auth: public
deprecated: {since: 2026-10-01, sunset: "2027-03-31T00:00:00Z", link: "https://example.com/upgrade"}
steps:
  - transform: v1`, `apiVersion: skybridge/v1
kind: Flow
name: customer-v2
auth: public
steps:
  - transform: v2`)

// TestAppVersionRouting: the app's version picks the flow that answers;
// apps without a version, or outside every range, get the flow itself; a
// malformed version is an input error naming X-App-Version.
func TestAppVersionRouting(t *testing.T) {
	t.Parallel()
	p := mustPlan(t, testEngine(t, nil), versionedFlows, Environment{})
	for app, want := range map[string]string{"": "current", "1.9.3": "v1", "0.1.0": "v1", "2.0.0": "v2", "2.2.9": "v2", "2.3.0": "current", "10.0.0": "current", "2.1": "v2"} {
		res, err := p.Run(context.Background(), "customer", Call{AppVersion: app})
		if err != nil || res.Output != want {
			t.Errorf("app %q: %v, %v; want %q", app, res, err, want)
		}
		f, err := p.Resolve("customer", app)
		if err != nil || !strings.HasSuffix(map[string]string{"current": "customer", "v1": "customer-v1", "v2": "customer-v2"}[want], f.Name()) {
			t.Errorf("Resolve(%q) = %v, %v", app, f, err)
		}
	}
	_, err := p.Run(context.Background(), "customer", Call{AppVersion: "not-a-version"})
	var ie *InputError
	if !errors.As(err, &ie) || ie.Field != AppVersionField {
		t.Fatalf("malformed app version: %v", err)
	}
	// A flow without routes ignores the version, even a malformed one.
	if res, err := p.Run(context.Background(), "customer-v2", Call{AppVersion: "junk"}); err != nil || res.Output != "v2" {
		t.Fatalf("flow without routes: %v, %v", res, err)
	}
	f, _ := p.Flow("customer-v1")
	d := f.Deprecated()
	if d == nil || !d.Since.Equal(time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)) || !d.Sunset.Equal(time.Date(2027, 3, 31, 0, 0, 0, 0, time.UTC)) || d.Link != "https://example.com/upgrade" {
		t.Fatalf("deprecation: %+v", d)
	}
	if f, _ := p.Flow("customer"); f.Deprecated() != nil {
		t.Fatal("customer is not deprecated")
	}
}

// TestAppVersionValidation: bad ranges, unknown or chained targets and
// bad deprecation dates are refused with their positions.
func TestAppVersionValidation(t *testing.T) {
	t.Parallel()
	head := "apiVersion: skybridge/v1\nkind: Flow\nname: a\nsteps: [{transform: 1}]\n"
	other := "apiVersion: skybridge/v1\nkind: Flow\nname: b\nsteps: [{transform: 2}]\n"
	cases := []struct {
		name, doc, b string
		line         int
		field, msg   string
	}{
		{"bad range", head + "appVersions: [{range: \"<<2\", flow: b}]\n", other, 5, "appVersions[0].range", "not a semver range"},
		{"unknown flow", head + "appVersions: [{range: \"<2\", flow: nope}]\n", other, 5, "appVersions", `unknown flow "nope"`},
		{"itself", head + "appVersions: [{range: \"<2\", flow: a}]\n", other, 5, "appVersions", "to itself"},
		{"chained", head + "appVersions: [{range: \"<2\", flow: b}]\n", other + "appVersions: [{range: \"<1\", flow: a}]\n", 5, "appVersions", "do not chain"},
		{"missing flow", head + "appVersions: [{range: \"<2\"}]\n", other, 5, "appVersions[0]", "needs range"},
		{"deprecated without since", head + "deprecated: {sunset: 2027-01-01}\n", other, 5, "deprecated", "needs since"},
		{"bad date", head + "deprecated: {since: soon}\n", other, 5, "deprecated.since", "must be a date"},
		{"sunset before since", head + "deprecated: {since: 2027-01-01, sunset: 2026-01-01}\n", other, 5, "deprecated.sunset", "before since"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := testEngine(t, nil).Load(map[string]string{"a.yaml": tc.doc, "b.yaml": tc.b})
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Load: %v", err)
			}
			for _, e := range ve.Errors {
				if e.File == "a.yaml" && e.Line == tc.line && e.Field == tc.field && strings.Contains(e.Message, tc.msg) {
					return
				}
			}
			t.Fatalf("no error at a.yaml:%d %s %q in %v", tc.line, tc.field, tc.msg, ve.Errors)
		})
	}
}
