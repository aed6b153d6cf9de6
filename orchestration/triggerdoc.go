package orchestration

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"

	"github.com/skybridgehq/skybridge/store"
)

// KindTrigger is the kind of Trigger documents.
const KindTrigger = "Trigger"

// triggerFields are the keys of a Trigger document.
var triggerFields = []string{"apiVersion", "kind", "name", "description", "on", "schedule", "delay", "unless", "do"}

// Trigger event types: the object events of `on.events`, and the type of
// a scheduled firing's event.
const (
	EventCreated  = "created"
	EventUpdated  = "updated"
	EventDeleted  = "deleted"
	EventSchedule = "schedule"
)

// Names of a trigger expression's environment.
const (
	nameObject  = "object"
	nameEvent   = "event"
	nameTrigger = "trigger"
	nameFiring  = "firing"
)

// maxTriggerDelay bounds `delay`.
const maxTriggerDelay = 366 * 24 * time.Hour

// cronParser reads 5-field cron lines, an optional leading seconds field
// (6 fields), and descriptors such as @daily and @every 1h.
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// triggerDef is a compiled Trigger document.
type triggerDef struct {
	name, description string
	// Object events: collection, events and filter (nil matches all).
	collection string
	events     []string
	filter     store.Filter
	// Schedules: the cron line, its zone and the parsed schedule.
	cronSpec, timezone string
	schedule           cron.Schedule
	loc                *time.Location
	delay              time.Duration
	unless             value // nil: never skipped
	flow               string
	flowAt             *yaml.Node
	input              value // nil: empty input
	file               string
}

// TriggerInfo describes one trigger of a Plan, for the trigger runtime.
type TriggerInfo struct {
	// Name is the trigger's name.
	Name string
	// Flow is the flow it runs.
	Flow string
	// Collection, Events and Filter select object events; Collection is
	// "" for a schedule. Filter is nil when the trigger has none.
	Collection string
	Events     []string
	Filter     store.Filter
	// Delay, when positive, fires that long after the object's last
	// matching event.
	Delay time.Duration
	// Schedule is the trigger's cron schedule, nil for object events.
	Schedule *Schedule
}

// Schedule is a parsed cron schedule in its time zone.
type Schedule struct {
	// Cron is the cron line as written; Timezone its zone ("UTC" when
	// none was given).
	Cron, Timezone string
	sched          cron.Schedule
	loc            *time.Location
}

// Next returns the first instant of the schedule after t, in UTC, or the
// zero time when there is none. Daylight saving transitions follow the
// cron library's rules in the schedule's zone.
func (s *Schedule) Next(t time.Time) time.Time {
	n := s.sched.Next(t.In(s.loc))
	if n.IsZero() {
		return n
	}
	return n.UTC()
}

func (td *triggerDef) info() TriggerInfo {
	ti := TriggerInfo{Name: td.name, Flow: td.flow, Collection: td.collection, Events: append([]string(nil), td.events...),
		Filter: td.filter, Delay: td.delay}
	if td.schedule != nil {
		ti.Schedule = &Schedule{Cron: td.cronSpec, Timezone: td.timezone, sched: td.schedule, loc: td.loc}
	}
	return ti
}

// triggerScope is what trigger expressions may name.
func triggerScope() *scope {
	return &scope{names: map[string]any{
		nameObject: map[string]any{}, nameEvent: map[string]any{}, nameTrigger: map[string]any{},
		nameEnv: map[string]any{}, nameFiring: map[string]any{},
	}}
}

// compileTrigger compiles a Trigger document; flows are the bundle's
// compiled flows, for `do.flow`.
func (e *Engine) compileTrigger(d *rawDoc, flows map[string]*flowDef) *triggerDef {
	c := d.r
	td := &triggerDef{name: d.name, file: c.file}
	if n := d.f.get("description"); n != nil {
		td.description, _ = c.str(n, "description")
	}
	on, sched := d.f.get("on"), d.f.get("schedule")
	switch {
	case on == nil && sched == nil:
		c.fail(d.root, "on", "a trigger needs one of on (object events) or schedule")
	case on != nil && sched != nil:
		c.fail(d.f.keys["schedule"], "schedule", "a trigger has one of on or schedule, not both")
	case on != nil:
		readTriggerOn(c, on, td)
	default:
		readTriggerSchedule(c, sched, td)
	}
	if n := d.f.get("delay"); n != nil {
		if sched != nil {
			c.fail(n, "delay", "delay applies to object events (on), not to schedules")
		} else if dl, ok := c.duration(n, "delay", maxTriggerDelay); ok {
			td.delay = dl
		}
	}
	sc := triggerScope()
	if n := d.f.get("unless"); n != nil {
		if n.Kind != yaml.ScalarNode || n.Tag != "!!str" || !isOneExpression(n.Value) {
			c.fail(n, "unless", "must be one ${...} expression that yields true or false")
		} else {
			td.unless = c.value(n, "unless", sc)
		}
	}
	if !d.f.has("do") {
		c.fail(d.root, "do", "missing required field do")
		return td
	}
	f, ok := c.mapping(d.f.get("do"), "do", "flow", "input")
	if !ok {
		return td
	}
	if !f.has("flow") {
		c.fail(d.f.get("do"), "do.flow", "missing required field flow")
	} else if name, ok := c.str(f.get("flow"), "do.flow"); ok {
		td.flow, td.flowAt = name, f.get("flow")
		fd := flows[name]
		switch {
		case fd == nil:
			c.fail(td.flowAt, "do.flow", "unknown flow %q", name)
		case fd.auth == AuthUser:
			c.fail(td.flowAt, "do.flow", "flow %q has auth: user, but a trigger runs it without a user (use auth: server or public)", name)
		}
		if in := f.get("input"); in != nil && fd != nil && in.Kind == yaml.MappingNode {
			quiet := &reader{file: c.file, errs: &errorList{}}
			if m, ok := quiet.mapping(in, "do.input"); ok {
				for _, k := range m.order {
					if !fd.inputs[k] {
						c.fail(m.keys[k], join("do.input", k), "flow %q has no input %q", name, k)
					}
				}
			}
		}
	}
	if in := f.get("input"); in != nil {
		if in.Kind != yaml.MappingNode {
			c.fail(in, "do.input", "must be a mapping of the flow's inputs, not %s", describe(in))
		} else {
			td.input = c.value(in, "do.input", sc)
		}
	}
	return td
}

