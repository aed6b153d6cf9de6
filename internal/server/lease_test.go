package server

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/internal/testenv/teststore"
	"github.com/skybridgehq/skybridge/store"
)

// TestMaintenanceLease: one holder at a time; a released lease is free at
// once; an expired one is taken over; the holder may renew its own.
func TestMaintenanceLease(t *testing.T) {
	ctx := context.Background()
	for name, sys := range teststore.SystemDBs(t) {
		t.Run(name, func(t *testing.T) {
			log := slog.New(slog.DiscardHandler)
			a := newMaintainer(sys, nil, nil, nil, log, time.Hour)
			b := newMaintainer(sys, nil, nil, nil, log, time.Hour)
			take := func(m *maintainer, want bool) {
				t.Helper()
				got, err := m.acquire(ctx)
				if err != nil || got != want {
					t.Fatalf("acquire = %v %v, want %v", got, err, want)
				}
			}
			take(a, true)
			take(b, false)
			take(a, true) // renewing one's own lease
			a.release()
			take(b, true)
			take(a, false)
			// b crashes: its lease expires and a takes over.
			leases := sys.Collection(leasesCollection)
			if _, err := leases.Update(ctx, maintenanceLeaseID, 0, store.Update{Set: map[string]any{
				"expiresAt": store.FormatTime(time.Now().Add(-time.Second)),
			}}); err != nil {
				t.Fatal(err)
			}
			take(a, true)
			b.release() // not b's any more: a keeps it
			take(b, false)
		})
	}
}
