package push_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/push"
	"github.com/skybridgehq/skybridge/store"
)

// TestPlanningKeepsPace: a send's targets are batched as the send goes,
// never more than PlanAhead batches ahead of its senders, and the send
// still reaches every token exactly once and reports its progress as
// sending while planning pauses.
func TestPlanningKeepsPace(t *testing.T) {
	t.Parallel()
	const installations, batchSize, ahead = 60, 5, 2
	r := newRig(t, push.Config{BatchSize: batchSize, PlanAhead: ahead, Workers: 1, Concurrency: 2})
	r.credentials(t)
	for i := range installations {
		r.register(t, device{platform: push.PlatformIOS, token: iosToken(i), topics: []string{"all"}})
	}
	r.apns.SetDelay(5 * time.Millisecond) // keeps the senders behind the planner
	id := r.send(t, push.SendRequest{Target: push.Target{Topics: []string{"all"}}, Notification: push.Notification{Title: "Hi"}})

	// Watch the queue while the send runs: the waiting batches never
	// exceed PlanAhead.
	ctx := context.Background()
	batches := r.sys.Collection(push.BatchesCollection)
	var most atomic.Int64
	var sawSending atomic.Bool
	st := r.waitStatus(t, id, "finished", func(s push.Status) bool {
		n, err := batches.Count(ctx, store.And{Filters: []store.Filter{
			store.Compare{Path: "nid", Op: store.OpEq, Value: id},
			store.Compare{Path: "state", Op: store.OpEq, Value: "pending"},
		}})
		if err != nil {
			t.Errorf("count waiting batches: %v", err)
			return true
		}
		if n > most.Load() {
			most.Store(n)
		}
		if s.Status == push.StatusSending {
			sawSending.Store(true)
		}
		return s.Status == push.StatusDone || s.Status == push.StatusFailed
	})
	if most.Load() > ahead {
		t.Errorf("%d batches waited at once, want at most PlanAhead = %d", most.Load(), ahead)
	}
	if !sawSending.Load() {
		t.Error("the send was never reported as sending")
	}
	if st.Status != push.StatusDone || st.Counts.Targeted != installations || st.Counts.Sent != installations {
		t.Fatalf("status %+v", st)
	}
	total, err := batches.Count(ctx, store.Compare{Path: "nid", Op: store.OpEq, Value: id})
	if err != nil {
		t.Fatal(err)
	}
	if total != installations/batchSize {
		t.Errorf("%d batches, want %d", total, installations/batchSize)
	}
	for i := range installations {
		if n := r.apns.Count(iosToken(i)); n != 1 {
			t.Errorf("token %d got %d requests, want 1", i, n)
		}
	}
}

// TestPlanningPastLaterBatches: batches due later (a local-time send's
// later zones) are not work ahead, so they never hold back the planning
// of targets due now, however small PlanAhead is.
func TestPlanningPastLaterBatches(t *testing.T) {
	t.Parallel()
	r := newRig(t, push.Config{BatchSize: 1, PlanAhead: 1})
	r.credentials(t)
	const each = 6
	for i := range each {
		r.register(t, device{platform: push.PlatformAndroid, token: fcmToken(i), tz: "Asia/Tokyo", topics: []string{"t"}})
		r.register(t, device{platform: push.PlatformAndroid, token: fcmToken(100 + i), tz: "America/New_York", topics: []string{"t"}})
	}
	// 2030-01-10 00:00 UTC: 09:00 in Tokyo, the night before in New York.
	r.clock.advance(time.Until(time.Date(2030, 1, 10, 0, 0, 0, 0, time.UTC)))
	id := r.send(t, push.SendRequest{Target: push.Target{Topics: []string{"t"}}, Notification: push.Notification{Title: "Good morning"}, ScheduleAt: "2030-01-10T09:00:00", LocalTime: true})
	r.waitStatus(t, id, "sent in Tokyo", func(s push.Status) bool { return s.Counts.Sent == each })
	for i := range each {
		if n := r.fcm.Count(fcmToken(i)); n != 1 {
			t.Errorf("Tokyo installation %d got %d requests, want 1", i, n)
		}
		if n := r.fcm.Count(fcmToken(100 + i)); n != 0 {
			t.Errorf("New York installation %d got %d requests before its morning", i, n)
		}
	}
	r.clock.advance(14 * time.Hour) // 14:00 UTC: 09:00 in New York
	if st := r.waitDone(t, id); st.Counts.Sent != 2*each {
		t.Fatalf("status %+v", st)
	}
}
