package api

import (
	"testing"

	"github.com/skybridgehq/skybridge/internal/testenv/teststore"
)

// TestDeployTokenFlowFerretDB runs the deploy token flow on the MongoDB
// adapter over embedded FerretDB.
func TestDeployTokenFlowFerretDB(t *testing.T) {
	t.Parallel()
	runDeployTokenFlow(t, newAuditedEnv(t, teststore.FerretDB(t)))
}
