package iotbridge

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/skybridgehq/skybridge/store"
	"github.com/skybridgehq/skybridge/store/sqlite"
)

// clock is a settable Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// telemetryService is a Service over a fresh SQLite store, without a
// broker, with one registered device "d1" in env.
func telemetryService(t *testing.T, cfg Config) (*Service, Env) {
	t.Helper()
	p, err := sqlite.Open(sqlite.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	cfg.SecretKey = make([]byte, 32)
	s, err := NewService(context.Background(), p, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	env := Env{AppID: "app", Name: "dev", DB: "app_dev"}
	if _, _, err := s.Register(context.Background(), env, Caller{Server: true}, DeviceInput{ID: "d1"}); err != nil {
		t.Fatal(err)
	}
	return s, env
}

// TestTelemetryRetention: a pass removes what is older than the
// environment's retention (the server default, then the admin's).
func TestTelemetryRetention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s, env := telemetryService(t, Config{Now: clk.now, TelemetryRetentionDays: 10})
	// One message a day for 20 days (the clock moves, the device sends no ts).
	for range 20 {
		s.HandleDeviceMessage(ctx, "skybridge/devices/d1/telemetry", []byte(`{"v":1}`))
		clk.add(24 * time.Hour)
	}
	s.FlushTelemetry()
	count := func() int64 {
		db, _ := s.st.DB(ctx, env.DB)
		n, err := db.Collection(collTelemetry).Count(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 20 {
		t.Fatalf("%d stored, want 20", n)
	}
	// Now is day 20: the default 10 days keep days 10..19.
	n, err := s.PruneTelemetry(ctx, env.DB)
	if err != nil || n != 10 || count() != 10 {
		t.Fatalf("prune: %d %v, %d left", n, err, count())
	}
	if r, err := s.SetTelemetryRetention(ctx, env, 3); err != nil || r.Days != 3 || r.EffectiveDays != 3 {
		t.Fatalf("set retention: %+v %v", r, err)
	}
	if n, err := s.PruneTelemetry(ctx, env.DB); err != nil || n != 7 || count() != 3 {
		t.Fatalf("prune at 3 days: %d %v, %d left", n, err, count())
	}
	if n, err := s.PruneTelemetry(ctx, env.DB); err != nil || n != 0 {
		t.Fatalf("second prune: %d %v", n, err)
	}
	if r, err := s.SetTelemetryRetention(ctx, env, 0); err != nil || r.Days != 0 || r.EffectiveDays != 10 {
		t.Fatalf("back to the default: %+v %v", r, err)
	}
	for _, bad := range []int{-1, MaxTelemetryRetentionDays + 1} {
		if _, err := s.SetTelemetryRetention(ctx, env, bad); FieldOf(err) != "days" {
			t.Errorf("retention %d: %v", bad, err)
		}
	}
}

// TestTelemetryQueueFull: past the queue bound messages are dropped and
// counted, and Close stores what was queued.
func TestTelemetryQueueFull(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// A long flush interval and large batches: nothing is written before
	// Close, so the queue of 5 fills.
	s, env := telemetryService(t, Config{TelemetryQueue: 5, TelemetryBatch: 1000, TelemetryFlushInterval: time.Hour})
	// The writer may take one message off the queue into its batch
	// before the queue fills: 5 or 6 are kept.
	for range 10 {
		s.HandleDeviceMessage(ctx, "skybridge/devices/d1/telemetry/s", []byte(`{"v":1}`))
	}
	dropped := counterValue(t, s.telDropped.WithLabelValues(DropQueueFull))
	if dropped != 4 && dropped != 5 {
		t.Fatalf("queue_full = %v, want 4 or 5", dropped)
	}
	s.HandleDeviceMessage(ctx, "skybridge/devices/ghost/telemetry", []byte(`{}`))
	if got := counterValue(t, s.telDropped.WithLabelValues(DropUnknown)); got != 1 {
		t.Errorf("unknown_device = %v", got)
	}
	s.Close()
	db, _ := s.st.DB(ctx, env.DB)
	n, err := db.Collection(collTelemetry).Count(ctx, store.Compare{Path: "stream", Op: store.OpEq, Value: "s"})
	if err != nil || float64(n)+dropped != 10 || counterValue(t, s.telStored) != float64(n) {
		t.Fatalf("after Close: %d stored (counter %v), %v dropped, %v", n, counterValue(t, s.telStored), dropped, err)
	}
	// After Close nothing more is taken.
	s.HandleDeviceMessage(ctx, "skybridge/devices/d1/telemetry/s", []byte(`{"v":1}`))
	if got := counterValue(t, s.telDropped.WithLabelValues(DropQueueFull)); got != dropped+1 {
		t.Errorf("after Close: queue_full = %v", got)
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestShadowLease: one holder at a time; it renews; another takes over
// after the TTL or a release.
func TestShadowLease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s, _ := telemetryService(t, Config{Now: clk.now})
	claim := func(holder string) bool {
		ok, err := s.ClaimShadowLease(ctx, holder, 15*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !claim("a") || claim("b") {
		t.Fatal("a first: a holds, b does not")
	}
	clk.add(10 * time.Second)
	if !claim("a") || claim("b") {
		t.Fatal("a renews within its TTL")
	}
	clk.add(16 * time.Second)
	if !claim("b") || claim("a") {
		t.Fatal("after a's TTL b takes over")
	}
	if err := s.ReleaseShadowLease(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if claim("a") {
		t.Fatal("a's release of b's lease released it")
	}
	if err := s.ReleaseShadowLease(ctx, "b"); err != nil || !claim("a") {
		t.Fatalf("after b's release a takes over: %v", err)
	}
}

// TestTelemetryDeletedWithDevice: deleting a device removes its
// telemetry (queued messages included); a device registered again under
// the id starts empty.
func TestTelemetryDeletedWithDevice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, env := telemetryService(t, Config{TelemetryFlushInterval: time.Hour})
	for range 5 {
		s.HandleDeviceMessage(ctx, "skybridge/devices/d1/telemetry", []byte(`{"v":1}`))
	}
	if err := s.Delete(ctx, env, Caller{Server: true}, "d1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Register(ctx, env, Caller{Server: true}, DeviceInput{ID: "d1"}); err != nil {
		t.Fatal(err)
	}
	items, _, err := s.ListTelemetry(ctx, env, Caller{Server: true}, "d1", TelemetryQuery{})
	if err != nil || len(items) != 0 {
		t.Fatalf("the new d1 sees %d messages of the old one (%v)", len(items), err)
	}
}
