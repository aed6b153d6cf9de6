package orchestration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/skybridgehq/skybridge/cache"
	"github.com/skybridgehq/skybridge/connectors"
)

// Environment is what one app environment gives a bundle: variables
// (visible to flows as `env`), secrets (visible only to connector config
// and operations, as `secret`) and its cache.
type Environment struct {
	// Vars are the environment's variables.
	Vars map[string]any
	// Secrets are the environment's secret values; they are redacted from
	// every error message and log line the engine produces.
	Secrets map[string]string
	// Cache, when set, serves flows that declare `cache`; nil runs them
	// uncached.
	Cache *cache.Loader
	// Namespace prefixes the environment's cache keys and tags.
	Namespace cache.Namespace
	// Push, when set, runs the `push` steps (pushstep.go); without it a
	// push step fails with ErrPushUnavailable.
	Push Pusher
}

// Call is one request to run a flow.
type Call struct {
	// Input holds the request's parameters: query values as string or
	// []string, JSON bodies decoded. Undeclared names are ignored.
	Input map[string]any
	// User is the caller, nil for none.
	User *User
	// Traceparent is passed to connectors as the W3C traceparent.
	Traceparent string
	// Trace asks for Result.Steps.
	Trace bool
	// AppVersion is the calling app's version (X-App-Version), "" when
	// unknown; a flow with appVersions routes by it (Resolve).
	AppVersion string
}

// User is the caller of a flow, `user` in expressions (id, email, roles,
// anonymous).
type User struct {
	ID, Email string
	Roles     []string
	Anonymous bool
}

// Result is a flow's answer.
type Result struct {
	// Output is the flow's output. An answer from the cache (Cache "hit"
	// or "stale") is its JSON as a json.RawMessage, which encodes as
	// itself; decode it to inspect it.
	Output any
	// Cache says whether the answer came from the cache ("hit", "stale")
	// or was computed and stored ("miss"); "" when the flow is uncached.
	Cache cache.State
	// JSON is Output's JSON encoding when the answer went through the
	// cache (the HTTP layer may write it as is); nil otherwise.
	JSON json.RawMessage
	// Steps are the step traces, when Call.Trace was set and the flow ran.
	Steps []StepTrace
}

// StepTrace is what one step did, for the admin portal's flow debugger.
type StepTrace struct {
	ID, Kind string
	Duration time.Duration
	Attempts int
	Output   any
	// Error is the failure's message (redacted), also when a fallback or
	// onError: continue answered instead.
	Error string
	// Steps are nested steps (branches, items, then/else, fallbacks).
	Steps []StepTrace
}

// Plan is a bundle built for one environment at one deployed version:
// its connectors are built and its flows ready to run. It is safe for
// concurrent use; Close it when it is replaced.
type Plan struct {
	version  int
	env      Environment
	vars     map[string]any
	conns    []connectors.Connector
	flows    map[string]*Flow
	stepObs  map[*flowDef][]*observers
	log      *slog.Logger
	red      redactor
	maxDepth int
	closed   atomic.Bool
	// triggers are the bundle's Trigger documents (triggerfire.go).
	triggers map[string]*triggerDef
}

// Flow is one runnable flow of a Plan.
type Flow struct {
	def  *flowDef
	plan *Plan
	obs  *observers
	// keyPrefix and baseTags are the constant parts of cache keys and
	// tags: "<ns>flow:<name>:v<version>:" and the All and flow tags.
	keyPrefix string
	baseTags  []string
}

// Name is the flow's name.
func (f *Flow) Name() string { return f.def.name }

// Description is the flow's description, "" when none.
func (f *Flow) Description() string { return f.def.description }

// Auth is "public", "user" or "server".
func (f *Flow) Auth() string { return f.def.auth }

// Version is the deployed version of the plan the flow belongs to.
func (f *Flow) Version() int { return f.plan.version }

// Cached reports whether the flow declares a cache.
func (f *Flow) Cached() bool { return f.def.cache != nil }

// Params describes the flow's declared inputs, in document order.
func (f *Flow) Params() []Param {
	out := make([]Param, len(f.def.params))
	for i, p := range f.def.params {
		out[i] = p.Param
	}
	return out
}

