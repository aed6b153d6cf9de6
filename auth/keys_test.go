package auth

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// newApp creates an app and returns its prod environment with keys.
func newApp(t *testing.T, s *Service) EnvironmentKeys {
	t.Helper()
	ak, err := s.CreateApp(context.Background(), "Todo")
	if err != nil {
		t.Fatal(err)
	}
	return ak.Environments[2]
}

// resolves reports whether key resolves to env, failing the test on any
// error other than ErrUnauthorized.
func resolves(t *testing.T, s *Service, key string, env Environment) bool {
	t.Helper()
	got, err := s.ResolveAppKey(context.Background(), key)
	if errors.Is(err, ErrUnauthorized) {
		return false
	}
	if err != nil {
		t.Fatalf("ResolveAppKey: %v", err)
	}
	if got.DB != env.DB || got.AppID != env.AppID || got.Name != env.Name {
		t.Fatalf("key resolved to %+v, want environment %s", got, env.DB)
	}
	return true
}

func TestResolveAppKeyRejects(t *testing.T) {
	t.Parallel()
	s, _, _ := testService(t, Config{})
	prod := newApp(t, s)
	unknown := AppKeyPrefix + strings.Repeat("A", appKeyRandLen)
	for _, key := range []string{
		"", unknown, prod.ServerKey, prod.AppKey + "x", prod.AppKey[:len(prod.AppKey)-1],
		strings.Replace(prod.AppKey, AppKeyPrefix, "sbx_", 1), AppKeyPrefix + strings.Repeat("-", appKeyRandLen),
		strings.ToUpper(prod.AppKey),
	} {
		if env, err := s.ResolveAppKey(context.Background(), key); !errors.Is(err, ErrUnauthorized) || env != (Environment{}) {
			t.Errorf("ResolveAppKey(%q) = %+v, %v; want ErrUnauthorized", key, env, err)
		}
	}
}