// isOneExpression reports whether s is exactly one ${...}.
func isOneExpression(s string) bool {
	segs, err := splitTemplate(s)
	return err == nil && len(segs) == 1 && segs[0].isExpr
}

// readTriggerOn reads `on: {collection, events, filter}`.
func readTriggerOn(c *compiler, n *yaml.Node, td *triggerDef) {
	f, ok := c.mapping(n, "on", "collection", "events", "filter")
	if !ok {
		return
	}
	if !f.has("collection") {
		c.fail(n, "on.collection", "missing required field collection")
	} else if col, ok := c.str(f.get("collection"), "on.collection"); ok {
		if err := store.ValidCollectionName(col); err != nil {
			c.fail(f.get("collection"), "on.collection", "%q is not a valid collection name", col)
		} else {
			td.collection = col
		}
	}
	if !f.has("events") {
		td.events = []string{EventCreated, EventUpdated, EventDeleted}
	} else {
		seen := map[string]bool{}
		for _, ev := range c.strings(f.get("events"), "on.events") {
			if ev.s != EventCreated && ev.s != EventUpdated && ev.s != EventDeleted {
				c.fail(ev.n, "on.events", "unknown event %q (created, updated or deleted)", ev.s)
				continue
			}
			if !seen[ev.s] {
				seen[ev.s] = true
				td.events = append(td.events, ev.s)
			}
		}
		if len(seen) == 0 && f.get("events").Kind == yaml.SequenceNode {
			c.fail(f.get("events"), "on.events", "needs at least one event")
		}
	}
	if fn := f.get("filter"); fn != nil {
		raw, ok := c.constant(fn, "on.filter")
		if !ok {
			return
		}
		if _, isMap := raw.(map[string]any); !isMap {
			c.fail(fn, "on.filter", "must be a mapping (the object filter language)")
			return
		}
		text, err := json.Marshal(raw)
		if err != nil {
			c.fail(fn, "on.filter", "cannot be encoded as JSON")
			return
		}
		flt, err := store.ParseFilter(text)
		if err != nil {
			c.fail(fn, "on.filter", "%s", strings.TrimPrefix(err.Error(), "store: invalid argument: "))
			return
		}
		td.filter = flt
	}
}

// readTriggerSchedule reads `schedule: {cron, timezone}`.
func readTriggerSchedule(c *compiler, n *yaml.Node, td *triggerDef) {
	f, ok := c.mapping(n, "schedule", "cron", "timezone")
	if !ok {
		return
	}
	td.timezone, td.loc = "UTC", time.UTC
	if tn := f.get("timezone"); tn != nil {
		if tz, ok := c.str(tn, "schedule.timezone"); ok {
			loc, err := loadLocation(tz)
			if err != nil {
				c.fail(tn, "schedule.timezone", "unknown time zone %q (an IANA name such as Europe/Berlin)", tz)
			} else {
				td.timezone, td.loc = tz, loc
			}
		}
	}
	if !f.has("cron") {
		c.fail(n, "schedule.cron", "missing required field cron")
		return
	}
	spec, ok := c.str(f.get("cron"), "schedule.cron")
	if !ok {
		return
	}
	if strings.Contains(spec, "TZ=") {
		c.fail(f.get("cron"), "schedule.cron", "set the zone with schedule.timezone, not TZ= in the cron line")
		return
	}
	sched, err := parseCron(spec)
	if err != nil {
		c.fail(f.get("cron"), "schedule.cron", "invalid cron line %q: %v", spec, err)
		return
	}
	td.cronSpec, td.schedule = spec, sched
}

// loadLocation is time.LoadLocation without the local zone: "Local" and
// "" would depend on the node's configuration.
func loadLocation(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		return nil, errors.New("not a zone name")
	}
	return time.LoadLocation(name)
}

// parseCron parses a cron line, turning a parser panic into an error.
func parseCron(spec string) (s cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("cannot be parsed")
		}
	}()
	return cronParser.Parse(spec)
}
