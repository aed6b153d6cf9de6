package api

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/analytics"
	"github.com/skybridgehq/skybridge/internal/testenv/teststore"
)

// FuzzAnalyticsBatch decodes and validates arbitrary bodies as POST
// /v1/analytics/events does and checks that a refused batch is a 400
// problem whose fields are the batch's own (batchId, events, events[i].…),
// and that an accepted one splits its events into accepted and dropped.
func FuzzAnalyticsBatch(f *testing.F) {
	for _, s := range []string{
		`{"events": [{"name": "screen_view", "timestamp": "2026-12-06T11:00:00Z", "platform": "ios", "session": "s1", "appVersion": "1.0.0"}]}`,
		`{"batchId": "b-1", "events": [{"name": "purchase", "timestamp": "2026-12-06T11:59:59.123+01:00", "platform": "web", "properties": {"value": 9.99, "currency": "EUR", "first": true}}]}`,
		`{"events": [{"name": "old", "timestamp": "2026-11-01T00:00:00Z", "platform": "android"}, {"name": "late", "timestamp": "2026-12-07T00:00:00Z", "platform": "other"}]}`,
		`{"events": [{"name": "1x", "timestamp": "now", "platform": "symbian", "properties": {"a": {"b": 1}, "": 2}}]}`,
		`{"batchId": "a b", "events": []}`, `{"events": [null, {}]}`, `{"events": "x"}`, `{"events": null}`, `{}`, `[]`, `{`, ``,
		`{"events": [{"name": "a", "timestamp": "2026-12-06T11:00:00Z", "platform": "ios", "appVersion": "1|2", "session": "\udfff"}]}`,
	} {
		f.Add([]byte(s))
	}
	svc := analytics.NewService(teststore.SQLite(f), analytics.Config{Now: func() time.Time { return analyticsNow }})
	f.Fuzz(func(t *testing.T, body []byte) {
		var b analytics.Batch
		if err := decodeJSONBytes(body, &b); err != nil {
			checkClientProblem(t, body, err)
			return
		}
		accepted, dropped, err := svc.Validate(b)
		if err != nil {
			p := checkClientProblem(t, body, analyticsFields(err))
			if p.Status != http.StatusBadRequest || len(p.Errors) == 0 {
				t.Fatalf("%q: %d with errors %+v", body, p.Status, p.Errors)
			}
			for _, fe := range p.Errors {
				if fe.Field != "batchId" && fe.Field != "events" && !strings.HasPrefix(fe.Field, "events[") {
					t.Fatalf("%q: field %q is not the batch's", body, fe.Field)
				}
			}
			return
		}
		if accepted+dropped != len(b.Events) || len(b.Events) == 0 || len(b.Events) > analytics.DefaultMaxEvents {
			t.Fatalf("%q: accepted %d + dropped %d of %d events", body, accepted, dropped, len(b.Events))
		}
		for _, e := range b.Events {
			if !analytics.ValidName(e.Name) {
				t.Fatalf("%q: name %q passed", body, e.Name)
			}
		}
	})
}
