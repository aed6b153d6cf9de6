package orchestration

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/skybridgehq/skybridge/connectors"
)

// callExec calls a connector operation with the step's `with` arguments.
// Its result is the response body; meta.<id> holds {status, headers}.
type callExec struct {
	conn     int // index in the bundle's and plan's connectors
	connName string
	op       string
	with     value
}

func (x *callExec) run(ctx context.Context, fr *frame, s *stepDef, _ *[]StepTrace) (any, int, error) {
	p := fr.r.plan
	argsV, err := x.with.eval(fr.env)
	if err != nil {
		return nil, 0, err
	}
	args, ok := argsV.(map[string]any)
	if !ok && argsV != nil {
		return nil, 0, fmt.Errorf("with must be a mapping, not %T", argsV)
	}
	conn := p.conns[x.conn]
	req := connectors.Request{Operation: x.op, Args: args, Traceparent: fr.r.call.Traceparent}
	attempts := 1
	if s.retry != nil && (s.retry.unsafe || conn.Idempotent(x.op)) {
		attempts = s.retry.attempts
	}
	for n := 1; ; n++ {
		resp, err := conn.Call(ctx, req)
		if err == nil {
			if fr.meta != nil && s.named {
				fr.meta[s.id] = map[string]any{"status": resp.Status, "headers": resp.Header}
			}
			return resp.Body, n, nil
		}
		if n >= attempts || ctx.Err() != nil || !shouldRetry(s.retry, err) {
			return nil, n, err
		}
		if serr := sleep(ctx, s.retry.delay(n)); serr != nil {
			return nil, n, err
		}
	}
}

// parallelExec runs its branches concurrently; its result is the list of
// their results. The first failure cancels the others.
type parallelExec struct {
	branches []*stepDef
}

func (x *parallelExec) run(ctx context.Context, fr *frame, _ *stepDef, sink *[]StepTrace) (any, int, error) {
	p := fr.r.plan
	n := len(x.branches)
	outs := make([]any, n)
	frames := make([]*frame, n)
	var sinks [][]StepTrace
	if sink != nil {
		sinks = make([][]StepTrace, n)
	}
	g, gctx := errgroup.WithContext(ctx)
	for i, b := range x.branches {
		frames[i] = fr.child()
		g.Go(func() error {
			var sk *[]StepTrace
			if sinks != nil {
				sk = &sinks[i]
			}
			out, err := p.runStep(gctx, frames[i], b, sk)
			outs[i] = out
			return err
		})
	}
	err := g.Wait()
	for i := range frames {
		if sinks != nil {
			*sink = append(*sink, sinks[i]...)
		}
	}
	if err != nil {
		return nil, 1, err
	}
	for _, c := range frames {
		fr.absorb(c)
	}
	return outs, 1, nil
}

// foreachExec runs its steps once per item, at most concurrency at a
// time; its result lists each item's output (or last step result) in the
// items' order.
type foreachExec struct {
	items       value
	as          string
	concurrency int
	steps       []*stepDef
	output      value
}

func (x *foreachExec) run(ctx context.Context, fr *frame, s *stepDef, sink *[]StepTrace) (any, int, error) {
	p := fr.r.plan
	v, err := x.items.eval(fr.env)
	if err != nil {
		return nil, 0, err
	}
	var items []any
	switch l := v.(type) {
	case nil:
	case []any:
		items = l
	case []string:
		items = make([]any, len(l))
		for i, e := range l {
			items[i] = e
		}
	default:
		return nil, 0, fmt.Errorf("foreach needs a list, not %T", v)
	}
	outs := make([]any, len(items))
	var sinks []StepTrace
	if sink != nil {
		sinks = make([]StepTrace, len(items))
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(x.concurrency)
	for i, item := range items {
		g.Go(func() error {
			c := fr.child()
			c.env[x.as], c.env[nameIndex] = item, i
			var sk *[]StepTrace
			if sinks != nil {
				sinks[i] = StepTrace{ID: itemTraceID(s.id, i), Kind: "item", Attempts: 1}
				sk = &sinks[i].Steps
			}
			out, err := p.runSteps(gctx, c, x.steps, sk)
			if err == nil && x.output != nil {
				out, err = x.output.eval(c.env)
			}
			outs[i] = out
			return err
		})
	}
	err = g.Wait()
	if sink != nil {
		*sink = append(*sink, sinks...)
	}
	if err != nil {
		return nil, 1, err
	}
	return outs, 1, nil
}

// ifExec runs then or else; its result is the last step's.
type ifExec struct {
	cond      value
	then, els []*stepDef
}

func (x *ifExec) run(ctx context.Context, fr *frame, _ *stepDef, sink *[]StepTrace) (any, int, error) {
	v, err := x.cond.eval(fr.env)
	if err != nil {
		return nil, 0, err
	}
	steps := x.els
	if truthy(v) {
		steps = x.then
	}
	out, err := fr.r.plan.runSteps(ctx, fr, steps, sink)
	return out, 1, err
}

// truthy: false, nil, 0, "" and empty lists and mappings are false.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case int:
		return x != 0
	case float64:
		return x != 0
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	}
	return true
}