func TestRotateKeyValidation(t *testing.T) {
	t.Parallel()
	s, _, _ := testService(t, Config{})
	prod := newApp(t, s)
	ctx := context.Background()
	cases := []struct {
		name, app, env, which string
		grace                 time.Duration
		want                  error
	}{
		{"unknown kind", prod.AppID, "prod", "master", 0, ErrInvalid},
		{"empty kind", prod.AppID, "prod", "", 0, ErrInvalid},
		{"negative grace", prod.AppID, "prod", KeyApp, -time.Second, ErrInvalid},
		{"grace over 30 days", prod.AppID, "prod", KeyApp, MaxRotationGrace + time.Second, ErrInvalid},
		{"unknown env", prod.AppID, "qa", KeyApp, 0, ErrNotFound},
		{"malformed env", prod.AppID, "Prod", KeyServer, 0, ErrNotFound},
		{"unknown app", "nosuchapp123", "prod", KeyApp, 0, ErrNotFound},
	}
	for _, c := range cases {
		if _, err := s.RotateKey(ctx, c.app, c.env, c.which, c.grace); !errors.Is(err, c.want) {
			t.Errorf("%s: RotateKey = %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := s.RotateKey(ctx, prod.AppID, "prod", KeyApp, MaxRotationGrace); err != nil {
		t.Errorf("rotation with the longest grace: %v", err)
	}
	if !resolves(t, s, prod.AppKey, prod.Environment) {
		t.Error("refused rotations must not touch keys; the longest grace keeps the old one")
	}
}

func TestRotateAppKeyWithGrace(t *testing.T) {
	t.Parallel()
	s, _, clock := testService(t, Config{KeyCacheTTL: time.Hour})
	prod := newApp(t, s)
	ctx := context.Background()
	old := prod.AppKey
	if !resolves(t, s, old, prod.Environment) { // now cached for an hour
		t.Fatal("fresh key refused")
	}
	rotatedAt := clock.Now()
	rk, err := s.RotateKey(ctx, prod.AppID, "prod", KeyApp, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if rk.Key != KeyApp || rk.NewKey == old || !wellFormedAppKey(rk.NewKey) || rk.AppKey != rk.NewKey ||
		!rk.OldKeyValidUntil.Equal(rotatedAt.Add(10*time.Minute)) || rk.DB != prod.DB {
		t.Fatalf("RotatedKey = %+v", rk)
	}
	if app, err := s.GetApp(ctx, prod.AppID); err != nil || app.Environments[2].AppKey != rk.NewKey {
		t.Fatalf("GetApp after rotation shows %+v, %v", app.Environments, err)
	}
	// The server key is untouched by an app key rotation.
	if !s.CheckServerKey(ctx, prod.Environment, prod.ServerKey) {
		t.Fatal("app key rotation broke the server key")
	}

	steps := []struct {
		advance        time.Duration
		oldOK, newOK   bool
		resolvedAppKey string
	}{
		{0, true, true, rk.NewKey},
		{10*time.Minute - time.Microsecond, true, true, rk.NewKey},
		{time.Microsecond, false, true, rk.NewKey}, // grace over, although cached for an hour
		{time.Hour, false, true, rk.NewKey},
	}
	for i, st := range steps {
		clock.Advance(st.advance)
		if got := resolves(t, s, old, prod.Environment); got != st.oldOK {
			t.Errorf("step %d: old key resolves = %v, want %v", i, got, st.oldOK)
		}
		if got := resolves(t, s, rk.NewKey, prod.Environment); got != st.newOK {
			t.Errorf("step %d: new key resolves = %v, want %v", i, got, st.newOK)
		}
		// Whatever key was presented, the answer names the current key.
		if env, err := s.ResolveAppKey(ctx, rk.NewKey); err != nil || env.AppKey != st.resolvedAppKey {
			t.Errorf("step %d: resolved %+v, %v", i, env, err)
		}
	}
}

func TestRotateAppKeyGraceZeroCutsAtOnce(t *testing.T) {
	t.Parallel()
	s, _, clock := testService(t, Config{KeyCacheTTL: time.Hour})
	prod := newApp(t, s)
	if !resolves(t, s, prod.AppKey, prod.Environment) { // cache it
		t.Fatal("fresh key refused")
	}
	rk, err := s.RotateKey(context.Background(), prod.AppID, "prod", KeyApp, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !rk.OldKeyValidUntil.Equal(clock.Now()) {
		t.Errorf("OldKeyValidUntil = %v, want now", rk.OldKeyValidUntil)
	}
	if resolves(t, s, prod.AppKey, prod.Environment) {
		t.Fatal("old key still works after a rotation without grace (stale cache?)")
	}
	if !resolves(t, s, rk.NewKey, prod.Environment) {
		t.Fatal("new key refused")
	}
}

func TestRotateAppKeyTwiceDuringGrace(t *testing.T) {
	t.Parallel()
	s, _, clock := testService(t, Config{})
	prod := newApp(t, s)
	ctx := context.Background()
	k0 := prod.AppKey
	r1, err := s.RotateKey(ctx, prod.AppID, "prod", KeyApp, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	r2, err := s.RotateKey(ctx, prod.AppID, "prod", KeyApp, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !r2.OldKeyValidUntil.Equal(clock.Now().Add(2 * time.Hour)) {
		t.Errorf("OldKeyValidUntil = %v", r2.OldKeyValidUntil)
	}
	if resolves(t, s, k0, prod.Environment) {
		t.Error("the key rotated out first should expire at the second rotation")
	}
	if !resolves(t, s, r1.NewKey, prod.Environment) || !resolves(t, s, r2.NewKey, prod.Environment) {
		t.Fatal("the key rotated out second, or the current key, is refused")
	}
	clock.Advance(2*time.Hour - time.Microsecond)
	if !resolves(t, s, r1.NewKey, prod.Environment) {
		t.Error("the key rotated out second lost its new grace early")
	}
	clock.Advance(time.Microsecond)
	if resolves(t, s, r1.NewKey, prod.Environment) {
		t.Error("the key rotated out second outlived its grace")
	}
	// A rotation without grace also ends a previous key still in grace.
	r3, err := s.RotateKey(ctx, prod.AppID, "prod", KeyApp, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RotateKey(ctx, prod.AppID, "prod", KeyApp, 0); err != nil {
		t.Fatal(err)
	}
	if resolves(t, s, r2.NewKey, prod.Environment) || resolves(t, s, r3.NewKey, prod.Environment) {
		t.Error("keys survived a rotation without grace")
	}
}

func TestRotateServerKey(t *testing.T) {
	t.Parallel()
	s, _, clock := testService(t, Config{KeyCacheTTL: time.Hour})
	prod := newApp(t, s)
	ctx := context.Background()
	old := prod.ServerKey
	if !s.CheckServerKey(ctx, prod.Environment, old) { // cache the hashes
		t.Fatal("fresh server key refused")
	}
	r1, err := s.RotateKey(ctx, prod.AppID, "prod", KeyServer, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if r1.Key != KeyServer || !strings.HasPrefix(r1.NewKey, ServerKeyPrefix) || r1.NewKey == old || r1.AppKey != prod.AppKey {
		t.Fatalf("RotatedKey = %+v", r1)
	}
	// The app key is untouched by a server key rotation.
	if !resolves(t, s, prod.AppKey, prod.Environment) {
		t.Fatal("server key rotation broke the app key")
	}
	if !s.CheckServerKey(ctx, prod.Environment, old) || !s.CheckServerKey(ctx, prod.Environment, r1.NewKey) {
		t.Fatal("during grace both server keys must work")
	}
	clock.Advance(5 * time.Minute)
	if s.CheckServerKey(ctx, prod.Environment, old) {
		t.Fatal("old server key outlived its grace")
	}
	if !s.CheckServerKey(ctx, prod.Environment, r1.NewKey) {
		t.Fatal("new server key refused")
	}
	r2, err := s.RotateKey(ctx, prod.AppID, "prod", KeyServer, 0)
	if err != nil {
		t.Fatal(err)
	}
	if s.CheckServerKey(ctx, prod.Environment, r1.NewKey) {
		t.Fatal("server key still works after a rotation without grace (stale cache?)")
	}
	if !s.CheckServerKey(ctx, prod.Environment, r2.NewKey) {
		t.Fatal("newest server key refused")
	}
}

func TestCheckServerKey(t *testing.T) {
	t.Parallel()
	s, _, _ := testService(t, Config{})
	ctx := context.Background()
	ak, err := s.CreateApp(ctx, "Todo")
	if err != nil {
		t.Fatal(err)
	}
	dev, prod := ak.Environments[0], ak.Environments[2]
	forged := prod.Environment
	forged.DB = "system"
	renamed := prod.Environment
	renamed.Name = "qa"
	renamed.DB = store.EnvDBName(prod.AppID, "qa")
	cases := []struct {
		name string
		env  Environment
		key  string
		want bool
	}{
		{"right", prod.Environment, prod.ServerKey, true},
		{"other environment's key", prod.Environment, dev.ServerKey, false},
		{"app key", prod.Environment, prod.AppKey, false},
		{"hash of the key", prod.Environment, hashSecret(prod.ServerKey), false},
		{"empty", prod.Environment, "", false},
		{"truncated", prod.Environment, prod.ServerKey[:len(prod.ServerKey)-1], false},
		{"extended", prod.Environment, prod.ServerKey + "0", false},
		{"environment with a forged DB", forged, prod.ServerKey, false},
		{"unknown environment", renamed, prod.ServerKey, false},
		{"zero environment", Environment{}, prod.ServerKey, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := s.CheckServerKey(ctx, c.env, c.key); got != c.want {
				t.Fatalf("CheckServerKey = %v, want %v", got, c.want)
			}
		})
	}
}

// TestOtherNodeSeesRotationWithinTTL runs two Services over one database,
// as two nodes would: the node that did not rotate keeps its cached answer
// for at most KeyCacheTTL.
func TestOtherNodeSeesRotationWithinTTL(t *testing.T) {
	t.Parallel()
	a, db, clock := testService(t, Config{KeyCacheTTL: 10 * time.Second})
	b := NewService(db, testKeyring(t), Config{KeyCacheTTL: 10 * time.Second, Password: cheapPassword, Now: clock.Now, Logger: a.log})
	prod := newApp(t, a)
	ctx := context.Background()
	if !resolves(t, b, prod.AppKey, prod.Environment) || !b.CheckServerKey(ctx, prod.Environment, prod.ServerKey) {
		t.Fatal("node b refuses fresh keys")
	}
	if _, err := a.RotateKey(ctx, prod.AppID, "prod", KeyApp, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := a.RotateKey(ctx, prod.AppID, "prod", KeyServer, 0); err != nil {
		t.Fatal(err)
	}
	if resolves(t, a, prod.AppKey, prod.Environment) || a.CheckServerKey(ctx, prod.Environment, prod.ServerKey) {
		t.Fatal("node a accepts keys it rotated out")
	}
	clock.Advance(10*time.Second - time.Microsecond)
	if !resolves(t, b, prod.AppKey, prod.Environment) || !b.CheckServerKey(ctx, prod.Environment, prod.ServerKey) {
		t.Fatal("node b dropped its cache early (the test expects the documented staleness)")
	}
	clock.Advance(time.Microsecond)
	if resolves(t, b, prod.AppKey, prod.Environment) || b.CheckServerKey(ctx, prod.Environment, prod.ServerKey) {
		t.Fatal("node b accepts rotated-out keys after KeyCacheTTL")
	}
}

func TestCacheDisabled(t *testing.T) {
	t.Parallel()
	a, db, clock := testService(t, Config{KeyCacheTTL: -1})
	b := NewService(db, testKeyring(t), Config{KeyCacheTTL: -1, Password: cheapPassword, Now: clock.Now, Logger: a.log})
	prod := newApp(t, a)
	if !resolves(t, b, prod.AppKey, prod.Environment) {
		t.Fatal("fresh key refused")
	}
	if _, err := a.RotateKey(context.Background(), prod.AppID, "prod", KeyApp, 0); err != nil {
		t.Fatal(err)
	}
	if resolves(t, b, prod.AppKey, prod.Environment) {
		t.Fatal("without a cache, another node must see the rotation at once")
	}
	if b.appKeys.len() != 0 || b.serverKeys.len() != 0 {
		t.Fatal("disabled cache holds entries")
	}
}

// TestConcurrentRotations races rotations of one key: every one must
// succeed and none be lost, so the document's version grows by their count
// and exactly the last two keys (current and in-grace previous) work.
func TestConcurrentRotations(t *testing.T) {
	t.Parallel()
	s, db, _ := testService(t, Config{KeyCacheTTL: -1})
	prod := newApp(t, s)
	ctx := context.Background()
	before, err := db.Collection(collEnvironments).Get(ctx, prod.DB)
	if err != nil {
		t.Fatal(err)
	}
	const n = 6
	results := make([]RotatedKey, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = s.RotateKey(ctx, prod.AppID, "prod", KeyApp, time.Hour)
		}()
	}
	wg.Wait()
	working := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("rotation %d: %v", i, errs[i])
		}
		if resolves(t, s, results[i].NewKey, prod.Environment) {
			working++
		}
	}
	if working != 2 {
		t.Errorf("%d of the %d new keys work, want 2 (current and previous)", working, n)
	}
	if resolves(t, s, prod.AppKey, prod.Environment) {
		t.Error("the original key survived")
	}
	after, err := db.Collection(collEnvironments).Get(ctx, prod.DB)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := store.DocVersion(after), store.DocVersion(before)+n; got != want {
		t.Fatalf("environment version %d after %d rotations from %d: an update was lost", got, n, store.DocVersion(before))
	}
}

func TestResolveAppKeyConcurrent(t *testing.T) {
	t.Parallel()
	s, _, _ := testService(t, Config{})
	prod := newApp(t, s)
	ctx := context.Background()
	const n = 16
	errs := make([]error, n)
	envs := make([]Environment, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			envs[i], errs[i] = s.ResolveAppKey(ctx, prod.AppKey)
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || envs[i] != prod.Environment {
			t.Fatalf("lookup %d = %+v, %v", i, envs[i], errs[i])
		}
	}
}
