package mongo

import (
	"testing"

	"github.com/skybridgehq/skybridge/store"
	"github.com/skybridgehq/skybridge/store/storetest"
)

// TestConformanceMongoDB runs the whole conformance suite, without
// exceptions, against the MongoDB replica set named by
// SKYBRIDGE_TEST_MONGO_URI.
func TestConformanceMongoDB(t *testing.T) {
	if mongoURI() == "" {
		t.Skip("no real MongoDB: set SKYBRIDGE_TEST_MONGO_URI (e.g. mongodb://localhost:27017/?replicaSet=rs0) to run the suite against it")
	}
	t.Parallel()
	storetest.Run(t, func(t testing.TB) store.Provider {
		return openMongo(t, Options{})
	}, storetest.Options{})
}
