package mongo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/skybridgehq/skybridge/internal/testenv"
)

// uniquePrefix returns a DBPrefix no other test uses, so that tests sharing
// one server never see each other's databases.
func uniquePrefix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "t" + hex.EncodeToString(b[:]) + "_"
}

// openFerret opens a Provider on the process's shared FerretDB under a
// fresh prefix and drops its databases when the test ends.
func openFerret(t testing.TB, opts Options) *Provider {
	t.Helper()
	f, err := testenv.SharedFerretDB()
	if err != nil {
		t.Fatalf("start FerretDB: %v", err)
	}
	opts.URI = f.URI()
	if opts.DBPrefix == "" {
		opts.DBPrefix = uniquePrefix()
	}
	return openAt(t, opts)
}

func openAt(t testing.TB, opts Options) *Provider {
	t.Helper()
	if opts.Logger == nil {
		// Repairs log warnings by design; keep test output readable.
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := Open(ctx, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { dropPrefixed(t, p) })
	return p
}

// dropPrefixed drops every database under p's prefix, through a client of
// its own (the suite may have closed p already), and closes p.
func dropPrefixed(t testing.TB, p *Provider) {
	_ = p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := mongo.Connect(options.Client().ApplyURI(p.opts.URI))
	if err != nil {
		t.Logf("cleanup: connect: %v", err)
		return
	}
	defer func() { _ = client.Disconnect(ctx) }()
	names, err := client.ListDatabaseNames(ctx, bson.D{})
	if err != nil {
		t.Logf("cleanup: list databases: %v", err)
		return
	}
	for _, n := range names {
		if strings.HasPrefix(n, p.opts.DBPrefix) {
			if err := client.Database(n).Drop(ctx); err != nil {
				t.Logf("cleanup: drop %s: %v", n, err)
			}
		}
	}
}

// testColl opens database "app_dev" of p and returns the named collection.
func testColl(t testing.TB, p *Provider, name string) *Collection {
	t.Helper()
	db, err := p.DB(context.Background(), "app_dev")
	if err != nil {
		t.Fatalf("DB: %v", err)
	}
	return db.Collection(name).(*Collection)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// mongoURIEnv names the variable that points the tests at a real MongoDB
// (a replica set), e.g. mongodb://localhost:27017/?replicaSet=rs0.
const mongoURIEnv = "SKYBRIDGE_TEST_MONGO_URI"

func mongoURI() string { return os.Getenv(mongoURIEnv) }

// opener opens a Provider on one backend under a fresh prefix.
type opener func(t testing.TB, opts Options) *Provider

// openMongo opens a Provider on the real MongoDB named by mongoURIEnv.
func openMongo(t testing.TB, opts Options) *Provider {
	t.Helper()
	opts.URI = mongoURI()
	if opts.DBPrefix == "" {
		opts.DBPrefix = uniquePrefix()
	}
	return openAt(t, opts)
}

// eachBackend runs body as a parallel subtest on FerretDB and, when
// mongoURIEnv is set, on that MongoDB too.
func eachBackend(t *testing.T, body func(t *testing.T, open opener)) {
	t.Parallel()
	backends := []struct {
		name string
		open opener
	}{{"ferretdb", openFerret}}
	if mongoURI() != "" {
		backends = append(backends, struct {
			name string
			open opener
		}{"mongodb", openMongo})
	}
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			body(t, be.open)
		})
	}
}

// TestMain stops the shared FerretDB (and removes its files) after the
// package's tests.
func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopShared()
	os.Exit(code)
}
