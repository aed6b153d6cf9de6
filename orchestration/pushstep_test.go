package orchestration

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
)

// recordingPusher keeps the requests of push steps.
type recordingPusher struct {
	mu   sync.Mutex
	reqs []map[string]any
}

func (p *recordingPusher) Push(_ context.Context, req map[string]any) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reqs = append(p.reqs, req)
	return "n1", nil
}

const pushFlow = `apiVersion: skybridge/v1
kind: Flow
name: remind
auth: server
input: {userId: {type: string, required: true}, items: {type: integer}}
steps:
  - id: notify
    push:
      target: {users: ["${input.userId}"]}
      notification: {title: "Cart", body: "{{items}} items", data: {n: "${input.items}"}}
      vars: {items: "${input.items}"}
output: {id: "${steps.notify.id}"}
`

func TestPushStep(t *testing.T) {
	t.Parallel()
	e := testEngine(t, crmHandler)
	rec := &recordingPusher{}
	p := mustPlan(t, e, flowFiles(pushFlow), Environment{Push: rec})
	res, err := p.Run(context.Background(), "remind", Call{Input: map[string]any{"userId": "u1", "items": 3}})
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, res.Output, map[string]any{"id": "n1"})
	if len(rec.reqs) != 1 {
		t.Fatalf("requests %v", rec.reqs)
	}
	jsonEqual(t, rec.reqs[0], map[string]any{
		"target":       map[string]any{"users": []any{"u1"}},
		"notification": map[string]any{"title": "Cart", "body": "{{items}} items", "data": map[string]any{"n": 3}},
		"vars":         map[string]any{"items": 3},
	})

	// Without push in the environment the step fails; nothing is half done.
	bare := mustPlan(t, e, flowFiles(pushFlow), Environment{})
	if _, err := bare.Run(context.Background(), "remind", Call{Input: map[string]any{"userId": "u1"}}); !errors.Is(err, ErrPushUnavailable) {
		t.Errorf("without push: %v", err)
	}
}

func TestPushStepValidation(t *testing.T) {
	t.Parallel()
	e := testEngine(t, crmHandler)
	for _, tt := range []struct{ step, want string }{
		{`push: {notification: {title: x}}`, "missing required field target"},
		{`push: {target: {topics: [a]}}`, "missing required field notification"},
		{`push: {target: {topics: [a]}, notification: {title: x}, sendAt: now}`, `unknown field "sendAt"`},
		{`push: hello`, "must be a mapping"},
	} {
		flow := "apiVersion: skybridge/v1\nkind: Flow\nname: f\nsteps:\n  - " + tt.step + "\n"
		_, err := e.Load(flowFiles(flow))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.step, err, tt.want)
		}
	}
}
