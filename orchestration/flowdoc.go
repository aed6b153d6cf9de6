package orchestration

import (
	"time"

	"gopkg.in/yaml.v3"

	"github.com/skybridgehq/skybridge/connectors"
)

// flowFields are the keys of a Flow document.
var flowFields = []string{"apiVersion", "kind", "name", "description", "auth", "input", "steps", "output", "cache", "timeout", "errors", "appVersions", "deprecated"}

// Flow auth levels.
const (
	// AuthPublic: the app key alone may run the flow; user may be nil.
	AuthPublic = "public"
	// AuthUser: a signed-in (possibly anonymous) user. The default.
	AuthUser = "user"
	// AuthServer: only trusted servers (the server key).
	AuthServer = "server"
)

// flowDef is a compiled Flow document, shared by every Plan built from
// its bundle.
type flowDef struct {
	name, description, auth string
	file                    string
	params                  []*param
	inputs                  map[string]bool
	timeout                 time.Duration
	steps                   []*stepDef
	// output is the answer template; nil answers the last step's result.
	output value
	cache  *cacheDef
	errors []*errorRule
	// calls are the flows its flow steps call, for the cycle check.
	calls []flowCall
	// stepCount is the number of its steps, nested ones included.
	stepCount int
	// usesMeta: some expression reads meta, so calls record it;
	// usesUser: some expression reads user.
	usesMeta, usesUser bool
	// routes send some app versions to other flows (appversion.go);
	// deprecated, when set, is announced on every answer.
	routes     []versionRoute
	deprecated *Deprecation
}

type flowCall struct {
	target string
	node   *yaml.Node
	file   string
	field  string
}

// errorRule maps a failed step to a problem answer.
type errorRule struct {
	step     string
	kinds    []connectors.ErrorKind
	statuses []int
	classes  []int // 4 for "4xx", 5 for "5xx"
	status   int
	title    value
	detail   value
}

// flowHead reads a flow's name, auth, input and timeout.
func (e *Engine) flowHead(d *rawDoc) *flowDef {
	c := d.r
	fd := &flowDef{name: d.name, auth: AuthUser, file: c.file, inputs: map[string]bool{}, timeout: e.cfg.FlowTimeout}
	if n := d.f.get("description"); n != nil {
		fd.description, _ = c.str(n, "description")
	}
	if n := d.f.get("auth"); n != nil {
		if a, ok := c.oneOf(n, "auth", AuthPublic, AuthUser, AuthServer); ok {
			fd.auth = a
		}
	}
	if n := d.f.get("timeout"); n != nil {
		if t, ok := c.duration(n, "timeout", e.cfg.MaxFlowTimeout); ok {
			fd.timeout = t
		}
	}
	if n := d.f.get("appVersions"); n != nil {
		fd.routes = readAppVersions(c, n)
	}
	if n := d.f.get("deprecated"); n != nil {
		fd.deprecated = readDeprecation(c, n)
	}
	if n := d.f.get("input"); n != nil {
		fd.params = readParams(c, n)
		for _, p := range fd.params {
			fd.inputs[p.Name] = true
		}
	}
	return fd
}

// flowBody compiles a flow's steps, output, cache and error mapping.
func (e *Engine) flowBody(d *rawDoc, fd *flowDef, b *Bundle, flows map[string]*flowDef) {
	c := d.r
	metaBefore, userBefore := c.metaUses, c.userUses
	defer func() { fd.usesMeta, fd.usesUser = c.metaUses != metaBefore, c.userUses != userBefore }()
	sc := flowScope(fd.inputs)
	if n := d.f.get("cache"); n != nil {
		fd.cache = readCache(c, n, sc, fd.auth)
	}
	sb := &stepBuilder{e: e, c: c, b: b, flows: flows, flow: fd, ids: map[string]*yaml.Node{}}
	if !d.f.has("steps") {
		c.fail(d.root, "steps", "missing required field steps")
	} else {
		fd.steps = sb.list(d.f.get("steps"), "steps", sc)
		if sn := d.f.get("steps"); sn.Kind == yaml.SequenceNode && len(sn.Content) == 0 {
			c.fail(d.f.get("steps"), "steps", "a flow needs at least one step")
		}
	}
	if n := d.f.get("output"); n != nil {
		fd.output = c.value(n, "output", sc)
	}
	if n := d.f.get("errors"); n != nil {
		fd.errors = readErrorRules(c, n, sc.with(), sb.ids)
	}
	fd.stepCount = sb.count
}

