package iotbridge_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// telemetryPage reads GET /v1/devices/{id}/telemetry?query.
func (e *bridgeEnv) telemetryPage(t *testing.T, id, query string, h map[string]string) (int, []map[string]any, string, map[string]any) {
	t.Helper()
	code, out := e.call(t, http.MethodGet, "/v1/devices/"+id+"/telemetry?"+query, nil, h)
	var items []map[string]any
	for _, it := range out["items"].([]any) {
		items = append(items, it.(map[string]any))
	}
	cursor, _ := out["cursor"].(string)
	return code, items, cursor, out
}

// metric reads one sample of /metrics ("name{labels}" as Prometheus
// writes it); 0 when absent.
func (e *bridgeEnv) metric(t *testing.T, sample string) string {
	t.Helper()
	resp, err := http.Get(e.s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			return v
		}
	}
	return "0"
}

// TestTelemetryEndToEnd: a device publishes telemetry over MQTT; the app
// reads it back in time order with paging, by stream and time range;
// bad messages are counted and reported, never stored.
func TestTelemetryEndToEnd(t *testing.T) {
	t.Parallel()
	e := startBridge(t)
	owner, ownerTok := e.signup(t, "tel-owner@example.com")
	_, otherTok := e.signup(t, "tel-other@example.com")
	secret := e.register(t, map[string]any{"id": "tel-1", "owner": owner})
	d := mustDial(t, e.s.MQTTAddr, "tel-1", "tel-1", secret)

	// The owner watches the device's events: drops show up there.
	ws, read := rt(t, e, e.user(ownerTok))
	if err := ws.Write(context.Background(), websocket.MessageText, []byte(`{"op":"subscribe","id":"s1","device":"tel-1"}`)); err != nil {
		t.Fatal(err)
	}
	if m := read(); m["op"] != "subscribed" {
		t.Fatalf("subscribe: %v", m)
	}

	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	for i := range 5 {
		ts := base.Add(time.Duration(i) * time.Minute).Format(time.RFC3339)
		d.publish(t, "skybridge/devices/tel-1/telemetry", map[string]any{"ts": ts, "n": i})
		d.publish(t, "skybridge/devices/tel-1/telemetry/engine", map[string]any{"ts": ts, "rpm": 1000 + i})
	}
	bad := []struct{ topic, payload, reason string }{
		{"skybridge/devices/tel-1/telemetry", `[1,2]`, "not_object"},
		{"skybridge/devices/tel-1/telemetry", `{"a":`, "invalid_json"},
		{"skybridge/devices/tel-1/telemetry/a.b", `{"big":"` + strings.Repeat("x", 17<<10) + `"}`, "too_large"},
		{"skybridge/devices/tel-1/telemetry/x/y", `{}`, "invalid_stream"},
	}
	for _, b := range bad {
		d.publish(t, b.topic, []byte(b.payload))
		m := read()
		for m["type"] == "connected" { // the device's connection event may come late
			m = read()
		}
		if m["type"] != "telemetryDropped" || at(m, "event", "reason") != b.reason {
			t.Errorf("%s %.20s: event %v, want telemetryDropped %s", b.topic, b.payload, m, b.reason)
		}
	}
	for _, b := range bad {
		if got := e.metric(t, `skybridge_iot_telemetry_dropped_total{reason="`+b.reason+`"}`); got != "1" {
			t.Errorf("dropped %s = %s, want 1", b.reason, got)
		}
	}

	// Stored asynchronously (batched): poll until all ten are there.
	var all []map[string]any
	poll(t, "10 messages stored", func() bool {
		_, all, _, _ = e.telemetryPage(t, "tel-1", "limit=1000", e.server())
		return len(all) == 10
	})
	if e.metric(t, "skybridge_iot_telemetry_stored_total") != "10" {
		t.Errorf("stored_total = %s", e.metric(t, "skybridge_iot_telemetry_stored_total"))
	}
	for i := 1; i < len(all); i++ {
		if all[i-1]["time"].(string) > all[i]["time"].(string) {
			t.Fatalf("not in time order: %v", all)
		}
	}
	first := all[0]
	if first["time"] != base.Format("2006-01-02T15:04:05Z") || first["receivedAt"] == nil {
		t.Errorf("first message time %v (device ts %v), receivedAt %v", first["time"], base, first["receivedAt"])
	}

	t.Run("stream and paging", func(t *testing.T) {
		t.Parallel()
		var got []float64
		cursor := ""
		pages := 0
		for {
			q := url.Values{"stream": {"engine"}, "limit": {"2"}}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			code, items, next, out := e.telemetryPage(t, "tel-1", q.Encode(), e.server())
			if code != http.StatusOK {
				t.Fatalf("page: %d %v", code, out)
			}
			pages++
			for _, it := range items {
				if it["stream"] != "engine" {
					t.Fatalf("stream %v in the engine stream", it["stream"])
				}
				got = append(got, at(it, "data", "rpm").(float64))
			}
			if next == "" {
				break
			}
			cursor = next
		}
		if pages != 3 || len(got) != 5 || got[0] != 1000 || got[4] != 1004 {
			t.Errorf("%d pages: %v", pages, got)
		}
		_, def, _, _ := e.telemetryPage(t, "tel-1", "stream=", e.server())
		if len(def) != 5 || def[0]["stream"] != "" || at(def[0], "data", "n") != 0.0 {
			t.Errorf("default stream: %v", def)
		}
		_, desc, _, _ := e.telemetryPage(t, "tel-1", "stream=engine&order=desc&limit=1", e.server())
		if len(desc) != 1 || at(desc[0], "data", "rpm") != 1004.0 {
			t.Errorf("desc: %v", desc)
		}
	})

	t.Run("time range", func(t *testing.T) {
		t.Parallel()
		q := url.Values{"stream": {""}, "from": {base.Add(time.Minute).Format(time.RFC3339)}, "to": {base.Add(3 * time.Minute).Format(time.RFC3339)}}
		_, items, _, _ := e.telemetryPage(t, "tel-1", q.Encode(), e.server())
		if len(items) != 2 || at(items[0], "data", "n") != 1.0 || at(items[1], "data", "n") != 2.0 {
			t.Errorf("[from, to): %v", items)
		}
	})

	t.Run("access", func(t *testing.T) {
		t.Parallel()
		if code, items, _, _ := e.telemetryPage(t, "tel-1", "", e.user(ownerTok)); code != http.StatusOK || len(items) != 10 {
			t.Errorf("owner: %d %d items", code, len(items))
		}
		if code, _ := e.call(t, http.MethodGet, "/v1/devices/tel-1/telemetry", nil, e.user(otherTok)); code != http.StatusNotFound {
			t.Errorf("stranger: %d, want 404", code)
		}
		if code, _ := e.call(t, http.MethodGet, "/v1/devices/tel-1/telemetry", nil, map[string]string{"X-Skybridge-Key": e.keys.AppKey}); code != http.StatusForbidden && code != http.StatusUnauthorized {
			t.Errorf("app key alone: %d", code)
		}
		if code, _ := e.call(t, http.MethodGet, "/v1/devices/nope/telemetry", nil, e.server()); code != http.StatusNotFound {
			t.Errorf("unknown device: %d", code)
		}
	})

	t.Run("bad parameters name the field", func(t *testing.T) {
		t.Parallel()
		for q, field := range map[string]string{
			"from=yesterday": "from",
			"to=2026":        "to",
			"limit=0":        "limit",
			"limit=5000":     "limit",
			"stream=a%2Fb":   "stream",
			"order=sideways": "order",
			"cursor=bogus":   "cursor",
		} {
			resp, body := e.s.Do(t, http.MethodGet, "/v1/devices/tel-1/telemetry?"+q, nil, e.server())
			var p struct {
				Errors []struct{ Field string }
			}
			_ = json.Unmarshal(body, &p)
			if resp.StatusCode != http.StatusBadRequest || len(p.Errors) != 1 || p.Errors[0].Field != field ||
				!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
				t.Errorf("%s: %d %s, want 400 naming %s", q, resp.StatusCode, body, field)
			}
		}
	})
}

