package events

import (
	"os"
	"testing"

	"github.com/skybridgehq/skybridge/internal/testenv"
)

// TestMain stops the shared redis-server after the package's tests.
func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopShared()
	os.Exit(code)
}
