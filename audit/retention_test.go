package audit

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestRetention: a chain's own retention, the default for the others,
// clearing, validation, and PruneExpired leaving every chain verifiable.
func TestRetention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { return t0.Add(24*time.Hour + 5*time.Second + time.Second/2) }
	for name, db := range databases(t) {
		t.Run(name, func(t *testing.T) {
			// Record i at t0 + i s; segments as listed.
			fillSegments(t, db, "p1", t0, 5, 5)
			fillSegments(t, db, "p2", t0, 2, 3, 5)
			s := newService(t, db, Config{Sync: true})
			s.now = now
			if err := s.SetRetention(ctx, "p1/prod", 1); err != nil {
				t.Fatal(err)
			}
			if err := s.SetRetention(ctx, "p1/prod", 1); err != nil { // again: replaces
				t.Fatal(err)
			}
			for _, bad := range []int{-1, MaxRetentionDays + 1} {
				if err := s.SetRetention(ctx, "p1/prod", bad); !errors.Is(err, ErrInvalid) {
					t.Fatalf("days %d: %v", bad, err)
				}
			}
			if r, err := s.RetentionOf(ctx, "p1/prod"); err != nil || r.Days != 1 || r.Effective != 24*time.Hour {
				t.Fatalf("p1 retention %+v %v", r, err)
			}
			if r, err := s.RetentionOf(ctx, "p2/prod"); err != nil || r.Days != 0 || r.Effective != 0 {
				t.Fatalf("p2 retention %+v %v", r, err)
			}
			removed, err := s.PruneExpired(ctx, []string{"p1/prod", "p2/prod", SystemChain})
			if err != nil || removed != 5 {
				t.Fatalf("PruneExpired removed %d %v, want 5 of p1", removed, err)
			}
			if rep := mustVerify(t, s, "p1/prod"); rep.First != 6 || rep.Records != 5 {
				t.Fatalf("p1 after prune %+v", rep)
			}
			if rep := mustVerify(t, s, "p2/prod"); rep.Records != 10 {
				t.Fatalf("p2 kept forever, has %+v", rep)
			}

			// A default retention covers chains without their own; clearing
			// p1's setting puts it under the default too.
			d := newService(t, db, Config{Sync: true, Retention: 24*time.Hour + 3*time.Second})
			d.now = now
			if err := d.SetRetention(ctx, "p1/prod", 0); err != nil {
				t.Fatal(err)
			}
			removed, err = d.PruneExpired(ctx, []string{"p1/prod", "p2/prod"})
			if err != nil || removed != 2 { // p2 loses 1 and 2; p1 kept 6 to 10 already
				t.Fatalf("default retention removed %d %v, want 2", removed, err)
			}
			mustVerify(t, d, "p1/prod")
			mustVerify(t, d, "p2/prod")
		})
	}
}