// TestTelemetryRetentionAdmin: the admin API reads and sets an
// environment's telemetry retention.
func TestTelemetryRetentionAdmin(t *testing.T) {
	t.Parallel()
	s := startBridge(t).s
	app := s.CreateApp(t, "tel-ret")
	tok := map[string]string{"Authorization": "Bearer " + s.AdminToken(t)}
	path := "/admin/api/apps/" + app.ID + "/environments/dev/telemetry/retention"
	get := func() map[string]any {
		resp, body := s.Do(t, http.MethodGet, path, nil, tok)
		var m map[string]any
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &m) != nil {
			t.Fatalf("GET: %d %s", resp.StatusCode, body)
		}
		return m
	}
	if m := get(); m["days"] != 0.0 || m["effectiveDays"] != 30.0 {
		t.Errorf("default: %v", m)
	}
	if resp, body := s.Do(t, http.MethodPut, path, map[string]any{"days": 7}, tok); resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT: %d %s", resp.StatusCode, body)
	}
	if m := get(); m["days"] != 7.0 || m["effectiveDays"] != 7.0 {
		t.Errorf("after PUT 7: %v", m)
	}
	for _, body := range []map[string]any{{"days": -1}, {"days": 3651}, {}} {
		resp, out := s.Do(t, http.MethodPut, path, body, tok)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(out), `"field":"days"`) {
			t.Errorf("PUT %v: %d %s", body, resp.StatusCode, out)
		}
	}
	if resp, _ := s.Do(t, http.MethodGet, "/admin/api/apps/nope/environments/dev/telemetry/retention", nil, tok); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown app: %d", resp.StatusCode)
	}
	if resp, _ := s.Do(t, http.MethodGet, path, nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: %d", resp.StatusCode)
	}
}