// Build builds b for env at version: every variable and secret the bundle
// uses must be in env (the error names all the missing ones), and every
// connector is built with its type's New. A failed Build closes what it
// built.
func (e *Engine) Build(ctx context.Context, b *Bundle, env Environment, version int) (*Plan, error) {
	var missingVars, missingSecrets []string
	for _, name := range b.envRefs {
		if _, ok := env.Vars[name]; !ok {
			missingVars = append(missingVars, name)
		}
	}
	for _, name := range b.secretRefs {
		if _, ok := env.Secrets[name]; !ok {
			missingSecrets = append(missingSecrets, name)
		}
	}
	if len(missingVars)+len(missingSecrets) > 0 {
		return nil, fmt.Errorf("orchestration: build: %w: variables %v, secrets %v", ErrMissingReference, missingVars, missingSecrets)
	}
	vars := env.Vars
	if vars == nil {
		vars = map[string]any{}
	}
	secrets := make(map[string]any, len(env.Secrets))
	for k, v := range env.Secrets {
		secrets[k] = v
	}
	p := &Plan{
		version: version, env: env, vars: vars, flows: map[string]*Flow{}, stepObs: map[*flowDef][]*observers{},
		log: e.cfg.Logger, red: newRedactor(env.Secrets), maxDepth: e.cfg.MaxFlowDepth, triggers: b.triggers,
	}
	for _, cd := range b.connectors {
		if err := ctx.Err(); err != nil {
			_ = p.Close()
			return nil, fmt.Errorf("orchestration: build: %w", err)
		}
		conn, err := e.buildConnector(cd, vars, secrets, p.red)
		if err != nil {
			_ = p.Close()
			return nil, err
		}
		p.conns = append(p.conns, conn)
	}
	for name, fd := range b.flows {
		p.flows[name] = &Flow{
			def: fd, plan: p, obs: e.metrics.flowObservers(name),
			keyPrefix: env.Namespace.Key("flow", name, "v"+strconv.Itoa(version)) + ":",
			baseTags:  []string{env.Namespace.All(), env.Namespace.Tag("flow:" + name)},
		}
		obs := make([]*observers, fd.stepCount)
		walkSteps(fd.steps, func(s *stepDef) {
			obs[s.seq] = e.metrics.stepObservers(name, s.id)
			if x, ok := s.exec.(*callExec); ok && s.retry != nil && s.retry.attempts > 1 && !s.retry.unsafe && !p.conns[x.conn].Idempotent(x.op) {
				e.cfg.Logger.Warn("orchestration: retry ignored for a non-idempotent operation (set retry.unsafe: true to retry it)",
					"flow", name, "step", s.id, "operation", x.connName+"."+x.op)
			}
		})
		p.stepObs[fd] = obs
	}
	return p, nil
}

// buildConnector resolves a connector's spec and builds it.
func (e *Engine) buildConnector(cd *connectorDef, vars, secrets map[string]any, red redactor) (connectors.Connector, error) {
	typ, ok := e.cfg.Connectors[cd.typName]
	if !ok || typ.New == nil {
		return nil, fmt.Errorf("orchestration: build connector %s: %w %q", cd.name, ErrUnknownConnectorType, cd.typName)
	}
	spec, err := cd.resolvedSpec(vars, secrets)
	if err != nil {
		return nil, &redactedError{msg: "orchestration: build: " + red.String(err.Error()), err: err}
	}
	conn, err := typ.New(spec, connectors.Options{Logger: e.cfg.Logger.With("connector", cd.name)})
	if err != nil {
		return nil, &redactedError{msg: "orchestration: build connector " + cd.name + ": " + red.String(err.Error()), err: err}
	}
	return conn, nil
}

// redactedError prints a redacted message and unwraps to its cause.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// walkSteps calls fn for every step of steps, nested ones included.
func walkSteps(steps []*stepDef, fn func(*stepDef)) {
	for _, s := range steps {
		fn(s)
		if s.fallback != nil {
			walkSteps(s.fallback.steps, fn)
		}
		switch x := s.exec.(type) {
		case *parallelExec:
			walkSteps(x.branches, fn)
		case *foreachExec:
			walkSteps(x.steps, fn)
		case *ifExec:
			walkSteps(x.then, fn)
			walkSteps(x.els, fn)
		case *switchExec:
			for _, k := range sortedKeys(x.cases) {
				walkSteps(x.cases[k], fn)
			}
			walkSteps(x.def, fn)
		}
	}
}

// Flow returns the flow named name.
func (p *Plan) Flow(name string) (*Flow, bool) {
	f, ok := p.flows[name]
	return f, ok
}

// Flows returns the plan's flows' names, sorted.
func (p *Plan) Flows() []string { return sortedKeys(p.flows) }

// Version is the plan's deployed version.
func (p *Plan) Version() int { return p.version }

