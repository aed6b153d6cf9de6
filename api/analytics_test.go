package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skybridgehq/skybridge/analytics"
	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/internal/testenv/teststore"
	"github.com/skybridgehq/skybridge/keyring"
	"github.com/skybridgehq/skybridge/objectstore"
	"github.com/skybridgehq/skybridge/ratelimit"
	"github.com/skybridgehq/skybridge/store"
)

// POST /v1/analytics/events and the admin analytics routes are tested end
// to end over HTTP on both store adapters.

// analyticsNow is the analytics clock of the tests at its start: a fixed
// instant, so that days are stable; each env moves its own clock.
var analyticsNow = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

// analyticsEnv is an API with analytics over a real store, with two apps
// and a movable analytics clock.
type analyticsEnv struct {
	*testEnv
	svc   *analytics.Service
	clock *atomic.Int64 // unix nanoseconds of the analytics clock
	token string
	app   createdApp
	other createdApp
}

func newAnalyticsEnv(t *testing.T, p store.Provider) *analyticsEnv {
	t.Helper()
	ctx := t.Context()
	sys, err := p.DB(ctx, store.SystemDB)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.EnsureIndexes(ctx, sys, auth.SystemIndexes()); err != nil {
		t.Fatal(err)
	}
	kr, _, err := keyring.Generate()
	if err != nil {
		t.Fatal(err)
	}
	log, buf := newTestLogger()
	svc := auth.NewService(sys, kr, auth.Config{Password: auth.PasswordParams{Memory: 1024, Time: 1, Threads: 1}, Logger: log})
	if _, err := svc.CreateAdmin(ctx, testAdminEmail, testAdminPassword, auth.RoleOwner); err != nil {
		t.Fatal(err)
	}
	clock := &atomic.Int64{}
	clock.Store(analyticsNow.UnixNano())
	an := analytics.NewService(p, analytics.Config{
		MaxEventNames: 6,
		Now:           func() time.Time { return time.Unix(0, clock.Load()).UTC() },
	})
	reg := prometheus.NewRegistry()
	a, err := New(Deps{Auth: svc, Store: p, Objects: objectstore.NewService(p, objectstore.Config{Logger: log}),
		Analytics: an, Logger: log, Registry: reg, Version: "test"},
		Config{RateLimitEnv: ratelimit.Off, RateLimitClient: ratelimit.Off})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	e := &testEnv{t: t, api: a, srv: srv, auth: svc, store: p, reg: reg, log: buf}
	tok := e.login()
	return &analyticsEnv{testEnv: e, svc: an, clock: clock, token: tok,
		app: e.createApp(tok, "Shop"), other: e.createApp(tok, "Other")}
}

// withT returns a copy of e reporting to t.
func (e *analyticsEnv) withT(t *testing.T) *analyticsEnv {
	c := *e
	te := *e.testEnv
	te.t = t
	c.testEnv = &te
	return &c
}

// send posts body (raw when a string or []byte) to /v1/analytics/events
// with key and returns the status and answer.
func (e *analyticsEnv) send(key string, body any, extra map[string]string) (int, []byte) {
	e.t.Helper()
	h := map[string]string{"X-Skybridge-Key": key}
	for k, v := range extra {
		h[k] = v
	}
	resp := e.do(request{method: "POST", path: "/v1/analytics/events", body: body, headers: h})
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, data
}

// report queries the analytics of env of app with the URL query q.
func (e *analyticsEnv) report(app createdApp, env, q string) analytics.Report {
	e.t.Helper()
	var rep analytics.Report
	e.json(request{method: "GET", path: "/admin/api/apps/" + app.ID + "/environments/" + env + "/analytics?" + q, headers: bearer(e.token)}, 200, &rep)
	return rep
}

