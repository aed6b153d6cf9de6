package orchestration

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/skybridgehq/skybridge/connectors"
)

// run is one execution of one flow, shared by its frames.
type run struct {
	plan   *Plan
	flow   *flowDef
	call   *Call
	obs    []*observers // by stepDef.seq
	trace  bool
	depth  int
	root   *frame
	output any
	traces []StepTrace
}

// frame is the expression environment of a sequence of steps. A frame is
// used by one goroutine at a time: parallel branches and foreach items
// run in child frames whose results are absorbed afterwards.
type frame struct {
	r                 *run
	env               map[string]any
	steps, meta, vars map[string]any
}

// newRun returns a run of fd with its root frame.
func (p *Plan) newRun(fd *flowDef, call *Call, input map[string]any, depth int) *run {
	r := &run{plan: p, flow: fd, call: call, obs: p.stepObs[fd], trace: call.Trace, depth: depth}
	fr := &frame{r: r, steps: make(map[string]any, 4), vars: map[string]any{}}
	if fd.usesMeta {
		fr.meta = map[string]any{}
	}
	fr.env = map[string]any{
		nameInput: input, nameSteps: fr.steps, nameMeta: fr.meta, nameVars: fr.vars,
		nameUser: nil, nameEnv: p.vars, nameError: nil,
	}
	if fd.usesUser {
		fr.env[nameUser] = userValue(call.User)
	}
	r.root = fr
	return r
}

// userValue is the `user` of expressions: nil without a user.
func userValue(u *User) any {
	if u == nil {
		return nil
	}
	roles := make([]any, len(u.Roles))
	for i, r := range u.Roles {
		roles[i] = r
	}
	return map[string]any{"id": u.ID, "email": u.Email, "roles": roles, "anonymous": u.Anonymous}
}

// child returns a frame that sees fr's results and keeps its own.
func (fr *frame) child() *frame {
	c := &frame{r: fr.r, steps: maps.Clone(fr.steps), meta: maps.Clone(fr.meta), vars: maps.Clone(fr.vars)}
	c.env = maps.Clone(fr.env)
	c.env[nameSteps], c.env[nameMeta], c.env[nameVars] = c.steps, c.meta, c.vars
	return c
}

// absorb copies the results of child c into fr.
func (fr *frame) absorb(c *frame) {
	maps.Copy(fr.steps, c.steps)
	maps.Copy(fr.vars, c.vars)
	if fr.meta != nil {
		maps.Copy(fr.meta, c.meta)
	}
}

// stepExec runs the kind-specific part of a step and reports the attempts
// it made (1 for all but retried calls).
type stepExec interface {
	run(ctx context.Context, fr *frame, s *stepDef, sink *[]StepTrace) (any, int, error)
}

