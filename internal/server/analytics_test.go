package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/analytics"
	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
	"github.com/skybridgehq/skybridge/store"
)

// TestMaintenanceFoldsAnalytics: the node's maintenance pass folds the
// analytics days past compaction age and the admin query gives the same
// counts before and after.
func TestMaintenanceFoldsAnalytics(t *testing.T) {
	ctx := context.Background()
	s := testnode.Start(t, testnode.Options{})
	app := s.CreateApp(t, "shop")
	dev := app.Env(t, "dev")
	// Events of a week ago, sent when they were fresh (a service whose
	// clock is a week behind, on the node's store), and one of now.
	weekAgo := time.Now().Add(-7 * 24 * time.Hour)
	past := analytics.NewService(s.Node.Store, analytics.Config{Now: func() time.Time { return weekAgo }})
	db, err := s.Node.Store.DB(ctx, store.EnvDBName(app.ID, "dev"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := past.Ingest(ctx, db, analytics.Batch{Events: []analytics.Event{
		{Name: "open", Timestamp: weekAgo.Format(time.RFC3339), Platform: "ios", Session: "a"},
		{Name: "open", Timestamp: weekAgo.Add(-time.Hour).Format(time.RFC3339), Platform: "ios", Session: "b"},
	}}, ""); err != nil {
		t.Fatal(err)
	}
	key := map[string]string{"X-Skybridge-Key": dev.AppKey}
	now := map[string]any{"events": []any{map[string]any{"name": "open", "timestamp": time.Now().Format(time.RFC3339), "platform": "web"}}}
	if resp, body := s.Do(t, "POST", "/v1/analytics/events", now, key); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("send: %d %s", resp.StatusCode, body)
	}
	admin := map[string]string{"Authorization": "Bearer " + s.AdminToken(t)}
	query := "/admin/api/apps/" + app.ID + "/environments/dev/analytics?from=" + weekAgo.AddDate(0, 0, -1).UTC().Format("2006-01-02")
	report := func() string {
		t.Helper()
		resp, body := s.Do(t, "GET", query, nil, admin)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("query: %d %s", resp.StatusCode, body)
		}
		var rep analytics.Report
		if err := json.Unmarshal(body, &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Totals.Count != 3 || rep.Totals.Sessions != 2 {
			t.Fatalf("totals %+v", rep.Totals)
		}
		return string(body)
	}
	before := report()
	rep, err := s.Node.Maintain(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Analytics < 2 { // at least one day folded and one batch removed
		t.Errorf("maintenance report %+v", rep)
	}
	if after := report(); after != before {
		t.Errorf("after maintenance %s, before %s", after, before)
	}
}
