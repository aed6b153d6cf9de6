package sql_test

import (
	"os"
	"testing"
)

// postgresBackend returns the PostgreSQL that SKYBRIDGE_TEST_POSTGRES_DSN
// names (`make test-full` starts a throwaway cluster and sets it), or
// skips, saying so.
func postgresBackend(t testing.TB) backend {
	t.Helper()
	dsn := os.Getenv("SKYBRIDGE_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("SKYBRIDGE_TEST_POSTGRES_DSN is not set: no PostgreSQL to test against (make test-full starts one)")
	}
	return backend{driver: "postgres", dsn: dsn}
}

// TestPostgres runs the shared suite (parameters, injection attempts,
// types, NULLs, limits, errors) on a real PostgreSQL.
func TestPostgres(t *testing.T) {
	t.Parallel()
	runSuite(t, postgresBackend(t))
}