// stepError is a failure and the innermost step it happened in.
type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string { return "step " + e.step + ": " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

// execute runs a flow's steps and output within the flow's timeout.
func (p *Plan) execute(ctx context.Context, r *run) (any, error) {
	ctx, cancel := context.WithTimeout(ctx, r.flow.timeout)
	defer cancel()
	var sink *[]StepTrace
	if r.trace {
		sink = &r.traces
	}
	out, err := p.runSteps(ctx, r.root, r.flow.steps, sink)
	if err == nil && r.flow.output != nil {
		out, err = r.flow.output.eval(r.root.env)
		if err != nil {
			err = &stepError{step: "output", err: err}
		}
	}
	if err != nil {
		return nil, p.flowFailure(r.flow, r.root, err)
	}
	return out, nil
}

// runSteps runs steps in sequence and returns the last one's result.
func (p *Plan) runSteps(ctx context.Context, fr *frame, steps []*stepDef, sink *[]StepTrace) (any, error) {
	var last any
	for _, s := range steps {
		out, err := p.runStep(ctx, fr, s, sink)
		if err != nil {
			return nil, err
		}
		last = out
	}
	return last, nil
}

// runStep runs one step with its timeout, fallback and onError, records
// its result, metrics, log and trace.
func (p *Plan) runStep(ctx context.Context, fr *frame, s *stepDef, sink *[]StepTrace) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, &stepError{step: s.id, err: err}
	}
	start := time.Now()
	var (
		tr     *StepTrace
		nested *[]StepTrace
	)
	if sink != nil {
		tr = &StepTrace{ID: s.id, Kind: s.kind}
		nested = &tr.Steps
	}
	sctx := ctx
	var cancel context.CancelFunc
	if s.timeout > 0 {
		sctx, cancel = context.WithTimeout(ctx, s.timeout)
	}
	out, attempts, err := s.exec.run(sctx, fr, s, nested)
	if cancel != nil {
		cancel()
	}
	outcome := 0 // outcomeOK
	var failure error
	if err != nil {
		failure = err
		if _, ok := err.(*stepError); !ok {
			if _, isFlow := err.(*FlowError); !isFlow {
				err = &stepError{step: s.id, err: err}
			}
		}
		switch {
		case ctx.Err() != nil:
			// The flow's deadline or the caller ended it: nothing to
			// fall back on.
			outcome = 1
		case s.fallback != nil:
			outcome = 2
			out, err = p.runFallback(ctx, fr, s, err, nested)
			if err != nil {
				outcome = 1
			}
		case s.cont:
			outcome = 3
			out, err = nil, p.continueAfter(fr, s, err)
		default:
			outcome = 1
		}
	}
	if err == nil && s.named {
		fr.steps[s.id] = out
	}
	d := time.Since(start)
	fr.r.obs[s.seq].observe(outcome, d)
	if p.log.Enabled(ctx, slog.LevelDebug) {
		attrs := []slog.Attr{
			slog.String("flow", fr.r.flow.name), slog.String("step", s.id), slog.String("kind", s.kind),
			slog.String("outcome", outcomeNames[outcome]), slog.Duration("duration", d), slog.Int("attempts", attempts),
		}
		if failure != nil {
			attrs = append(attrs, slog.String("error", p.red.String(failure.Error())))
		}
		p.log.LogAttrs(ctx, slog.LevelDebug, "orchestration: step", attrs...)
	}
	if tr != nil {
		tr.Duration, tr.Attempts, tr.Output = d, attempts, out
		if failure != nil {
			tr.Error = p.red.String(failure.Error())
		}
		*sink = append(*sink, *tr)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

var outcomeNames = [4]string{outcomeOK, outcomeError, outcomeFallback, outcomeContinue}

// runFallback answers a failed step with its fallback; `error` describes
// the failure meanwhile.
func (p *Plan) runFallback(ctx context.Context, fr *frame, s *stepDef, failure error, sink *[]StepTrace) (any, error) {
	fr.env[nameError] = p.errorValue(failure)
	defer func() { fr.env[nameError] = nil }()
	if s.fallback.steps != nil {
		return p.runSteps(ctx, fr, s.fallback.steps, sink)
	}
	out, err := s.fallback.value.eval(fr.env)
	if err != nil {
		return nil, &stepError{step: s.id, err: err}
	}
	return out, nil
}

// continueAfter records a failure that `onError: continue` passes over:
// the step's result is nil and meta.<id>.error says why.
func (p *Plan) continueAfter(fr *frame, s *stepDef, failure error) error {
	if fr.meta != nil && s.named {
		fr.meta[s.id] = p.errorValue(failure)
	}
	return nil
}

// errorValue is `error` for fallbacks (and meta.<id> after continue):
// step, kind, status and a redacted message.
func (p *Plan) errorValue(err error) map[string]any {
	m := map[string]any{"step": "", "kind": "", "status": 0, "message": p.red.String(err.Error())}
	var se *stepError
	if errors.As(err, &se) {
		m["step"] = se.step
	}
	var ce *connectors.Error
	if errors.As(err, &ce) {
		m["kind"], m["status"], m["message"] = string(ce.Kind), ce.Status, p.red.String(ce.Message)
	} else if errors.Is(err, context.DeadlineExceeded) {
		m["kind"] = string(connectors.KindTimeout)
	}
	var fe *FlowError
	if errors.As(err, &fe) {
		m["status"], m["message"] = fe.Status, fe.Title
	}
	return m
}

// shouldRetry reports whether a failed call may be tried again under r.
func shouldRetry(r *retryDef, err error) bool {
	var ce *connectors.Error
	if !errors.As(err, &ce) || ce.Kind == connectors.KindInvalid {
		return false
	}
	if len(r.on) > 0 {
		found := false
		for _, k := range r.on {
			found = found || k == ce.Kind
		}
		if !found {
			return false
		}
		if ce.Kind != connectors.KindStatus {
			return true
		}
	}
	return ce.Retryable()
}

// backoff is the wait before attempt n+1: exponential from r.backoff,
// capped at r.maxBackoff, with equal jitter (half fixed, half random).
func (r *retryDef) delay(n int) time.Duration {
	d := r.backoff
	for i := 1; i < n && d < r.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, r.maxBackoff)
	if r.jitter && d > 1 {
		d = d/2 + rand.N(d/2+1)
	}
	return d
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// itemTraceID names a foreach item's trace.
func itemTraceID(step string, i int) string { return step + "[" + strconv.Itoa(i) + "]" }
