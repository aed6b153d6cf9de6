package orchestration

import (
	"context"
	"errors"
	"fmt"
)

// StepPush is the step kind that queues a push notification.
const StepPush = "push"

// pushFields are the keys of a push step's mapping: the body of
// POST /v1/push/send.
var pushFields = []string{"target", "notification", "ios", "android", "template", "vars", "scheduleAt", "localTime", "dedupeKey"}

// Pusher queues push notifications for `push` steps. The wiring passes
// one bound to the plan's environment (Environment.Push); the push
// package implements it, so orchestration does not import it.
type Pusher interface {
	// Push queues the notification described by request (the shape of
	// POST /v1/push/send) and returns its id.
	Push(ctx context.Context, request map[string]any) (id string, err error)
}

// ErrPushUnavailable: a push step ran in an environment without push.
var ErrPushUnavailable = errors.New("orchestration: push is not available in this environment")

// pushExec queues a notification; its result is {"id": <notification id>}.
type pushExec struct{ req value }

func (x *pushExec) run(ctx context.Context, fr *frame, _ *stepDef, _ *[]StepTrace) (any, int, error) {
	p := fr.r.plan
	if p.env.Push == nil {
		return nil, 1, ErrPushUnavailable
	}
	v, err := x.req.eval(fr.env)
	if err != nil {
		return nil, 1, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, 1, fmt.Errorf("push needs a mapping, not %T", v)
	}
	id, err := p.env.Push.Push(ctx, m)
	if err != nil {
		return nil, 1, fmt.Errorf("push: %s", p.red.String(err.Error()))
	}
	return map[string]any{"id": id}, 1, nil
}
