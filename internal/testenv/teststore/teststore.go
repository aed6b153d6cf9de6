// Package teststore opens fresh store providers for tests, one per adapter
// the tests run on: SQLite in a temporary directory, and the MongoDB
// adapter on the process's shared embedded FerretDB under a database prefix
// of its own. It lives apart from testenv so that the adapters' own tests
// can use testenv without an import cycle. Packages using FerretDB stop it
// in TestMain with testenv.StopShared.
package teststore

import (
	"context"
	"strings"
	"testing"

	"github.com/skybridgehq/skybridge/internal/testenv"
	"github.com/skybridgehq/skybridge/store"
	"github.com/skybridgehq/skybridge/store/mongo"
	"github.com/skybridgehq/skybridge/store/sqlite"
)

// SQLite returns an empty SQLite provider, closed when the test ends.
func SQLite(t testing.TB) store.Provider {
	t.Helper()
	p, err := sqlite.Open(sqlite.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("teststore: open SQLite: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// FerretDB returns an empty MongoDB-adapter provider on the shared
// embedded FerretDB, closed when the test ends.
func FerretDB(t testing.TB) store.Provider {
	t.Helper()
	f, err := testenv.SharedFerretDB()
	if err != nil {
		t.Fatalf("teststore: start FerretDB: %v", err)
	}
	prefix := "t" + strings.ToLower(store.NewID()[:10]) + "_"
	p, err := mongo.Open(context.Background(), mongo.Options{URI: f.URI(), DBPrefix: prefix})
	if err != nil {
		t.Fatalf("teststore: open FerretDB: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// Providers returns one fresh provider per adapter, keyed "sqlite" and
// "ferretdb".
func Providers(t testing.TB) map[string]store.Provider {
	t.Helper()
	return map[string]store.Provider{"sqlite": SQLite(t), "ferretdb": FerretDB(t)}
}

// SystemDBs opens the system database of each of Providers.
func SystemDBs(t testing.TB) map[string]store.DB {
	t.Helper()
	out := map[string]store.DB{}
	for name, p := range Providers(t) {
		db, err := p.DB(context.Background(), store.SystemDB)
		if err != nil {
			t.Fatalf("teststore: open %s system database: %v", name, err)
		}
		out[name] = db
	}
	return out
}