// stored counts the batch documents of env of app: what "nothing half
// stored" is checked against.
func (e *analyticsEnv) stored(app createdApp, env string) int64 {
	e.t.Helper()
	db, err := e.store.DB(e.t.Context(), store.EnvDBName(app.ID, env))
	if err != nil {
		e.t.Fatal(err)
	}
	n, err := db.Collection("analyticsBatches").Count(e.t.Context(), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *analyticsEnv) key(app createdApp, env string) string {
	k, _ := app.keys(e.t, env)
	return k
}

// ev builds one event at the given age before the clock.
func ev(name string, age time.Duration, version, platform, session string) map[string]any {
	return map[string]any{"name": name, "timestamp": analyticsNow.Add(-age).Format(time.RFC3339), "appVersion": version, "platform": platform, "session": session}
}

// row finds the row of day/event/version/platform in rep.
func row(rep analytics.Report, day, event, version, platform string) analytics.Row {
	for _, r := range rep.Days {
		if r.Day == day && r.Event == event && r.AppVersion == version && r.Platform == platform {
			return r
		}
	}
	return analytics.Row{}
}

func TestAnalyticsSQLite(t *testing.T) {
	t.Parallel()
	runAnalytics(t, newAnalyticsEnv(t, teststore.SQLite(t)))
}

func TestAnalyticsFerretDB(t *testing.T) {
	t.Parallel()
	runAnalytics(t, newAnalyticsEnv(t, teststore.FerretDB(t)))
}

func runAnalytics(t *testing.T, e *analyticsEnv) {
	for _, s := range []struct {
		name string
		run  func(*testing.T, *analyticsEnv)
	}{
		{"CountsByDayVersionPlatform", testAnalyticsCounts},
		{"BadBatchesStoreNothing", testAnalyticsBadBatches},
		{"OversizedBody", testAnalyticsOversized},
		{"RetriedBatchCountsOnce", testAnalyticsRetry},
		{"StaleEventsDropped", testAnalyticsStale},
		{"EnvironmentsApart", testAnalyticsIsolation},
		{"EventNameLimit", testAnalyticsNameLimit},
		{"Settings", testAnalyticsSettings},
		{"BadQueries", testAnalyticsBadQueries},
		{"CompactionAndRetention", testAnalyticsCompaction},
	} {
		t.Run(s.name, func(t *testing.T) { s.run(t, e.withT(t)) })
	}
}

func testAnalyticsCounts(t *testing.T, e *analyticsEnv) {
	key := e.key(e.app, "dev")
	var anon session
	e.json(request{method: "POST", path: "/v1/auth/anonymous", body: map[string]any{"deviceId": "device-0001"}, headers: map[string]string{"X-Skybridge-Key": key}}, 200, &anon)
	batch := map[string]any{"events": []any{
		ev("screen_view", time.Hour, "1.0.0", "ios", "s1"),
		ev("screen_view", 2*time.Hour, "1.0.0", "ios", "s1"),
		ev("screen_view", 3*time.Hour, "1.0.0", "ios", "s2"),
		ev("screen_view", time.Hour, "1.1.0", "android", "s3"),
		ev("purchase", 25*time.Hour, "1.0.0", "ios", "s4"),
		map[string]any{"name": "purchase", "timestamp": analyticsNow.Add(-time.Minute).Format(time.RFC3339Nano), "platform": "web",
			"properties": map[string]any{"value": 9.99, "currency": "EUR", "first": true}},
	}}
	status, body := e.send(key, batch, map[string]string{"Authorization": "Bearer " + anon.AccessToken})
	if status != http.StatusAccepted || !strings.Contains(string(body), `"accepted":6`) || !strings.Contains(string(body), `"dropped":0`) {
		t.Fatalf("send: %d %s", status, body)
	}
	rep := e.report(e.app, "dev", "from=2026-12-01&to=2026-12-06")
	if rep.Totals.Count != 6 || rep.Totals.Sessions != 4 || rep.Totals.Users != 4 { // sums of the rows
		t.Fatalf("totals %+v; rows %+v", rep.Totals, rep.Days)
	}
	for _, c := range []struct {
		day, event, version, platform string
		count, sessions               int64
	}{
		{"2026-12-06", "screen_view", "1.0.0", "ios", 3, 2},
		{"2026-12-06", "screen_view", "1.1.0", "android", 1, 1},
		{"2026-12-05", "purchase", "1.0.0", "ios", 1, 1},
		{"2026-12-06", "purchase", "", "web", 1, 0},
	} {
		r := row(rep, c.day, c.event, c.version, c.platform)
		if r.Count != c.count || r.Sessions != c.sessions || r.Users != 1 {
			t.Errorf("%+v: got %+v", c, r)
		}
	}
	if len(rep.Days) != 4 {
		t.Errorf("rows %+v, want 4", rep.Days)
	}
	// Filters.
	if got := e.report(e.app, "dev", "from=2026-12-01&to=2026-12-06&event=screen_view&platform=ios").Totals.Count; got != 3 {
		t.Errorf("screen_view on ios: %d, want 3", got)
	}
	if got := e.report(e.app, "dev", "from=2026-12-06&to=2026-12-06&appVersion=1.0.0").Totals.Count; got != 3 {
		t.Errorf("1.0.0 on 2026-12-06: %d, want 3", got)
	}
	if got := e.report(e.app, "dev", "from=2026-12-05&to=2026-12-05").Totals.Count; got != 1 {
		t.Errorf("2026-12-05: %d, want 1", got)
	}
}

func testAnalyticsBadBatches(t *testing.T, e *analyticsEnv) {
	key := e.key(e.app, "stage")
	good := func() map[string]any { return ev("app_open", time.Minute, "1.0.0", "ios", "s") }
	many := make([]any, analytics.DefaultMaxEvents+1)
	for i := range many {
		many[i] = good()
	}
	props := map[string]any{}
	for i := range analytics.DefaultMaxProperties + 1 {
		props[fmt.Sprintf("p%d", i)] = i
	}
	withProps := good()
	withProps["properties"] = props
	nested := good()
	nested["properties"] = map[string]any{"cart": map[string]any{"n": 1}}
	longValue := good()
	longValue["properties"] = map[string]any{"note": strings.Repeat("x", 1025)}
	badTime := good()
	badTime["timestamp"] = "yesterday"
	badName := good()
	badName["name"] = "1st-open"
	badPlatform := good()
	badPlatform["platform"] = "symbian"
	for _, c := range []struct {
		name  string
		body  any
		field string // "" when the problem names no field
	}{
		{"NotJSON", `{"events": [`, ""},
		{"NotAnObject", `[1,2]`, ""},
		{"EventsNotArray", `{"events": "many"}`, "events"},
		{"NameNotString", `{"events": [{"name": 7, "timestamp": "2026-12-06T11:00:00Z", "platform": "ios"}]}`, "events.name"},
		{"UnknownField", `{"events": [], "extra": 1}`, "extra"},
		{"NoEvents", `{"events": []}`, "events"},
		{"MissingEvents", `{}`, "events"},
		{"BadBatchID", map[string]any{"batchId": "a b", "events": []any{good()}}, "batchId"},
		{"TooManyEvents", map[string]any{"events": many}, "events"},
		{"BadName", map[string]any{"events": []any{good(), good(), good(), badName}}, "events[3].name"},
		{"BadTimestamp", map[string]any{"events": []any{good(), badTime}}, "events[1].timestamp"},
		{"BadPlatform", map[string]any{"events": []any{badPlatform}}, "events[0].platform"},
		{"TooManyProperties", map[string]any{"events": []any{good(), withProps}}, "events[1].properties"},
		{"NestedProperty", map[string]any{"events": []any{nested}}, "events[0].properties.cart"},
		{"LongPropertyValue", map[string]any{"events": []any{longValue}}, "events[0].properties.note"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := e.stored(e.app, "stage")
			status, body := e.send(key, c.body, nil)
			if status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400; body %s", status, body)
			}
			var p Problem
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatal(err)
			}
			if c.field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != c.field) {
				t.Errorf("errors %+v, want field %s", p.Errors, c.field)
			}
			if after := e.stored(e.app, "stage"); after != before {
				t.Errorf("batches stored %d → %d", before, after)
			}
		})
	}
	if got := e.report(e.app, "stage", "from=2026-12-01&to=2026-12-06").Totals.Count; got != 0 {
		t.Errorf("stage counts %d after refused batches", got)
	}
}