// Run runs flow with call. It checks the input (an *InputError names the
// bad one) and, for `auth: user` flows, that there is a user; the api
// layer checks app and server keys before. Failures are a *FlowError
// (fail steps, mapped and unmapped connector failures), an error wrapping
// context.DeadlineExceeded (a flow or step timeout, or ctx's deadline) or
// context.Canceled.
func (p *Plan) Run(ctx context.Context, flow string, call Call) (*Result, error) {
	if p.closed.Load() {
		return nil, ErrClosed
	}
	f, err := p.Resolve(flow, call.AppVersion)
	if err != nil {
		return nil, err
	}
	if f.def.auth == AuthUser && call.User == nil {
		return nil, ErrUnauthenticated
	}
	input, err := coerceInput(f.def.params, call.Input)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if f.def.cache != nil && p.env.Cache != nil {
		res, err := f.runCached(ctx, &call, input, 0)
		switch {
		case err != nil:
			f.obs.observe(1, time.Since(start))
		case res.Cache == cache.Hit:
			f.obs.observe(2, time.Since(start))
		case res.Cache == cache.Stale:
			f.obs.observe(3, time.Since(start))
		default:
			f.obs.observe(0, time.Since(start))
		}
		return res, err
	}
	c := call // only an uncached run keeps the call: the cached path copies what it needs
	r := p.newRun(f.def, &c, input, 0)
	out, err := p.execute(ctx, r)
	if err != nil {
		f.obs.observe(1, time.Since(start))
		return nil, err
	}
	f.obs.observe(0, time.Since(start))
	return &Result{Output: out, Steps: r.traces}, nil
}

// flowFailure turns a step failure into what Run returns: the flow's
// `errors` mapping first, then deadlines, then 502 for connector failures
// and 500 for the rest. Messages are redacted.
func (p *Plan) flowFailure(fd *flowDef, fr *frame, err error) error {
	var fe *FlowError
	if errors.As(err, &fe) {
		return fe
	}
	step := ""
	var se *stepError
	if errors.As(err, &se) {
		step = se.step
	}
	var ce *connectors.Error
	kind, status := connectors.ErrorKind(""), 0
	if errors.As(err, &ce) {
		kind, status = ce.Kind, ce.Status
	}
	if kind == "" && errors.Is(err, context.DeadlineExceeded) {
		kind = connectors.KindTimeout
	}
	if !errors.Is(err, context.Canceled) {
		for _, rule := range fd.errors {
			if rule.matches(step, kind, status) {
				return p.mappedError(rule, fr, step, err)
			}
		}
	}
	switch {
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("orchestration: flow %s: step %s: %w", fd.name, step, context.Canceled)
	case kind == connectors.KindTimeout:
		return fmt.Errorf("orchestration: flow %s: step %s: %w", fd.name, step, context.DeadlineExceeded)
	case ce != nil:
		detail := ce.Connector + "." + ce.Operation + " failed: " + string(ce.Kind)
		if ce.Status != 0 {
			detail += " (status " + strconv.Itoa(ce.Status) + ")"
		}
		p.log.Warn("orchestration: connector failure", "flow", fd.name, "step", step, "error", p.red.String(ce.Error()))
		return &FlowError{Status: 502, Title: "Bad Gateway", Detail: p.red.String(detail), Step: step, Err: err}
	}
	msg := err.Error()
	if se != nil {
		msg = se.err.Error()
	}
	p.log.Warn("orchestration: flow failed", "flow", fd.name, "step", step, "error", p.red.String(msg))
	return &FlowError{Status: 500, Title: "Flow Failed", Detail: p.red.String(msg), Step: step, Err: &redactedError{msg: p.red.String(msg), err: err}}
}

// matches reports whether a failure of step with kind and status is the
// rule's.
func (r *errorRule) matches(step string, kind connectors.ErrorKind, status int) bool {
	if r.step != "" && r.step != step {
		return false
	}
	if len(r.kinds) > 0 {
		found := false
		for _, k := range r.kinds {
			found = found || k == kind
		}
		if !found {
			return false
		}
	}
	if len(r.statuses)+len(r.classes) > 0 {
		found := false
		for _, s := range r.statuses {
			found = found || s == status
		}
		for _, c := range r.classes {
			found = found || status/100 == c
		}
		if !found {
			return false
		}
	}
	return true
}

// mappedError builds a rule's problem; its title and detail see the
// flow's environment and `error`.
func (p *Plan) mappedError(rule *errorRule, fr *frame, step string, err error) error {
	env := map[string]any{nameError: p.errorValue(err)}
	if fr != nil {
		for k, v := range fr.env {
			if k != nameError {
				env[k] = v
			}
		}
	}
	fe := &FlowError{Status: rule.status, Step: step, Err: err}
	if t, terr := rule.title.eval(env); terr == nil {
		fe.Title = p.red.String(textOf(t))
	}
	if rule.detail != nil {
		if d, derr := rule.detail.eval(env); derr == nil {
			fe.Detail = p.red.String(textOf(d))
		}
	}
	return fe
}

// Close closes the plan's connectors; Run fails with ErrClosed after.
func (p *Plan) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	var errs []error
	for _, c := range p.conns {
		if err := c.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
