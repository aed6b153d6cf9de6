package orchestration

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Trigger errors. Test with errors.Is.
var (
	// ErrTriggerNotFound: no trigger of that name in the plan (it was
	// removed by a later deployment).
	ErrTriggerNotFound = errors.New("orchestration: trigger not found")
	// ErrSkipped: the trigger's `unless` was true; the flow did not run.
	ErrSkipped = errors.New("orchestration: firing skipped by unless")
)

// TriggerEvent is what caused a firing, `event` and `object` in the
// trigger's expressions.
type TriggerEvent struct {
	// Type is created, updated, deleted or schedule.
	Type string
	// Collection and ID name the object ("" for schedules).
	Collection, ID string
	// Seq is the object's _seq at the event (0 for schedules).
	Seq int64
	// Time is when the event happened: the object's _updatedAt, or the
	// scheduled instant.
	Time time.Time
	// Object is `object` in expressions: for immediate firings the object
	// as the event wrote it; for delayed ones the runtime reads it again
	// at fire time (a tombstone when it was deleted meanwhile). Nil for
	// schedules.
	Object map[string]any
}

// Firing identifies one firing of a trigger, `firing` in its
// expressions (id, key, attempt).
type Firing struct {
	// ID is the firing's durable id.
	ID string
	// Key is its idempotency key: the same on every attempt of one
	// firing, a new one for every new firing. Pass it to the systems the
	// flow calls (`input: {key: "${firing.key}"}`).
	Key string
	// Attempt counts from 1.
	Attempt int
}

// Triggers lists the plan's triggers, sorted by name.
func (p *Plan) Triggers() []TriggerInfo {
	out := make([]TriggerInfo, 0, len(p.triggers))
	for _, name := range sortedKeys(p.triggers) {
		out = append(out, p.triggers[name].info())
	}
	return out
}

// Fire runs one firing of trigger: it evaluates `unless` (true →
// ErrSkipped, nothing runs) and `do.input` against ev and f, then runs the
// trigger's flow as a server call without a user. Flow failures are as
// Run's; an expression failure is a *FlowError with status 500.
func (p *Plan) Fire(ctx context.Context, trigger string, f Firing, ev TriggerEvent) (*Result, error) {
	if p.closed.Load() {
		return nil, ErrClosed
	}
	td, ok := p.triggers[trigger]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrTriggerNotFound, trigger)
	}
	env := map[string]any{
		nameObject:  ev.Object,
		nameEvent:   map[string]any{"type": ev.Type, "collection": ev.Collection, "id": ev.ID, "_seq": ev.Seq, "time": ev.Time.UTC().Format(time.RFC3339Nano)},
		nameTrigger: map[string]any{"name": td.name, "flow": td.flow},
		nameEnv:     p.vars,
		nameFiring:  map[string]any{"id": f.ID, "key": f.Key, "attempt": f.Attempt},
	}
	if ev.Object == nil {
		env[nameObject] = nil
	}
	if td.unless != nil {
		v, err := td.unless.eval(env)
		if err != nil {
			return nil, p.triggerFailure(td, "unless", err)
		}
		skip, isBool := v.(bool)
		if !isBool {
			return nil, p.triggerFailure(td, "unless", fmt.Errorf("unless yields %T, not true or false", v))
		}
		if skip {
			return nil, ErrSkipped
		}
	}
	input := map[string]any{}
	if td.input != nil {
		v, err := td.input.eval(env)
		if err != nil {
			return nil, p.triggerFailure(td, "do.input", err)
		}
		if m, ok := v.(map[string]any); ok {
			input = m
		}
	}
	return p.Run(ctx, td.flow, Call{Input: input})
}

// triggerFailure is a failed trigger expression, as a redacted 500.
func (p *Plan) triggerFailure(td *triggerDef, field string, err error) error {
	msg := p.red.String(err.Error())
	p.log.Warn("orchestration: trigger expression failed", "trigger", td.name, "field", field, "error", msg)
	return &FlowError{Status: 500, Title: "Trigger Failed", Detail: field + ": " + msg, Step: field, Err: &redactedError{msg: msg, err: err}}
}