func testAnalyticsOversized(t *testing.T, e *analyticsEnv) {
	key := e.key(e.app, "stage")
	events := make([]any, 200)
	for i := range events {
		x := ev("app_open", time.Minute, "1.0.0", "ios", "s")
		x["properties"] = map[string]any{"a": strings.Repeat("y", 1000), "b": strings.Repeat("z", 1000), "c": strings.Repeat("w", 1000)}
		events[i] = x
	}
	body, err := json.Marshal(map[string]any{"events": events})
	if err != nil {
		t.Fatal(err)
	}
	if len(body) <= analytics.DefaultMaxBodyBytes {
		t.Fatalf("body of %d bytes is not over the limit", len(body))
	}
	before := e.stored(e.app, "stage")
	status, answer := e.send(key, body, nil)
	if status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413: %s", status, answer)
	}
	// Without a Content-Length the limit holds while reading.
	hr, err := http.NewRequestWithContext(t.Context(), "POST", e.srv.URL+"/v1/analytics/events", io.MultiReader(bytes.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("X-Skybridge-Key", key)
	resp, err := e.srv.Client().Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked: status %d, want 413", resp.StatusCode)
	}
	if after := e.stored(e.app, "stage"); after != before {
		t.Errorf("batches stored %d → %d", before, after)
	}
}