// readErrorRules reads the `errors` list.
func readErrorRules(c *compiler, n *yaml.Node, sc *scope, ids map[string]*yaml.Node) []*errorRule {
	items, ok := c.seq(n, "errors")
	if !ok {
		return nil
	}
	var rules []*errorRule
	for i, item := range items {
		field := index("errors", i)
		f, ok := c.mapping(item, field, "when", "status", "title", "detail")
		if !ok {
			continue
		}
		r := &errorRule{status: 502}
		if w := f.get("when"); w != nil {
			readErrorMatch(c, w, join(field, "when"), r, ids)
		}
		if !f.has("status") {
			c.fail(item, join(field, "status"), "missing required field status")
		} else if s, ok := c.integer(f.get("status"), join(field, "status"), 400, 599); ok {
			r.status = s
		}
		if !f.has("title") {
			c.fail(item, join(field, "title"), "missing required field title")
			r.title = constValue{""}
		} else {
			r.title = c.value(f.get("title"), join(field, "title"), sc)
		}
		if dn := f.get("detail"); dn != nil {
			r.detail = c.value(dn, join(field, "detail"), sc)
		}
		rules = append(rules, r)
	}
	return rules
}

// knownKinds are the connector error kinds `when.kind` and `retry.on`
// accept.
var knownKinds = []string{
	string(connectors.KindTimeout), string(connectors.KindUnavailable), string(connectors.KindStatus),
	string(connectors.KindCircuitOpen), string(connectors.KindOverloaded), string(connectors.KindBadResponse),
	string(connectors.KindInvalid),
}

// readErrorMatch reads an error rule's `when`.
func readErrorMatch(c *compiler, n *yaml.Node, field string, r *errorRule, ids map[string]*yaml.Node) {
	f, ok := c.mapping(n, field, "step", "kind", "status")
	if !ok {
		return
	}
	if sn := f.get("step"); sn != nil {
		if s, ok := c.str(sn, join(field, "step")); ok {
			if ids[s] == nil {
				c.fail(sn, join(field, "step"), "unknown step %q", s)
			}
			r.step = s
		}
	}
	if kn := f.get("kind"); kn != nil {
		for _, k := range c.strings(kn, join(field, "kind")) {
			if !contains(knownKinds, k.s) {
				c.fail(k.n, join(field, "kind"), "unknown error kind %q (one of %v)", k.s, knownKinds)
				continue
			}
			r.kinds = append(r.kinds, connectors.ErrorKind(k.s))
		}
	}
	if stn := f.get("status"); stn != nil {
		nodes := []*yaml.Node{stn}
		if stn.Kind == yaml.SequenceNode {
			nodes = stn.Content
		}
		for _, sn := range nodes {
			if sn.Kind == yaml.ScalarNode && sn.Tag == "!!str" && (sn.Value == "4xx" || sn.Value == "5xx") {
				r.classes = append(r.classes, int(sn.Value[0]-'0'))
				continue
			}
			if s, ok := c.integer(sn, join(field, "status"), 100, 599); ok {
				r.statuses = append(r.statuses, s)
			}
		}
	}
}

// namedString is a string and where it was written.
type namedString struct {
	s string
	n *yaml.Node
}

// strings reads a string or a list of strings.
func (c *compiler) strings(n *yaml.Node, field string) []namedString {
	if n.Kind != yaml.SequenceNode {
		s, ok := c.str(n, field)
		if !ok {
			return nil
		}
		return []namedString{{s, n}}
	}
	var out []namedString
	for i, e := range n.Content {
		if s, ok := c.str(e, index(field, i)); ok {
			out = append(out, namedString{s, e})
		}
	}
	return out
}

// checkCycles reports flows that call themselves through flow steps.
func checkCycles(flows map[string]*flowDef, errs *errorList) {
	const (
		unvisited = iota
		active
		done
	)
	state := map[string]int{}
	var visit func(name string, errs *errorList) bool
	visit = func(name string, errs *errorList) bool {
		state[name] = active
		defer func() { state[name] = done }()
		fd := flows[name]
		for _, call := range fd.calls {
			if flows[call.target] == nil {
				continue
			}
			switch state[call.target] {
			case active:
				errs.add(FileError{File: call.file, Line: call.node.Line, Column: call.node.Column, Field: call.field,
					Message: "flow cycle: " + name + " calls " + call.target + ", which leads back to " + name})
				return true
			case unvisited:
				if visit(call.target, errs) {
					return true
				}
			}
		}
		return false
	}
	for _, name := range sortedKeys(flows) {
		if state[name] == unvisited {
			visit(name, errs)
		}
	}
}
