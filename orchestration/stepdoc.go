package orchestration

import (
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/skybridgehq/skybridge/connectors"
)

// Step kinds: the key that makes a mapping that kind of step.
const (
	StepCall      = "call"
	StepParallel  = "parallel"
	StepForeach   = "foreach"
	StepIf        = "if"
	StepSwitch    = "switch"
	StepTransform = "transform"
	StepSet       = "set"
	StepFail      = "fail"
	StepFlow      = "flow"
)

var stepKinds = []string{StepCall, StepParallel, StepForeach, StepIf, StepSwitch, StepTransform, StepSet, StepFail, StepFlow, StepPush}

// commonStepFields are allowed on every step.
var commonStepFields = []string{"id", "description", "timeout", "onError", "fallback"}

// kindStepFields are the fields each kind adds.
var kindStepFields = map[string][]string{
	StepCall:      {"with", "retry"},
	StepParallel:  nil,
	StepForeach:   {"as", "concurrency", "steps", "output"},
	StepIf:        {"then", "else"},
	StepSwitch:    {"cases", "default"},
	StepTransform: nil,
	StepSet:       nil,
	StepFail:      nil,
	StepFlow:      {"with"},
	StepPush:      nil,
}

// Defaults of retry.
const (
	defaultBackoff    = 100 * time.Millisecond
	defaultMaxBackoff = 5 * time.Second
	maxConcurrency    = 1000
	defaultItemName   = "item"
)

// stepDef is a compiled step.
type stepDef struct {
	// id is the author's id, or the step's path ("steps[2]") when none.
	id string
	// named: the author gave the id, so later steps see steps.<id>.
	named bool
	kind  string
	// seq numbers the flow's steps, for per-step metrics.
	seq      int
	timeout  time.Duration
	retry    *retryDef
	cont     bool // onError: continue
	fallback *fallbackDef
	exec     stepExec
}

// retryDef is a step's retry policy.
type retryDef struct {
	attempts   int
	backoff    time.Duration
	maxBackoff time.Duration
	jitter     bool
	on         []connectors.ErrorKind // nil: any retryable failure
	unsafe     bool                   // retry non-idempotent operations too
}

// fallbackDef is what a failed step answers instead.
type fallbackDef struct {
	value value      // a value, or
	steps []*stepDef // steps whose last result is the answer
}

// stepBuilder compiles the steps of one flow.
type stepBuilder struct {
	e     *Engine
	c     *compiler
	b     *Bundle
	flows map[string]*flowDef
	flow  *flowDef
	ids   map[string]*yaml.Node // every step id of the flow
	count int
}

// list compiles a list of steps run in sequence; sc gains their ids.
func (sb *stepBuilder) list(n *yaml.Node, field string, sc *scope) []*stepDef {
	items, ok := sb.c.seq(n, field)
	if !ok {
		return nil
	}
	out := make([]*stepDef, 0, len(items))
	for i, item := range items {
		if s := sb.step(item, index(field, i), sc); s != nil {
			out = append(out, s)
		}
	}
	return out
}

