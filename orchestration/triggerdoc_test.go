package orchestration

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/connectors"
	"github.com/skybridgehq/skybridge/store"
)

// triggerFlow is a server flow with inputs cartId and key that answers
// them back.
const triggerFlow = `apiVersion: skybridge/v1
kind: Flow
name: remind
auth: server
input: {cartId: string, key: string, owner: string}
steps:
  - transform: {cart: "${input.cartId}", key: "${input.key}", owner: "${input.owner}"}
---
apiVersion: skybridge/v1
kind: Flow
name: userflow
steps: [{transform: 1}]
`

// triggerHead starts a Trigger document; its fields start on line 4.
const triggerHead = "apiVersion: skybridge/v1\nkind: Trigger\nname: t\n"

func TestTriggerValidation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, doc string
		line, col int
		field     string
		msg       string
	}{
		{"neither on nor schedule", triggerHead + "do: {flow: remind}\n", 1, 1, "on", "needs one of on"},
		{"both", triggerHead + "on: {collection: carts}\nschedule: {cron: '@daily'}\ndo: {flow: remind}\n", 5, 1, "schedule", "not both"},
		{"unknown field", triggerHead + "on: {collection: carts}\ndo: {flow: remind}\ndelya: 1s\n", 6, 1, "delya", `did you mean "delay"?`},
		{"unknown event", triggerHead + "on: {collection: carts, events: [created, renamed]}\ndo: {flow: remind}\n", 4, 43, "on.events", `unknown event "renamed"`},
		{"bad filter", triggerHead + "on: {collection: carts, filter: {status: {$near: 1}}}\ndo: {flow: remind}\n", 4, 33, "on.filter", "$near"},
		{"bad collection", triggerHead + "on: {collection: 'no way'}\ndo: {flow: remind}\n", 4, 18, "on.collection", "not a valid collection name"},
		{"bad cron", triggerHead + "schedule: {cron: '61 * * * *'}\ndo: {flow: remind}\n", 4, 18, "schedule.cron", "invalid cron line"},
		{"TZ in cron", triggerHead + "schedule: {cron: 'TZ=UTC 0 2 * * *'}\ndo: {flow: remind}\n", 4, 18, "schedule.cron", "schedule.timezone"},
		{"bad zone", triggerHead + "schedule: {cron: '0 2 * * *', timezone: Mars/Olympus}\ndo: {flow: remind}\n", 4, 41, "schedule.timezone", "unknown time zone"},
		{"delay on a schedule", triggerHead + "schedule: {cron: '@daily'}\ndelay: 1h\ndo: {flow: remind}\n", 5, 8, "delay", "not to schedules"},
		{"negative delay", triggerHead + "on: {collection: carts}\ndelay: -1h\ndo: {flow: remind}\n", 5, 8, "delay", "positive duration"},
		{"unknown flow", triggerHead + "on: {collection: carts}\ndo: {flow: nope}\n", 5, 12, "do.flow", `unknown flow "nope"`},
		{"user flow", triggerHead + "on: {collection: carts}\ndo: {flow: userflow}\n", 5, 12, "do.flow", "auth: user"},
		{"unknown input", triggerHead + "on: {collection: carts}\ndo: {flow: remind, input: {cart: 1}}\n", 5, 28, "do.input.cart", `has no input "cart"`},
		{"bad input expression", triggerHead + "on: {collection: carts}\ndo: {flow: remind, input: {cartId: '${steps.x}'}}\n", 5, 39, "do.input.cartId", "unknown name steps"},
		{"unless not an expression", triggerHead + "on: {collection: carts}\nunless: 'yes ${true}'\ndo: {flow: remind}\n", 5, 9, "unless", "one ${...} expression"},
		{"unless bad name", triggerHead + "on: {collection: carts}\nunless: '${user.id == 1}'\ndo: {flow: remind}\n", 5, 12, "unless", "unknown name user"},
		{"missing do", triggerHead + "on: {collection: carts}\n", 1, 1, "do", "missing required field do"},
		{"duplicate trigger", triggerHead + "on: {collection: a}\ndo: {flow: remind}\n---\n" + triggerHead + "on: {collection: b}\ndo: {flow: remind}\n", 9, 7, "name", `duplicate Trigger name "t"`},
	}
	e := NewEngine(EngineConfig{Connectors: map[string]connectors.Type{"func": funcType(nil, nil)}})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := e.Load(map[string]string{"flows.yaml": triggerFlow, "t.yaml": tc.doc})
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Load error = %v, want *ValidationError", err)
			}
			for _, fe := range ve.Errors {
				if fe.File == "t.yaml" && fe.Line == tc.line && fe.Column == tc.col && fe.Field == tc.field && strings.Contains(fe.Message, tc.msg) {
					return
				}
			}
			t.Fatalf("no error t.yaml:%d:%d %s: %q in\n%v", tc.line, tc.col, tc.field, tc.msg, ve)
		})
	}
}

