package analytics

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Batch is what an app SDK sends to POST /v1/analytics/events.
type Batch struct {
	// BatchID, when set, identifies the batch across retries: a batch id
	// seen before is a duplicate and counts nothing again. 1 to 64 of
	// A-Z a-z 0-9 _ -.
	BatchID string `json:"batchId,omitempty"`
	// Events are the batch's events, 1 to Config.MaxEvents.
	Events []Event `json:"events"`
}

// Event is one custom event of a batch.
type Event struct {
	// Name is the event's name: a letter, then up to 39 letters, digits
	// or '_'.
	Name string `json:"name"`
	// Properties are the event's parameters: string, number or boolean
	// values. They are validated, not aggregated.
	Properties map[string]any `json:"properties,omitempty"`
	// Timestamp is when the event happened, RFC 3339.
	Timestamp string `json:"timestamp"`
	// Session identifies the app session, for distinct-session counts.
	Session string `json:"session,omitempty"`
	// AppVersion is the app's version, e.g. "2.4.1".
	AppVersion string `json:"appVersion,omitempty"`
	// Platform is ios, android, web or other.
	Platform string `json:"platform"`
}

// Platforms an event may name.
var platforms = map[string]bool{"ios": true, "android": true, "web": true, "other": true}

var (
	nameRe    = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,39}$`)
	batchIDRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

// Bounds on the free-text fields of an event.
const (
	maxSessionLen    = 128
	maxAppVersionLen = 64
)

// ValidName reports whether name can name an event (as Firebase's rule:
// a letter, then up to 39 letters, digits or '_').
func ValidName(name string) bool { return nameRe.MatchString(name) }

// checked is a validated batch: its events split into the kept and the
// dropped (stale or from the future).
type checked struct {
	kept    []keptEvent
	dropped int
}

type keptEvent struct {
	index int // in the batch, for error fields
	ev    *Event
	day   string
}

// Validate checks every event of b against the limits and the clock and
// returns all the faults at once, joined, each a *FieldError naming its
// field. It says how many events are kept and how many are dropped for
// their timestamp.
func (s *Service) Validate(b Batch) (accepted, dropped int, err error) {
	c, err := s.check(&b)
	return len(c.kept), c.dropped, err
}

// maxFaults bounds the faults one answer lists.
const maxFaults = 20

func (s *Service) check(b *Batch) (checked, error) {
	var (
		c    checked
		errs []error
	)
	fault := func(f *FieldError) {
		if len(errs) < maxFaults {
			errs = append(errs, f)
		}
	}
	if b.BatchID != "" && !batchIDRe.MatchString(b.BatchID) {
		fault(fieldErr("batchId", "must be 1 to 64 of A-Z a-z 0-9 _ -"))
	}
	switch {
	case b.Events == nil:
		fault(fieldErr("events", "is required"))
	case len(b.Events) == 0:
		fault(fieldErr("events", "must hold at least one event"))
	case len(b.Events) > s.cfg.MaxEvents:
		fault(fieldErr("events", "holds %d events; at most %d per batch", len(b.Events), s.cfg.MaxEvents))
		return c, errors.Join(errs...)
	}
	now := s.cfg.Now()
	oldest, latest := now.Add(-s.cfg.MaxAge), now.Add(s.cfg.MaxAhead)
	for i := range b.Events {
		ev := &b.Events[i]
		at := func(f string) string { return "events[" + itoa(i) + "]." + f }
		if !nameRe.MatchString(ev.Name) {
			fault(fieldErr(at("name"), "%q is not an event name (a letter, then up to 39 letters, digits or _)", clip(ev.Name)))
		}
		if !platforms[ev.Platform] {
			fault(fieldErr(at("platform"), "%q: want ios, android, web or other", clip(ev.Platform)))
		}
		if len(ev.Session) > maxSessionLen || !utf8.ValidString(ev.Session) {
			fault(fieldErr(at("session"), "at most %d bytes of UTF-8", maxSessionLen))
		}
		if len(ev.AppVersion) > maxAppVersionLen || !utf8.ValidString(ev.AppVersion) || strings.ContainsRune(ev.AppVersion, '|') {
			fault(fieldErr(at("appVersion"), "at most %d bytes of UTF-8, without |", maxAppVersionLen))
		}
		if f := s.checkProperties(ev.Properties, at("properties")); f != nil {
			fault(f)
		}
		ts, err := time.Parse(time.RFC3339Nano, ev.Timestamp)
		if err != nil {
			fault(fieldErr(at("timestamp"), "%q is not an RFC 3339 time", clip(ev.Timestamp)))
			continue
		}
		if ts.Before(oldest) || ts.After(latest) {
			c.dropped++
			continue
		}
		c.kept = append(c.kept, keptEvent{index: i, ev: ev, day: day(ts)})
	}
	return c, errors.Join(errs...)
}

// checkProperties returns the first fault of an event's properties.
func (s *Service) checkProperties(props map[string]any, at string) *FieldError {
	if len(props) > s.cfg.MaxProperties {
		return fieldErr(at, "holds %d properties; at most %d", len(props), s.cfg.MaxProperties)
	}
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "" || utf8.RuneCountInString(k) > s.cfg.MaxPropertyKey || !utf8.ValidString(k) {
			return fieldErr(at, "property name %q: 1 to %d characters", clip(k), s.cfg.MaxPropertyKey)
		}
		var n int
		switch v := props[k].(type) {
		case string:
			n = len(v)
		case json.Number:
			n = len(v)
		case float64, bool:
		default:
			return fieldErr(at+"."+clip(k), "must be a string, number or boolean")
		}
		if n > s.cfg.MaxPropertyValue {
			return fieldErr(at+"."+clip(k), "is %d bytes; at most %d", n, s.cfg.MaxPropertyValue)
		}
	}
	return nil
}

// clip shortens what an error quotes back.
func clip(s string) string {
	if len(s) <= 64 {
		return s
	}
	cut := 64
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b [20]byte
	n := len(b)
	for i > 0 {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
	}
	return string(b[n:])
}

// hashUser turns a user id into the opaque token kept for distinct-user
// counts: the id itself is never stored.
func hashUser(id string) string {
	sum := sha256.Sum256([]byte("skybridge-analytics-user:" + id))
	return hex.EncodeToString(sum[:12])
}
