package iotbridge

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestParseTelemetryTopic(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		topic, dev, stream string
		match, valid       bool
	}{
		{"skybridge/devices/d1/telemetry", "d1", "", true, true},
		{"skybridge/devices/d1/telemetry/engine", "d1", "engine", true, true},
		{"skybridge/devices/d1/telemetry/a.b:c-d_e", "d1", "a.b:c-d_e", true, true},
		{"skybridge/devices/d1/telemetry/", "d1", "", true, false},
		{"skybridge/devices/d1/telemetry/a/b", "d1", "a/b", true, false},
		{"skybridge/devices/d1/telemetry/" + strings.Repeat("x", 65), "d1", strings.Repeat("x", 65), true, false},
		{"skybridge/devices/d1/telemetryx", "", "", false, false},
		{"skybridge/devices/d1/commands", "", "", false, false},
		{"skybridge/devices/d 1/telemetry", "", "", false, false},
		{"$aws/things/d1/telemetry", "", "", false, false},
		{"skybridge/devices/d1", "", "", false, false},
	} {
		dev, stream, match, valid := parseTelemetryTopic(tt.topic)
		if match != tt.match || valid != tt.valid || (match && (dev != tt.dev || stream != tt.stream)) {
			t.Errorf("%q: %q %q %v %v", tt.topic, dev, stream, match, valid)
		}
		if tt.valid && telemetryTopic(dev, stream) != tt.topic {
			t.Errorf("%q: telemetryTopic gives %q", tt.topic, telemetryTopic(dev, stream))
		}
	}
}

func TestParseTelemetry(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name, payload string
		at            time.Time
		reason        string
	}{
		{"object", `{"temp": 21.5}`, now, ""},
		{"empty object", `{}`, now, ""},
		{"leading space", " \n{\"a\":1}", now, ""},
		{"ts seconds", `{"ts": 1777636740, "v": 1}`, time.Unix(1777636740, 0), ""},
		{"ts fractional", `{"ts": 1777636740.5}`, time.Unix(1777636740, 5e8), ""},
		{"ts millis", `{"ts": 1777636740123}`, time.UnixMilli(1777636740123), ""},
		{"ts string", `{"ts": "2026-05-01T11:30:00Z"}`, now.Add(-30 * time.Minute), ""},
		{"ts too old", `{"ts": "2026-04-29T11:30:00Z"}`, now, ""},
		{"ts ahead", `{"ts": "2026-05-01T12:05:00Z"}`, now, ""},
		{"ts slightly ahead", `{"ts": "2026-05-01T12:00:30Z"}`, now.Add(30 * time.Second), ""},
		{"ts garbage", `{"ts": true}`, now, ""},
		{"ts negative", `{"ts": -5}`, now, ""},
		{"array", `[1,2]`, time.Time{}, DropNotObject},
		{"number", `42`, time.Time{}, DropNotObject},
		{"null", `null`, time.Time{}, DropNotObject},
		{"string", `"x"`, time.Time{}, DropNotObject},
		{"broken", `{"a":`, time.Time{}, DropNotJSON},
		{"trailing", `{"a":1} x`, time.Time{}, DropNotJSON},
		{"not json", `hello`, time.Time{}, DropNotJSON},
		{"empty", ``, time.Time{}, DropNotJSON},
		{"too large", `{"a":"` + strings.Repeat("x", 100) + `"}`, time.Time{}, DropTooLarge},
	} {
		at, reason := ParseTelemetry([]byte(tt.payload), 64, now)
		if reason != tt.reason || (reason == "" && !at.Equal(tt.at)) {
			t.Errorf("%s: %v %q, want %v %q", tt.name, at, reason, tt.at, tt.reason)
		}
	}
}

func FuzzTelemetryPayload(f *testing.F) {
	for _, s := range []string{`{}`, `{"ts":1}`, `{"ts":"2026-01-01T00:00:00Z","a":[1,{"b":null}]}`, `[]`, `{"a":`, "\x00", `{"ts":1e400}`} {
		f.Add([]byte(s))
	}
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, payload []byte) {
		at, reason := ParseTelemetry(payload, 1024, now)
		if reason != "" {
			return
		}
		if at.Before(now.Add(-TelemetryMaxTSAge)) || at.After(now.Add(TelemetryMaxTSAhead)) {
			t.Fatalf("%q: time %v out of bounds", payload, at)
		}
		if len(payload) > 1024 {
			t.Fatalf("%q: over the limit accepted", payload)
		}
	})
}