func TestTriggerInfo(t *testing.T) {
	t.Parallel()
	e := testEngine(t, nil)
	p := mustPlan(t, e, map[string]string{"flows.yaml": triggerFlow, "t.yaml": `apiVersion: skybridge/v1
kind: Trigger
name: cart-reminder
on: {collection: carts, events: [created, updated], filter: {status: open}}
delay: 48h
do: {flow: remind}
---
apiVersion: skybridge/v1
kind: Trigger
name: nightly
schedule: {cron: "0 2 * * *", timezone: Europe/Berlin}
do: {flow: remind}
`}, Environment{})
	ts := p.Triggers()
	if len(ts) != 2 || ts[0].Name != "cart-reminder" || ts[1].Name != "nightly" {
		t.Fatalf("Triggers() = %+v", ts)
	}
	cr := ts[0]
	if cr.Collection != "carts" || cr.Delay != 48*time.Hour || cr.Flow != "remind" || strings.Join(cr.Events, ",") != "created,updated" || cr.Schedule != nil {
		t.Fatalf("cart-reminder = %+v", cr)
	}
	if want := (store.Compare{Path: "status", Op: store.OpEq, Value: "open"}); cr.Filter != want {
		t.Fatalf("filter = %#v, want %#v", cr.Filter, want)
	}
	// 02:00 in Berlin is 01:00 UTC in winter and 00:00 UTC in summer.
	cases := []struct{ after, want string }{
		{"2025-01-15T12:00:00Z", "2025-01-16T01:00:00Z"},
		{"2025-07-15T12:00:00Z", "2025-07-16T00:00:00Z"},
		// 02:00 does not exist the night clocks spring forward (30 March
		// 2025, 02:00 → 03:00): the cron library skips that day.
		{"2025-03-29T12:00:00Z", "2025-03-31T00:00:00Z"},
	}
	for _, c := range cases {
		after, _ := time.Parse(time.RFC3339, c.after)
		if got := ts[1].Schedule.Next(after).Format(time.RFC3339); got != c.want {
			t.Errorf("Next(%s) = %s, want %s", c.after, got, c.want)
		}
	}
}

func TestFire(t *testing.T) {
	t.Parallel()
	e := testEngine(t, nil)
	p := mustPlan(t, e, map[string]string{"flows.yaml": triggerFlow, "t.yaml": `apiVersion: skybridge/v1
kind: Trigger
name: t
on: {collection: carts}
unless: ${object?.status == "checked_out"}
do: {flow: remind, input: {cartId: "${object._id}", key: "${firing.key}", owner: "${event.type}:${env.REGION}"}}
`}, Environment{Vars: map[string]any{"REGION": "eu"}})
	f := Firing{ID: "f1", Key: "k1", Attempt: 1}
	cases := []struct {
		name    string
		obj     map[string]any
		want    map[string]any
		wantErr error
	}{
		{"open cart", map[string]any{"_id": "c1", "status": "open"}, map[string]any{"cart": "c1", "key": "k1", "owner": "updated:eu"}, nil},
		{"checked out", map[string]any{"_id": "c2", "status": "checked_out"}, nil, ErrSkipped},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := p.Fire(context.Background(), "t", f, TriggerEvent{Type: EventUpdated, Collection: "carts", ID: "c1", Seq: 3, Object: tc.obj})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Fire error = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			jsonEqual(t, res.Output, tc.want)
		})
	}
	if _, err := p.Fire(context.Background(), "nope", f, TriggerEvent{}); !errors.Is(err, ErrTriggerNotFound) {
		t.Fatalf("unknown trigger: %v", err)
	}
}

// FuzzTriggerDoc: Trigger documents through Load never panic, and every
// error points inside the input.
func FuzzTriggerDoc(f *testing.F) {
	for _, seed := range []string{
		triggerHead + "on: {collection: carts, events: [created], filter: {status: open}}\ndelay: 48h\nunless: ${object.status == 'x'}\ndo: {flow: remind, input: {cartId: '${object._id}'}}\n",
		triggerHead + "schedule: {cron: '0 2 * * *', timezone: Europe/Berlin}\ndo: {flow: remind}\n",
		triggerHead + "schedule: {cron: '*/0 * * * *'}\ndo: {flow: remind}\n",
		triggerHead + "schedule: {cron: '@every 0s'}\ndo: {flow: remind}\n",
		triggerHead + "on: {collection: c, filter: {$or: [{a: 1}, {b: {$regex: '('}}]}}\ndo: {flow: remind}\n",
		triggerHead + "on: []\nschedule: 1\ndo: x\n",
		triggerHead + "on: {collection: c}\ndo: {flow: remind, input: [1]}\n",
	} {
		f.Add(seed)
	}
	e := NewEngine(EngineConfig{Connectors: map[string]connectors.Type{"func": funcType(nil, nil)}})
	f.Fuzz(func(t *testing.T, text string) {
		_, err := e.Load(map[string]string{"flows.yaml": triggerFlow, "t.yaml": text})
		if err == nil {
			return
		}
		var ve *ValidationError
		if !errors.As(err, &ve) || len(ve.Errors) == 0 {
			t.Fatalf("Load error %v is not a ValidationError with errors", err)
		}
		lines := strings.Count(text, "\n") + 1
		for _, fe := range ve.Errors {
			if fe.File == "t.yaml" && (fe.Line < 1 || fe.Line > lines+1 || fe.Column < 1) {
				t.Fatalf("error outside the input (%d lines): %v", lines, fe)
			}
		}
	})
}