// step compiles one step; sc gains its id and variables.
func (sb *stepBuilder) step(n *yaml.Node, field string, sc *scope) *stepDef {
	c := sb.c
	f, ok := c.mapping(n, field)
	if !ok {
		return nil
	}
	var kinds []string
	for _, k := range f.order {
		if contains(stepKinds, k) {
			kinds = append(kinds, k)
		}
	}
	switch {
	case len(kinds) == 0:
		c.fail(n, field, "a step needs one of %s", strings.Join(stepKinds, ", "))
		return nil
	case len(kinds) > 1:
		c.fail(f.keys[kinds[1]], join(field, kinds[1]), "a step has one kind; this one has both %s and %s", kinds[0], kinds[1])
		return nil
	}
	kind := kinds[0]
	allowed := append(append([]string{kind}, commonStepFields...), kindStepFields[kind]...)
	for _, k := range f.order {
		if !contains(allowed, k) {
			msg := "unknown field " + quote(k) + " for a " + kind + " step"
			if s := suggest(k, allowed); s != "" {
				msg += " (did you mean " + quote(s) + "?)"
			}
			c.fail(f.keys[k], join(field, k), "%s", msg)
		}
	}
	s := &stepDef{id: field, kind: kind, seq: sb.count}
	sb.count++
	if idn := f.get("id"); idn != nil {
		if id, ok := c.str(idn, join(field, "id")); ok {
			switch {
			case !validName(id):
				c.fail(idn, join(field, "id"), "%q is not a valid step id (letters, digits, - and _, starting with a letter)", id)
			case sb.ids[id] != nil:
				c.fail(idn, join(field, "id"), "duplicate step id %q (first at line %d)", id, sb.ids[id].Line)
			default:
				sb.ids[id] = idn
				s.id, s.named = id, true
			}
		}
	}
	if tn := f.get("timeout"); tn != nil {
		s.timeout, _ = c.duration(tn, join(field, "timeout"), sb.e.cfg.MaxFlowTimeout)
	}
	if on := f.get("onError"); on != nil {
		v, _ := c.oneOf(on, join(field, "onError"), "fail", "continue")
		s.cont = v == "continue"
	}
	if rn := f.get("retry"); rn != nil {
		s.retry = sb.retry(rn, join(field, "retry"))
	}
	if fn := f.get("fallback"); fn != nil {
		s.fallback = sb.fallback(fn, join(field, "fallback"), sc.clone())
	}
	s.exec = sb.kind(kind, f, field, sc)
	if s.named {
		sc.steps[s.id] = true
	}
	return s
}

// kind compiles the kind-specific part of a step.
func (sb *stepBuilder) kind(kind string, f fields, field string, sc *scope) stepExec {
	c := sb.c
	kf := join(field, kind)
	kn := f.get(kind)
	switch kind {
	case StepCall:
		return sb.call(kn, kf, f, field, sc)
	case StepParallel:
		items, ok := c.seq(kn, kf)
		if !ok {
			return nil
		}
		if len(items) == 0 {
			c.fail(kn, kf, "parallel needs at least one branch")
		}
		p := &parallelExec{}
		var branches []*scope
		for i, item := range items {
			bs := sc.clone()
			if s := sb.step(item, index(kf, i), bs); s != nil {
				p.branches = append(p.branches, s)
			}
			branches = append(branches, bs)
		}
		for _, bs := range branches {
			sc.merge(bs)
		}
		return p
	case StepForeach:
		return sb.foreach(kn, kf, f, field, sc)
	case StepIf:
		x := &ifExec{cond: c.value(kn, kf, sc)}
		if !f.has("then") {
			c.fail(kn, join(field, "then"), "missing required field then")
		} else {
			ts := sc.clone()
			x.then = sb.list(f.get("then"), join(field, "then"), ts)
			sc.merge(ts)
		}
		if en := f.get("else"); en != nil {
			es := sc.clone()
			x.els = sb.list(en, join(field, "else"), es)
			sc.merge(es)
		}
		return x
	case StepSwitch:
		x := &switchExec{on: c.value(kn, kf, sc), cases: map[string][]*stepDef{}}
		if !f.has("cases") {
			c.fail(kn, join(field, "cases"), "missing required field cases")
		} else if cases, ok := c.mapping(f.get("cases"), join(field, "cases")); ok {
			for _, k := range cases.order {
				cs := sc.clone()
				x.cases[k] = sb.list(cases.get(k), join(join(field, "cases"), k), cs)
				sc.merge(cs)
			}
		}
		if dn := f.get("default"); dn != nil {
			ds := sc.clone()
			x.def = sb.list(dn, join(field, "default"), ds)
			sc.merge(ds)
		}
		return x
	case StepTransform:
		return &transformExec{v: c.value(kn, kf, sc)}
	case StepSet:
		vars, ok := c.mapping(kn, kf)
		if !ok {
			return nil
		}
		x := &setExec{}
		for _, name := range vars.order {
			if !validName(name) {
				c.fail(vars.keys[name], join(kf, name), "%q is not a valid variable name", name)
				continue
			}
			x.names = append(x.names, name)
			x.vals = append(x.vals, c.value(vars.get(name), join(kf, name), sc))
		}
		for _, name := range x.names {
			sc.vars[name] = true
		}
		return x
	case StepFail:
		ff, ok := c.mapping(kn, kf, "status", "title", "detail")
		if !ok {
			return nil
		}
		x := &failExec{status: 400, title: constValue{""}, detail: constValue{""}}
		if !ff.has("status") {
			c.fail(kn, join(kf, "status"), "missing required field status")
		} else if st, ok := c.integer(ff.get("status"), join(kf, "status"), 400, 599); ok {
			x.status = st
		}
		if !ff.has("title") {
			c.fail(kn, join(kf, "title"), "missing required field title")
		} else {
			x.title = c.value(ff.get("title"), join(kf, "title"), sc)
		}
		if dn := ff.get("detail"); dn != nil {
			x.detail = c.value(dn, join(kf, "detail"), sc)
		}
		return x
	case StepFlow:
		return sb.flowStep(kn, kf, f, field, sc)
	case StepPush:
		pf, ok := c.mapping(kn, kf, pushFields...)
		if !ok {
			return nil
		}
		for _, k := range []string{"target", "notification"} {
			if !pf.has(k) {
				c.fail(kn, join(kf, k), "missing required field %s", k)
			}
		}
		return &pushExec{req: c.value(kn, kf, sc)}
	}
	return nil
}

