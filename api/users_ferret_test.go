package api

import (
	"strings"
	"testing"

	"github.com/skybridgehq/skybridge/internal/testenv"
	"github.com/skybridgehq/skybridge/store"
	"github.com/skybridgehq/skybridge/store/mongo"
)

// TestUserFlowFerretDB runs the main user flow on the MongoDB adapter over
// embedded FerretDB. The concurrent refresh test is not run here: FerretDB
// does not do concurrent compare-and-swap atomically.
func TestUserFlowFerretDB(t *testing.T) {
	if testing.Short() {
		t.Skip("FerretDB start-up skipped in -short mode")
	}
	t.Parallel()
	f, err := testenv.SharedFerretDB()
	if err != nil {
		t.Fatal(err)
	}
	p, err := mongo.Open(t.Context(), mongo.Options{URI: f.URI(), DBPrefix: "usr" + strings.ToLower(store.NewID()[:8]) + "_"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	runUserFlow(t, newUserEnv(t, p, Config{}))
}
