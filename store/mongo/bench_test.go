package mongo

import (
	"testing"

	"github.com/skybridgehq/skybridge/store"
	"github.com/skybridgehq/skybridge/store/storetest"
)

// BenchmarkStore measures the adapter on the embedded FerretDB (and on
// MongoDB when SKYBRIDGE_TEST_MONGO_URI is set). FerretDB figures measure
// FerretDB's SQLite backend as much as the adapter.
func BenchmarkStore(b *testing.B) {
	b.Run("backend=ferretdb", func(b *testing.B) {
		storetest.Bench(b, func(t testing.TB) store.Provider { return openFerret(t, Options{}) })
	})
	if mongoURI() != "" {
		b.Run("backend=mongodb", func(b *testing.B) {
			storetest.Bench(b, func(t testing.TB) store.Provider { return openMongo(t, Options{}) })
		})
	}
}