// call compiles `call: connector.operation` and its `with`.
func (sb *stepBuilder) call(kn *yaml.Node, kf string, f fields, field string, sc *scope) stepExec {
	c := sb.c
	x := &callExec{with: constValue{map[string]any{}}}
	target, ok := c.str(kn, kf)
	if ok {
		conn, op, found := strings.Cut(target, ".")
		ci, known := sb.b.connIndex[conn]
		switch {
		case !found || conn == "" || op == "":
			c.fail(kn, kf, "must be connector.operation, not %q", target)
		case !known:
			c.fail(kn, kf, "unknown connector %q", conn)
		case sb.b.connectors[ci].ops[op] == nil:
			c.fail(kn, kf, "connector %q has no operation %q", conn, op)
		default:
			x.conn, x.connName, x.op = ci, conn, op
		}
	}
	if wn := f.get("with"); wn != nil {
		x.with = c.value(wn, join(field, "with"), sc)
	}
	return x
}

// foreach compiles a foreach step.
func (sb *stepBuilder) foreach(kn *yaml.Node, kf string, f fields, field string, sc *scope) stepExec {
	c := sb.c
	x := &foreachExec{items: c.value(kn, kf, sc), as: defaultItemName, concurrency: sb.e.cfg.ForeachConcurrency}
	if an := f.get("as"); an != nil {
		if as, ok := c.str(an, join(field, "as")); ok {
			if !validName(as) || strings.ContainsAny(as, "-") || sc.names[as] != nil || contains([]string{nameInput, nameSteps, nameMeta, nameVars, nameUser, nameEnv, nameError, nameIndex}, as) {
				c.fail(an, join(field, "as"), "%q cannot name the item (an identifier other than input, steps, meta, vars, user, env, error, index)", as)
			} else {
				x.as = as
			}
		}
	}
	if cn := f.get("concurrency"); cn != nil {
		x.concurrency, _ = c.integer(cn, join(field, "concurrency"), 1, maxConcurrency)
		x.concurrency = max(x.concurrency, 1)
	}
	inner := sc.with(x.as, nameIndex)
	if !f.has("steps") {
		c.fail(kn, join(field, "steps"), "missing required field steps")
	} else {
		x.steps = sb.list(f.get("steps"), join(field, "steps"), inner)
	}
	if on := f.get("output"); on != nil {
		x.output = c.value(on, join(field, "output"), inner)
	}
	return x
}