func testAnalyticsRetry(t *testing.T, e *analyticsEnv) {
	key := e.key(e.other, "stage")
	batch := map[string]any{"batchId": "retry-1", "events": []any{ev("app_open", time.Minute, "2.0", "android", "a"), ev("app_open", time.Minute, "2.0", "android", "b")}}
	status, body := e.send(key, batch, nil)
	if status != http.StatusAccepted {
		t.Fatalf("first: %d %s", status, body)
	}
	status, body = e.send(key, batch, nil)
	if status != http.StatusOK || !strings.Contains(string(body), `"duplicate":true`) {
		t.Fatalf("retry: %d %s", status, body)
	}
	if got := e.report(e.other, "stage", "from=2026-12-06&to=2026-12-06").Totals; got.Count != 2 || got.Sessions != 2 {
		t.Errorf("totals after a retry %+v, want 2 events of 2 sessions", got)
	}
}

func testAnalyticsStale(t *testing.T, e *analyticsEnv) {
	key := e.key(e.other, "prod")
	batch := map[string]any{"events": []any{
		ev("app_open", 80*time.Hour, "1", "web", ""),    // too old
		ev("app_open", -2*time.Hour, "1", "web", ""),    // too far ahead
		ev("app_open", 71*time.Hour, "1", "web", ""),    // kept
		ev("app_open", -30*time.Minute, "1", "web", ""), // kept
	}}
	status, body := e.send(key, batch, nil)
	if status != http.StatusAccepted || !strings.Contains(string(body), `"accepted":2`) || !strings.Contains(string(body), `"dropped":2`) {
		t.Fatalf("send: %d %s", status, body)
	}
	if got := e.report(e.other, "prod", "from=2026-11-01&to=2026-12-08").Totals.Count; got != 2 {
		t.Errorf("counted %d, want 2", got)
	}
	// All stale: nothing stored, still a 202.
	before := e.stored(e.other, "prod")
	status, body = e.send(key, map[string]any{"events": []any{ev("app_open", 100*time.Hour, "1", "web", "")}}, nil)
	if status != http.StatusAccepted || !strings.Contains(string(body), `"accepted":0`) {
		t.Fatalf("all stale: %d %s", status, body)
	}
	if after := e.stored(e.other, "prod"); after != before {
		t.Errorf("batches stored %d → %d", before, after)
	}
}

