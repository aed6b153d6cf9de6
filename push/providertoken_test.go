package push

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/internal/testenv/teststore"
	"github.com/skybridgehq/skybridge/keyring"
	"github.com/skybridgehq/skybridge/store"
)

// Many nodes asking at once get one token per refresh period, and a
// replacement comes only once the period is over.
func TestProviderTokenIsSharedAndRefreshedOncePerPeriod(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := teststore.SQLite(t)
	sys, err := p.DB(ctx, store.SystemDB)
	if err != nil {
		t.Fatal(err)
	}
	kr, _, _ := keyring.Generate()
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k := apnsKey{id: "k1", key: priv, keyID: "ABCDE12345", teamID: "TEAM123456"}
	nodes := make([]*providerTokens, 5)
	for i := range nodes {
		nodes[i] = &providerTokens{sys: sys, keys: kr, refresh: DefaultTokenRefresh, now: now, cache: map[string]cachedToken{}}
	}
	round := func() map[string]bool {
		seen := map[string]bool{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, n := range nodes {
			for range 10 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					b, err := n.bearer(ctx, k, "")
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					seen[b] = true
					mu.Unlock()
				}()
			}
		}
		wg.Wait()
		return seen
	}
	first := round()
	if len(first) != 1 {
		t.Fatalf("%d tokens in use at once, want 1", len(first))
	}
	offset.Add(int64(20 * time.Minute))
	if again := round(); len(again) != 1 || !sameKeys(again, first) {
		t.Errorf("token replaced before its refresh age")
	}
	offset.Add(int64(21 * time.Minute)) // 41 minutes: past DefaultTokenRefresh
	second := round()
	if len(second) != 1 || sameKeys(second, first) {
		t.Errorf("after the refresh age: %d tokens, same as before: %v", len(second), sameKeys(second, first))
	}
	// A token APNs calls expired is replaced at once, once.
	var stale string
	for b := range second {
		stale = b
	}
	b1, _ := nodes[0].bearer(ctx, k, stale)
	b2, _ := nodes[1].bearer(ctx, k, stale)
	if b1 == stale || b1 != b2 {
		t.Errorf("expired token: replaced by %q and %q", b1, b2)
	}
}

func sameKeys(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	c := Config{}.withDefaults()
	if c.Workers != DefaultWorkers || c.Concurrency != DefaultConcurrency || c.BatchSize != DefaultBatchSize || c.Lease != DefaultLease ||
		c.PollInterval != DefaultPollInterval || c.MaxAttempts != DefaultMaxAttempts || c.RetryBackoff != DefaultRetryBackoff ||
		c.MaxRetryBackoff != DefaultMaxRetryBackoff || c.RatePerApp != DefaultRatePerApp || c.TokenRefresh != DefaultTokenRefresh ||
		c.SendTimeout != DefaultSendTimeout || c.Logger == nil || c.Now == nil {
		t.Errorf("defaults %+v", c)
	}
	if c.TokenRefresh < 20*time.Minute || c.TokenRefresh > 50*time.Minute {
		t.Errorf("token refresh %s outside APNs' 20-50 minutes", c.TokenRefresh)
	}
	set := Config{Workers: 2, BatchSize: 7, Lease: time.Second}.withDefaults()
	if set.Workers != 2 || set.BatchSize != 7 || set.Lease != time.Second {
		t.Errorf("set values overridden: %+v", set)
	}
}

func TestRetryAfterHeader(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"": 0, "5": 5 * time.Second, " 0 ": 0, "-3": 0, "soon": 0,
		"Thu, 01 Jan 2026 00:00:30 GMT": 30 * time.Second, "Wed, 31 Dec 2025 23:00:00 GMT": 0,
	} {
		if got := retryAfter(in, now); got != want {
			t.Errorf("Retry-After %q: %s, want %s", in, got, want)
		}
	}
}

func TestMessageUUIDIsStableAndWellFormed(t *testing.T) {
	t.Parallel()
	a, b := messageUUID("n1", "i1"), messageUUID("n1", "i1")
	if a != b || a == messageUUID("n1", "i2") || len(a) != 36 || a[14] != '4' {
		t.Errorf("uuids %s %s", a, b)
	}
}