func TestParseTelemetryQuery(t *testing.T) {
	t.Parallel()
	q, err := ParseTelemetryQuery(url.Values{})
	if err != nil || q.Stream != nil || !q.From.IsZero() || !q.To.IsZero() || q.Limit != 0 || q.Desc || q.Cursor != "" {
		t.Fatalf("empty: %+v %v", q, err)
	}
	q, err = ParseTelemetryQuery(url.Values{"stream": {"engine"}, "from": {"2026-05-01T10:00:00+02:00"}, "to": {"2026-05-01T09:00:00.5Z"},
		"limit": {"1000"}, "order": {"desc"}, "cursor": {"abc"}})
	if err != nil || q.Stream == nil || *q.Stream != "engine" || !q.From.Equal(time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)) ||
		!q.To.Equal(time.Date(2026, 5, 1, 9, 0, 0, 5e8, time.UTC)) || q.Limit != 1000 || !q.Desc || q.Cursor != "abc" {
		t.Fatalf("full: %+v %v", q, err)
	}
	q, err = ParseTelemetryQuery(url.Values{"stream": {""}})
	if err != nil || q.Stream == nil || *q.Stream != "" {
		t.Fatalf("default stream: %+v %v", q, err)
	}
	for _, tt := range []struct {
		v     url.Values
		field string
	}{
		{url.Values{"stream": {"a/b"}}, "stream"},
		{url.Values{"from": {"yesterday"}}, "from"},
		{url.Values{"to": {"2026-05-01"}}, "to"},
		{url.Values{"from": {"2026-05-01T10:00:00Z"}, "to": {"2026-05-01T10:00:00Z"}}, "to"},
		{url.Values{"limit": {"0"}}, "limit"},
		{url.Values{"limit": {"1001"}}, "limit"},
		{url.Values{"limit": {"ten"}}, "limit"},
		{url.Values{"order": {"up"}}, "order"},
		{url.Values{"cursor": {strings.Repeat("c", 5000)}}, "cursor"},
	} {
		if _, err := ParseTelemetryQuery(tt.v); FieldOf(err) != tt.field {
			t.Errorf("%v: %v, want the field %s named", tt.v, err, tt.field)
		}
	}
}

func FuzzTelemetryQuery(f *testing.F) {
	for _, s := range []string{"", "stream=a&from=2026-05-01T10:00:00Z&to=2026-05-02T10:00:00Z&limit=5&order=desc&cursor=x",
		"stream=", "from=junk", "limit=-1", "order=desc&order=asc", "%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := ParseTelemetryQuery(v)
		if err != nil {
			if FieldOf(err) == "" {
				t.Fatalf("%q: error names no field: %v", raw, err)
			}
			return
		}
		if q.Limit < 0 || q.Limit > MaxListLimit || (q.Stream != nil && *q.Stream != "" && !ValidStreamName(*q.Stream)) {
			t.Fatalf("%q: accepted %+v", raw, q)
		}
		if !q.From.IsZero() && !q.To.IsZero() && !q.To.After(q.From) {
			t.Fatalf("%q: empty range accepted", raw)
		}
	})
}

func TestExternalURLAndFilters(t *testing.T) {
	t.Parallel()
	u, user, pw, err := ParseExternalURL("mqtt://sky:p%40ss@broker.local:1883")
	if err != nil || u.String() != "mqtt://broker.local:1883" || user != "sky" || string(pw) != "p@ss" {
		t.Fatalf("%v %q %q %v", u, user, pw, err)
	}
	for _, bad := range []string{"", "broker:1883", "http://broker:1883", "mqtt://broker", "mqtt://:1883", "::"} {
		if _, _, _, err := ParseExternalURL(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := NewExternal(ExternalConfig{URL: "mqtt://b:1", Group: "a/b"}); err == nil {
		t.Error("a group with / accepted")
	}
	e, err := NewExternal(ExternalConfig{URL: "mqtt://b:1"})
	if err != nil || e.cfg.Group != DefaultExternalGroup || !strings.HasPrefix(e.cfg.ClientID, "skybridge-") || e.cfg.HandleTimeout != DefaultHookTimeout || e.Server() != nil {
		t.Fatalf("defaults: %+v %v", e, err)
	}
	// Each device-originated topic the bridge handles matches exactly one
	// filter (a message matched twice would be handled twice); what the
	// bridge itself publishes matches none.
	filters := append(ExternalFilters("g"), ExternalFiltersExclusive()...)
	for _, tt := range []struct {
		topic string
		n     int
	}{
		{"$aws/things/d/shadow/update", 1},
		{"$aws/things/d/shadow/get", 1},
		{"$aws/things/d/shadow/name/n/delete", 1},
		{"skybridge/devices/d/commands/c1/reply", 1},
		{"skybridge/devices/d/telemetry", 1},
		{"skybridge/devices/d/telemetry/s", 1},
		{"$aws/things/d/shadow/update/accepted", 0},
		{"$aws/things/d/shadow/update/delta", 0},
		{"$aws/things/d/shadow/name/n/update/documents", 0},
		{"skybridge/devices/d/commands", 0},
	} {
		n := 0
		for _, f := range filters {
			if !strings.HasPrefix(f, "$share/g/") && !strings.HasPrefix(f, "$aws/") {
				t.Fatalf("%s is neither a shared subscription of group g nor a shadow request filter", f)
			}
			if filterMatches(f, tt.topic) {
				n++
			}
		}
		if n != tt.n {
			t.Errorf("%s matches %d filters, want %d", tt.topic, n, tt.n)
		}
	}
}
