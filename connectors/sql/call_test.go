package sql_test

import "testing"

// TestSQLite runs the shared suite on a SQLite file.
func TestSQLite(t *testing.T) {
	t.Parallel()
	runSuite(t, sqliteBackend(t))
}