// flowStep compiles `flow: name` and its `with` (the called flow's input).
func (sb *stepBuilder) flowStep(kn *yaml.Node, kf string, f fields, field string, sc *scope) stepExec {
	c := sb.c
	x := &flowExec{with: constValue{map[string]any{}}}
	name, ok := c.str(kn, kf)
	if !ok {
		return x
	}
	target := sb.flows[name]
	if target == nil {
		c.fail(kn, kf, "unknown flow %q", name)
		return x
	}
	x.name = name
	sb.flow.calls = append(sb.flow.calls, flowCall{target: name, node: kn, file: c.file, field: kf})
	wn := f.get("with")
	if wn != nil {
		x.with = c.value(wn, join(field, "with"), sc)
	}
	if wn == nil || wn.Kind == yaml.MappingNode {
		given := map[string]bool{}
		if wn != nil {
			for i := 0; i+1 < len(wn.Content); i += 2 {
				k := wn.Content[i]
				given[k.Value] = true
				if !target.inputs[k.Value] {
					c.fail(k, join(join(field, "with"), k.Value), "flow %q has no input %q", name, k.Value)
				}
			}
		}
		for _, p := range target.params {
			if p.Required && p.Default == nil && !given[p.Name] {
				c.fail(kn, join(field, "with"), "flow %q needs input %q", name, p.Name)
			}
		}
	}
	return x
}

// retry compiles a step's retry policy.
func (sb *stepBuilder) retry(n *yaml.Node, field string) *retryDef {
	c := sb.c
	f, ok := c.mapping(n, field, "attempts", "backoff", "maxBackoff", "jitter", "on", "unsafe")
	if !ok {
		return nil
	}
	r := &retryDef{attempts: 1, backoff: defaultBackoff, maxBackoff: defaultMaxBackoff, jitter: true}
	if !f.has("attempts") {
		c.fail(n, join(field, "attempts"), "missing required field attempts")
	} else if a, ok := c.integer(f.get("attempts"), join(field, "attempts"), 1, sb.e.cfg.MaxRetryAttempts); ok {
		r.attempts = a
	}
	if bn := f.get("backoff"); bn != nil {
		if d, ok := c.duration(bn, join(field, "backoff"), time.Minute); ok {
			r.backoff = d
		}
	}
	if mn := f.get("maxBackoff"); mn != nil {
		if d, ok := c.duration(mn, join(field, "maxBackoff"), 10*time.Minute); ok {
			r.maxBackoff = d
		}
	}
	r.maxBackoff = max(r.maxBackoff, r.backoff)
	if jn := f.get("jitter"); jn != nil {
		r.jitter, _ = c.boolean(jn, join(field, "jitter"))
	}
	if un := f.get("unsafe"); un != nil {
		r.unsafe, _ = c.boolean(un, join(field, "unsafe"))
	}
	if on := f.get("on"); on != nil {
		for _, k := range c.strings(on, join(field, "on")) {
			if !contains(knownKinds, k.s) || k.s == string(connectors.KindInvalid) {
				c.fail(k.n, join(field, "on"), "%q is not a retryable error kind", k.s)
				continue
			}
			r.on = append(r.on, connectors.ErrorKind(k.s))
		}
	}
	return r
}

// fallback compiles a step's fallback: {value: ...} or {steps: [...]}.
func (sb *stepBuilder) fallback(n *yaml.Node, field string, sc *scope) *fallbackDef {
	c := sb.c
	f, ok := c.mapping(n, field, "value", "steps")
	if !ok {
		return nil
	}
	switch {
	case f.has("value") && f.has("steps"):
		c.fail(n, field, "a fallback has either value or steps, not both")
	case f.has("value"):
		return &fallbackDef{value: c.value(f.get("value"), join(field, "value"), sc)}
	case f.has("steps"):
		return &fallbackDef{steps: sb.list(f.get("steps"), join(field, "steps"), sc)}
	default:
		c.fail(n, field, "a fallback needs value or steps")
	}
	return nil
}
