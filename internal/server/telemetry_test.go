package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
	"github.com/skybridgehq/skybridge/store"
)

// TestMaintenancePrunesTelemetry: the maintenance pass applies the
// telemetry retention (default 30 days) to every environment.
func TestMaintenancePrunesTelemetry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testnode.Start(t, testnode.Options{})
	app := s.CreateApp(t, "tel-maint")
	db, err := s.Node.Store.DB(ctx, store.EnvDBName(app.ID, "dev"))
	if err != nil {
		t.Fatal(err)
	}
	// The bridge's telemetry collection, written as its batch writer does.
	coll := db.Collection("deviceTelemetry")
	now := time.Now()
	var docs []store.Doc
	for i, age := range []time.Duration{40 * 24 * time.Hour, 31 * 24 * time.Hour, 29 * 24 * time.Hour, time.Hour} {
		at := store.FormatTime(now.Add(-age))
		docs = append(docs, store.Doc{"device": "d1", "stream": "", "time": at, "receivedAt": at, "data": `{"i":` + string(rune('0'+i)) + `}`})
	}
	if _, err := coll.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	rep, err := s.Node.Maintain(ctx)
	if err != nil || rep.Telemetry != 2 {
		t.Fatalf("maintenance: %+v %v", rep, err)
	}
	if n, _ := coll.Count(ctx, nil); n != 2 {
		t.Fatalf("%d messages left, want 2", n)
	}
}