func testAnalyticsIsolation(t *testing.T, e *analyticsEnv) {
	// The main app's dev counts are not visible from its prod or from the
	// other app, and the other app's key cannot write into them.
	if got := e.report(e.app, "prod", "from=2026-12-01&to=2026-12-06").Totals.Count; got != 0 {
		t.Errorf("prod sees %d events of dev", got)
	}
	if got := e.report(e.other, "dev", "from=2026-12-01&to=2026-12-06").Totals.Count; got != 0 {
		t.Errorf("other app sees %d events", got)
	}
	before := e.report(e.app, "dev", "from=2026-12-01&to=2026-12-06").Totals.Count
	if status, body := e.send(e.key(e.other, "dev"), map[string]any{"events": []any{ev("screen_view", time.Minute, "1.0.0", "ios", "x")}}, nil); status != http.StatusAccepted {
		t.Fatalf("other send: %d %s", status, body)
	}
	if after := e.report(e.app, "dev", "from=2026-12-01&to=2026-12-06").Totals.Count; after != before {
		t.Errorf("main app dev counts %d → %d after the other app's batch", before, after)
	}
	if status, _ := e.send("not-a-key", map[string]any{"events": []any{ev("x", time.Minute, "", "ios", "")}}, nil); status != http.StatusUnauthorized {
		t.Errorf("bad key: %d, want 401", status)
	}
}

func testAnalyticsNameLimit(t *testing.T, e *analyticsEnv) {
	// The env's service allows 6 distinct names per environment; this one
	// holds app_open.
	key := e.key(e.other, "prod")
	var events []any
	for i := range 6 {
		events = append(events, ev(fmt.Sprintf("name_%d", i), time.Minute, "1", "ios", ""))
	}
	events = append(events, ev("app_open", time.Minute, "1", "ios", ""))
	before := e.stored(e.other, "prod")
	status, body := e.send(key, map[string]any{"events": events}, nil)
	if status != http.StatusBadRequest || !strings.Contains(string(body), `"field":"events[5].name"`) || !strings.Contains(string(body), "name_5") {
		t.Fatalf("a 7th name: %d %s", status, body)
	}
	if after := e.stored(e.other, "prod"); after != before {
		t.Errorf("batches stored %d → %d", before, after)
	}
	status, body = e.send(key, map[string]any{"events": events[:4]}, nil)
	if status != http.StatusAccepted {
		t.Fatalf("names 2 to 5: %d %s", status, body)
	}
	status, body = e.send(key, map[string]any{"events": []any{ev("name_0", time.Minute, "1", "ios", ""), ev("name_4", time.Minute, "1", "ios", "")}}, nil)
	if status != http.StatusAccepted {
		t.Fatalf("name 6: %d %s", status, body)
	}
	if status, body = e.send(key, map[string]any{"events": []any{ev("name_5", time.Minute, "1", "ios", "")}}, nil); status != http.StatusBadRequest {
		t.Fatalf("name 7: %d %s", status, body)
	}
}

func testAnalyticsSettings(t *testing.T, e *analyticsEnv) {
	path := "/admin/api/apps/" + e.app.ID + "/environments/prod/analytics/settings"
	var st analytics.Settings
	e.json(request{method: "GET", path: path, headers: bearer(e.token)}, 200, &st)
	if st.RetentionDays != analytics.DefaultRetentionDays {
		t.Errorf("default %+v", st)
	}
	e.json(request{method: "PUT", path: path, body: map[string]any{"retentionDays": 30}, headers: bearer(e.token)}, 200, nil)
	e.json(request{method: "GET", path: path, headers: bearer(e.token)}, 200, &st)
	if st.RetentionDays != 30 {
		t.Errorf("after PUT 30: %+v", st)
	}
	for _, body := range []any{map[string]any{"retentionDays": 0}, map[string]any{"retentionDays": 3651}, `{"retentionDays": "long"}`, `{"days": 3}`} {
		resp := e.do(request{method: "PUT", path: path, body: body, headers: bearer(e.token)})
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(data), `"field"`) {
			t.Errorf("PUT %v: %d %s", body, resp.StatusCode, data)
		}
	}
	e.json(request{method: "GET", path: path, headers: bearer(e.token)}, 200, &st)
	if st.RetentionDays != 30 {
		t.Errorf("after refused PUTs: %+v", st)
	}
	resp := e.do(request{method: "GET", path: path})
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without a token: %d", resp.StatusCode)
	}
}

