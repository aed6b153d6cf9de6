package mongo

import (
	"testing"

	"github.com/skybridgehq/skybridge/store"
	"github.com/skybridgehq/skybridge/store/storetest"
)

// ferretDBExceptions are the conformance cases FerretDB v1.24 (the
// embedded MongoDB-wire server of the tests, SQLite backend) cannot hold,
// with why. Each was seen failing there; each passes on MongoDB, where
// TestConformanceMongoDB runs them. Nothing else is excused.
var ferretDBExceptions = map[string]string{
	"Concurrency/CASNoLostUpdates": "FerretDB v1 runs an update or replace filtered on {_id, _v} as a read, " +
		"a filter match in its own process and an unconditional write by _id, so two concurrent " +
		"compare-and-swaps on one document can both succeed; MongoDB applies the filter and the write atomically",
	"Concurrency/IncNoLostUpdates": "FerretDB v1 applies $inc by reading the document, adding in its own process " +
		"and writing the whole document back, so concurrent increments of one document are lost; " +
		"MongoDB applies $inc atomically",
}

// TestConformanceFerretDB runs the store conformance suite against the
// embedded FerretDB.
func TestConformanceFerretDB(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t testing.TB) store.Provider {
		return openFerret(t, Options{})
	}, storetest.Options{Exceptions: ferretDBExceptions})
}
