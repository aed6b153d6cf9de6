package trigger

import (
	"testing"
	"time"
)

func TestConfigWithDefaults(t *testing.T) {
	t.Parallel()
	c := Config{}.withDefaults()
	if c.PollInterval != DefaultPollInterval || c.Lease != DefaultLease || c.MaxAttempts != DefaultMaxAttempts ||
		c.Backoff != DefaultBackoff || c.MaxBackoff != DefaultMaxBackoff || c.Concurrency != DefaultConcurrency ||
		c.BatchSize != DefaultBatchSize || c.Retention != DefaultRetention || c.Logger == nil || c.Holder == "" || c.Now == nil {
		t.Fatalf("defaults not applied: %+v", c)
	}
	set := Config{PollInterval: time.Millisecond, Lease: 2 * time.Second, MaxAttempts: 2, Holder: "n1"}.withDefaults()
	if set.PollInterval != time.Millisecond || set.Lease != 2*time.Second || set.MaxAttempts != 2 || set.Holder != "n1" {
		t.Fatalf("set values replaced: %+v", set)
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	s := &Service{cfg: Config{Backoff: time.Second, MaxBackoff: 5 * time.Second}.withDefaults()}
	for _, tc := range []struct {
		n    int
		want time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {4, 5 * time.Second}, {10, 5 * time.Second}} {
		if got := s.backoff(tc.n); got != tc.want {
			t.Errorf("backoff(%d) = %s, want %s", tc.n, got, tc.want)
		}
	}
}

// TestHashID: ids are stable for one cause and differ between causes, so
// a repeated enqueue of one firing collides and two firings never do.
func TestHashID(t *testing.T) {
	t.Parallel()
	a := hashID("app", "dev", "t", kindEvent, "o1", "7")
	if a != hashID("app", "dev", "t", kindEvent, "o1", "7") || len(a) != 32 {
		t.Fatalf("hashID not stable: %s", a)
	}
	for _, other := range [][]string{
		{"app", "dev", "t", kindEvent, "o1", "8"},
		{"app", "dev", "t", kindEvent, "o17", ""},
		{"app", "prod", "t", kindEvent, "o1", "7"},
	} {
		if hashID(other...) == a {
			t.Fatalf("%v collides with the first cause", other)
		}
	}
}