// switchExec runs the case whose key is the value's text, or default.
type switchExec struct {
	on    value
	cases map[string][]*stepDef
	def   []*stepDef
}

func (x *switchExec) run(ctx context.Context, fr *frame, _ *stepDef, sink *[]StepTrace) (any, int, error) {
	v, err := x.on.eval(fr.env)
	if err != nil {
		return nil, 0, err
	}
	steps, ok := x.cases[textOf(v)]
	if !ok {
		steps = x.def
	}
	out, err := fr.r.plan.runSteps(ctx, fr, steps, sink)
	return out, 1, err
}

// transformExec builds a value.
type transformExec struct{ v value }

func (x *transformExec) run(_ context.Context, fr *frame, _ *stepDef, _ *[]StepTrace) (any, int, error) {
	out, err := x.v.eval(fr.env)
	return out, 1, err
}

// setExec sets variables; its result is the mapping of what it set.
type setExec struct {
	names []string
	vals  []value
}

func (x *setExec) run(_ context.Context, fr *frame, _ *stepDef, _ *[]StepTrace) (any, int, error) {
	out := make(map[string]any, len(x.names))
	for i, name := range x.names {
		v, err := x.vals[i].eval(fr.env)
		if err != nil {
			return nil, 1, err
		}
		out[name] = v
	}
	for k, v := range out {
		fr.vars[k] = v
	}
	return out, 1, nil
}

// failExec answers with a problem.
type failExec struct {
	status        int
	title, detail value
}

func (x *failExec) run(_ context.Context, fr *frame, s *stepDef, _ *[]StepTrace) (any, int, error) {
	p := fr.r.plan
	title, err := x.title.eval(fr.env)
	if err != nil {
		return nil, 1, err
	}
	detail, err := x.detail.eval(fr.env)
	if err != nil {
		return nil, 1, err
	}
	return nil, 1, &FlowError{Status: x.status, Title: p.red.String(textOf(title)), Detail: p.red.String(textOf(detail)), Step: s.id}
}

// flowExec runs another flow of the bundle with an input; its result is
// that flow's output. The called flow runs uncached, as the same user.
type flowExec struct {
	name string
	with value
}

func (x *flowExec) run(ctx context.Context, fr *frame, s *stepDef, sink *[]StepTrace) (any, int, error) {
	p := fr.r.plan
	if fr.r.depth+1 >= p.maxDepth {
		return nil, 1, fmt.Errorf("flow %s: nested flows deeper than %d", x.name, p.maxDepth)
	}
	f := p.flows[x.name]
	v, err := x.with.eval(fr.env)
	if err != nil {
		return nil, 0, err
	}
	args, _ := v.(map[string]any)
	input, err := coerceInput(f.def.params, args)
	if err != nil {
		var ie *InputError
		if errors.As(err, &ie) {
			return nil, 1, &FlowError{Status: 500, Title: "Flow Input Invalid", Detail: "flow " + x.name + ": input " + ie.Field + " " + ie.Message, Step: s.id, Err: err}
		}
		return nil, 1, err
	}
	r := p.newRun(f.def, fr.r.call, input, fr.r.depth+1)
	r.trace = sink != nil
	out, err := p.execute(ctx, r)
	if sink != nil {
		*sink = append(*sink, r.traces...)
	}
	return out, 1, err
}
