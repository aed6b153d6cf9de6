package orchestration

import (
	"fmt"
	"time"

	"github.com/Masterminds/semver/v3"
	"gopkg.in/yaml.v3"
)

// Serving several app versions side by side: a flow may route the apps
// of some versions (their X-App-Version) to another flow of the bundle,
// and a flow may be deprecated, with the dates its answers announce.
//
//	kind: Flow
//	name: customer
//	appVersions:                      # first match wins; other apps run this flow
//	  - {range: "<2.0.0", flow: customer-v1}
//	  - {range: ">=2.0.0 <2.3.0", flow: customer-v2}
//	...
//	---
//	kind: Flow
//	name: customer-v1
//	deprecated: {since: 2026-10-01, sunset: 2027-03-31, link: "https://example.com/upgrade"}

// versionRoute sends the apps of a version range to another flow.
type versionRoute struct {
	raw    string
	ranges *semver.Constraints
	target string
	node   *yaml.Node
	file   string
}

// Deprecation says a flow is going away: its answers carry Deprecation
// (RFC 9745), Sunset (RFC 8594) and Link headers.
type Deprecation struct {
	// Since is when the flow was (or will be) deprecated.
	Since time.Time
	// Sunset, when set, is when it stops answering.
	Sunset time.Time
	// Link, when set, points at what to use instead.
	Link string
}

// readAppVersions reads a flow's `appVersions` list.
func readAppVersions(c *compiler, n *yaml.Node) []versionRoute {
	items, ok := c.seq(n, "appVersions")
	if !ok {
		return nil
	}
	var out []versionRoute
	for i, it := range items {
		field := fmt.Sprintf("appVersions[%d]", i)
		f, ok := c.mapping(it, field, "range", "flow")
		if !ok {
			continue
		}
		if !f.has("range") || !f.has("flow") {
			c.fail(it, field, "needs range (a semver range such as \"<2.0.0\") and flow (the flow serving it)")
			continue
		}
		raw, ok1 := c.str(f.get("range"), field+".range")
		target, ok2 := c.str(f.get("flow"), field+".flow")
		if !ok1 || !ok2 {
			continue
		}
		ranges, err := semver.NewConstraint(raw)
		if err != nil {
			c.fail(f.get("range"), field+".range", "not a semver range: %v", err)
			continue
		}
		out = append(out, versionRoute{raw: raw, ranges: ranges, target: target, node: f.get("flow"), file: c.file})
	}
	return out
}

// readDeprecation reads a flow's `deprecated` mapping.
func readDeprecation(c *compiler, n *yaml.Node) *Deprecation {
	f, ok := c.mapping(n, "deprecated", "since", "sunset", "link")
	if !ok {
		return nil
	}
	d := &Deprecation{}
	if !f.has("since") {
		c.fail(n, "deprecated", "needs since, the date the flow was deprecated (2026-10-01)")
		return nil
	}
	d.Since, ok = readDate(c, f.get("since"), "deprecated.since")
	if !ok {
		return nil
	}
	if f.has("sunset") {
		if d.Sunset, ok = readDate(c, f.get("sunset"), "deprecated.sunset"); !ok {
			return nil
		}
		if d.Sunset.Before(d.Since) {
			c.fail(f.get("sunset"), "deprecated.sunset", "must not be before since")
			return nil
		}
	}
	if f.has("link") {
		if d.Link, ok = c.str(f.get("link"), "deprecated.link"); !ok {
			return nil
		}
	}
	return d
}

// readDate reads a date (2026-10-01) or an RFC 3339 time.
func readDate(c *compiler, n *yaml.Node, field string) (time.Time, bool) {
	if n = c.resolve(n, field); n == nil {
		return time.Time{}, false
	}
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!str" || n.Tag == "!!timestamp") {
		for _, layout := range []string{time.DateOnly, time.RFC3339} {
			if t, err := time.Parse(layout, n.Value); err == nil {
				return t.UTC(), true
			}
		}
	}
	c.fail(n, field, "must be a date such as 2026-10-01 or an RFC 3339 time")
	return time.Time{}, false
}

// checkRoutes checks that every route of every flow leads to a flow of
// the bundle that routes no further.
func checkRoutes(flows map[string]*flowDef, errs *errorList) {
	for _, name := range sortedKeys(flows) {
		for _, r := range flows[name].routes {
			t, ok := flows[r.target]
			switch {
			case !ok:
				errs.add(FileError{File: r.file, Line: r.node.Line, Column: r.node.Column, Field: "appVersions",
					Message: fmt.Sprintf("unknown flow %q", r.target)})
			case r.target == name:
				errs.add(FileError{File: r.file, Line: r.node.Line, Column: r.node.Column, Field: "appVersions",
					Message: "a flow cannot route app versions to itself"})
			case len(t.routes) > 0:
				errs.add(FileError{File: r.file, Line: r.node.Line, Column: r.node.Column, Field: "appVersions",
					Message: fmt.Sprintf("flow %q routes app versions itself; routes do not chain", r.target)})
			}
		}
	}
}

// Resolve returns the flow that serves name for an app of appVersion
// (the X-App-Version it sent; "" for none): the target of the first of
// the flow's appVersions routes whose range holds it, else the flow
// itself. A malformed appVersion is an *InputError.
func (p *Plan) Resolve(name, appVersion string) (*Flow, error) {
	f, ok := p.flows[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrFlowNotFound, name)
	}
	if len(f.def.routes) == 0 || appVersion == "" {
		return f, nil
	}
	v, err := semver.NewVersion(appVersion)
	if err != nil {
		return nil, &InputError{Field: AppVersionField, Message: fmt.Sprintf("%q is not a version such as 2.1.0", appVersion)}
	}
	for _, r := range f.def.routes {
		if r.ranges.Check(v) {
			return p.flows[r.target], nil
		}
	}
	return f, nil
}

// AppVersionField names the app's version in input errors: the header
// X-App-Version.
const AppVersionField = "X-App-Version"

// Deprecated returns the flow's deprecation, or nil.
func (f *Flow) Deprecated() *Deprecation { return f.def.deprecated }