func testAnalyticsBadQueries(t *testing.T, e *analyticsEnv) {
	base := "/admin/api/apps/" + e.app.ID + "/environments/dev/analytics?"
	for _, c := range []struct{ q, field string }{
		{"from=2026-13-01", "from"},
		{"to=yesterday", "to"},
		{"from=2026-12-06&to=2026-12-01", "from"},
		{"from=2024-01-01&to=2026-12-01", "from"},
		{"event=1x", "event"},
		{"platform=symbian", "platform"},
		{"limit=5", "limit"},
	} {
		resp := e.do(request{method: "GET", path: base + c.q, headers: bearer(e.token)})
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(data), `"field":"`+c.field+`"`) {
			t.Errorf("%s: %d %s", c.q, resp.StatusCode, data)
		}
	}
	resp := e.do(request{method: "GET", path: "/admin/api/apps/nope/environments/dev/analytics", headers: bearer(e.token)})
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown app: %d", resp.StatusCode)
	}
}

// testAnalyticsCompaction runs last: it moves the clock.
func testAnalyticsCompaction(t *testing.T, e *analyticsEnv) {
	key := e.key(e.app, "dev")
	// Three more days of events in several batches, one a retry.
	for i, age := range []time.Duration{49 * time.Hour, 26 * time.Hour, 2 * time.Hour, 26 * time.Hour} {
		b := map[string]any{"batchId": fmt.Sprintf("c-%d", i%3), "events": []any{ev("screen_view", age, "1.0.0", "ios", fmt.Sprintf("c%d", i)), ev("purchase", age, "1.0.0", "android", "c")}}
		if status, body := e.send(key, b, nil); status != http.StatusAccepted && status != http.StatusOK {
			t.Fatalf("send %d: %d %s", i, status, body)
		}
	}
	const q = "from=2026-11-20&to=2026-12-06"
	before := e.report(e.app, "dev", q)
	db, err := e.store.DB(t.Context(), store.EnvDBName(e.app.ID, "dev"))
	if err != nil {
		t.Fatal(err)
	}
	// Ten days later every day is past CompactAfter: folding changes no count.
	e.clock.Add(int64(10 * 24 * time.Hour))
	for range 2 { // a second pass finds nothing to do
		if _, err := e.svc.Compact(t.Context(), db); err != nil {
			t.Fatal(err)
		}
	}
	after := e.report(e.app, "dev", q)
	if !equalJSON(t, before, after) {
		t.Fatalf("before compaction %+v\nafter %+v", before, after)
	}
	if n := e.stored(e.app, "dev"); n != 0 {
		t.Errorf("%d batch documents left after folding", n)
	}
	days, err := db.Collection("analyticsDays").Count(t.Context(), nil)
	if err != nil || days != 3 {
		t.Errorf("day documents %d (%v), want 3 (2026-12-04 to 12-06)", days, err)
	}
	// Retention of 5 days on 2026-12-16 keeps days from 2026-12-11: all go.
	e.json(request{method: "PUT", path: "/admin/api/apps/" + e.app.ID + "/environments/dev/analytics/settings", body: map[string]any{"retentionDays": 5}, headers: bearer(e.token)}, 200, nil)
	if _, err := e.svc.Compact(t.Context(), db); err != nil {
		t.Fatal(err)
	}
	if got := e.report(e.app, "dev", q).Totals.Count; got != 0 {
		t.Errorf("after retention: %d events left", got)
	}
}

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	x, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(x, y)
}
