package auth

import (
	"context"
	"io"
	"log/slog"
	"reflect"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/internal/testenv/teststore"
	"github.com/skybridgehq/skybridge/keyring"
	"github.com/skybridgehq/skybridge/store"
)

// cheapPassword keeps argon2id fast in tests that are not about its cost.
var cheapPassword = PasswordParams{Memory: 64, Time: 1, Threads: 1}

// testClock is a clock the test moves by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// openSystemDB opens a fresh SQLite system database with the indexes of
// SystemIndexes, as the migrations would create them.
func openSystemDB(t testing.TB) store.DB {
	t.Helper()
	ctx := context.Background()
	db, err := teststore.SQLite(t).DB(ctx, store.SystemDB)
	if err != nil {
		t.Fatalf("open system db: %v", err)
	}
	if err := store.EnsureIndexes(ctx, db, SystemIndexes()); err != nil {
		t.Fatal(err)
	}
	return db
}

var (
	testKeyringOnce sync.Once
	testKeyringVal  *keyring.Keyring
)

func testKeyring(t testing.TB) *keyring.Keyring {
	t.Helper()
	testKeyringOnce.Do(func() {
		k, err := keyring.Parse("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlBQkNERUY=")
		if err != nil {
			panic(err)
		}
		testKeyringVal = k
	})
	return testKeyringVal
}

// testService returns a Service over a fresh database with cheap password
// hashing, a hand-moved clock and a quiet logger; cfg may override.
func testService(t testing.TB, cfg Config) (*Service, store.DB, *testClock) {
	t.Helper()
	db := openSystemDB(t)
	clock := newTestClock()
	if cfg.Password == (PasswordParams{}) {
		cfg.Password = cheapPassword
	}
	if cfg.Now == nil {
		cfg.Now = clock.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return NewService(db, testKeyring(t), cfg), db, clock
}

func TestConfigWithDefaults(t *testing.T) {
	t.Parallel()
	clock := func() time.Time { return time.Unix(1, 0) }
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	cases := []struct {
		name  string
		in    Config
		check func(t *testing.T, c Config)
	}{
		{"zero", Config{}, func(t *testing.T, c Config) {
			if c.AdminTokenTTL != time.Hour || c.KeyCacheTTL != 10*time.Second || c.KeyCacheSize != 10000 {
				t.Errorf("durations/sizes: %+v", c)
			}
			if c.Password != DefaultPasswordParams {
				t.Errorf("Password = %+v", c.Password)
			}
			if c.MaxConcurrentHashes != runtime.GOMAXPROCS(0) {
				t.Errorf("MaxConcurrentHashes = %d", c.MaxConcurrentHashes)
			}
			if c.Now == nil || c.Logger == nil {
				t.Error("Now or Logger left nil")
			}
		}},
		{"explicit kept", Config{
			AdminTokenTTL: time.Minute, KeyCacheTTL: time.Second, KeyCacheSize: 5,
			Password: PasswordParams{Memory: 1024, Time: 3, Threads: 4}, MaxConcurrentHashes: 7,
			Now: clock, Logger: logger,
		}, func(t *testing.T, c Config) {
			if c.AdminTokenTTL != time.Minute || c.KeyCacheTTL != time.Second || c.KeyCacheSize != 5 ||
				c.Password != (PasswordParams{Memory: 1024, Time: 3, Threads: 4}) || c.MaxConcurrentHashes != 7 {
				t.Errorf("explicit values changed: %+v", c)
			}
			if !c.Now().Equal(time.Unix(1, 0)) || c.Logger != logger {
				t.Error("Now or Logger replaced")
			}
		}},
		{"negative cache TTL disables", Config{KeyCacheTTL: -1}, func(t *testing.T, c Config) {
			if c.KeyCacheTTL != -1 {
				t.Errorf("KeyCacheTTL = %v", c.KeyCacheTTL)
			}
		}},
		{"partial password params", Config{Password: PasswordParams{Time: 5}}, func(t *testing.T, c Config) {
			want := PasswordParams{Memory: DefaultPasswordParams.Memory, Time: 5, Threads: DefaultPasswordParams.Threads}
			if c.Password != want {
				t.Errorf("Password = %+v, want %+v", c.Password, want)
			}
		}},
		{"memory raised to argon2 floor", Config{Password: PasswordParams{Memory: 1, Time: 1, Threads: 4}}, func(t *testing.T, c Config) {
			if c.Password.Memory != 32 {
				t.Errorf("Memory = %d, want 32 (8 KiB per lane)", c.Password.Memory)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.check(t, c.in.withDefaults())
		})
	}
}

func TestSystemIndexes(t *testing.T) {
	t.Parallel()
	idx := SystemIndexes()
	for _, coll := range []string{collAdmins, collApps, collEnvironments} {
		if len(idx[coll]) == 0 {
			t.Errorf("no indexes for %s", coll)
		}
	}
	for coll, list := range idx {
		if err := store.ValidCollectionName(coll); err != nil {
			t.Error(err)
		}
		for _, i := range list {
			if err := i.Validate(); err != nil {
				t.Errorf("%s: %v", coll, err)
			}
		}
	}
	unique := map[string]bool{}
	for _, i := range idx[collAdmins] {
		unique[i.Fields[0]] = i.Unique
	}
	for _, i := range idx[collEnvironments] {
		unique[i.Fields[0]] = i.Unique
	}
	if !unique[fieldEmail] || !unique[fieldAppKey] || !unique[fieldAppKeyPrev] {
		t.Errorf("email, appKey and appKeyPrev must be unique: %v", unique)
	}
	// Each call gives a fresh map: callers may change theirs.
	idx[collAdmins] = nil
	if reflect.DeepEqual(idx, SystemIndexes()) {
		t.Error("SystemIndexes returns shared state")
	}
}

func TestNewServiceNeedsDeps(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("NewService without a database did not panic")
		}
	}()
	NewService(nil, testKeyring(t), Config{})
}
