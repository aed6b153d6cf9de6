package api

import (
	"os"
	"testing"

	"github.com/skybridgehq/skybridge/internal/testenv"
	"github.com/skybridgehq/skybridge/internal/testenv/teststore"
)

// TestUserFlowFerretDB runs the main user flow on the MongoDB adapter over
// embedded FerretDB. The concurrent refresh test is not run here: FerretDB
// does not do concurrent compare-and-swap atomically.
func TestUserFlowFerretDB(t *testing.T) {
	t.Parallel()
	runUserFlow(t, newUserEnv(t, teststore.FerretDB(t), Config{}))
}

// TestMain stops the shared FerretDB after the package's tests.
func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopShared()
	os.Exit(code)
}
