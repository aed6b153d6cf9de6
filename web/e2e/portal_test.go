package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/internal/testenv"
)

const (
	adminEmail    = "portal@example.com"
	adminPassword = "portal-e2e-passphrase"
)

// ScreenshotsEnv names the directory the browser walk saves its page
// screenshots in; `make screenshots` sets it to docs/screenshots. Unset,
// they go to a temporary directory and the repository stays untouched.
// (Not SKYBRIDGE_*: the server, which gets the test's environment, refuses
// unknown settings of its own prefix.)
const ScreenshotsEnv = "PORTAL_SCREENSHOTS"

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.CleanBinary()
	os.Exit(code)
}

// TestPortalInBrowser walks the admin portal in headless chromium against
// a real skybridge serve: sign in, create an app and copy its key (shown
// masked), set a collection rule and create an object, deploy a flow
// bundle, diff and run it, send a command to a device (which this test
// connects over MQTT and which answers it and publishes telemetry), call
// /v1 as the app, then find the request in the audit trail and the app's
// traffic on the dashboard; a screenshot of every page along the way.
func TestPortalInBrowser(t *testing.T) {
	node, chromium := browserTools(t)
	mqttAddr := testenv.FreeAddr(t)
	srv := testenv.Serve(t, testenv.Binary(t), "SKYBRIDGE_MQTT_ADDR="+mqttAddr, "SKYBRIDGE_DATA_DIR="+t.TempDir(),
		"SKYBRIDGE_ADMIN_EMAIL="+adminEmail, "SKYBRIDGE_ADMIN_PASSWORD="+adminPassword,
		"SKYBRIDGE_LOG_LEVEL=warn", "SKYBRIDGE_SHUTDOWN_GRACE=5s")
	base := srv.URL

	shots := os.Getenv(ScreenshotsEnv)
	if shots == "" {
		shots = t.TempDir()
	} else if abs, err := filepath.Abs(shots); err == nil {
		shots = abs
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	const deviceID = "thermo-1"
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "e2e/portal.mjs")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "SKYBRIDGE_URL="+base, "ADMIN_EMAIL="+adminEmail, "ADMIN_PASSWORD="+adminPassword,
		"SCREENSHOTS="+shots, "CHROMIUM="+chromium, "DEVICE_ID="+deviceID, "USER_DATA_DIR="+t.TempDir())
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var dev *device
	var log strings.Builder
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		line := lines.Text()
		// The walk prints the MQTT secret the portal showed for the
		// device it registered; the device connects with it.
		if rest, ok := strings.CutPrefix(line, "device-secret "); ok {
			id, secret, _ := strings.Cut(rest, " ")
			if id != deviceID {
				t.Errorf("the walk registered %q, want %q", id, deviceID)
			}
			dev = connectDevice(t, mqttAddr, id, secret)
			line = "device-secret " + id + " (connected)"
		}
		fmt.Fprintln(&log, line)
	}
	err = cmd.Wait()
	t.Logf("browser walk:\n%s", log.String())
	if err != nil {
		t.Fatalf("the browser walk failed: %v", err)
	}
	if dev == nil {
		t.Error("the walk registered no device")
	} else {
		for _, err := range dev.problems() {
			t.Error(err)
		}
	}
	pngs, _ := filepath.Glob(filepath.Join(shots, "*.png"))
	if len(pngs) < 10 {
		t.Errorf("%d screenshots in %s, want one per page (at least 10)", len(pngs), shots)
	}
}

// browserTools finds node, the portal's npm packages and chromium, or
// skips: `make test` installs them (scripts/ensure-deps.sh).
func browserTools(t *testing.T) (node, chromium string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.MissingTool(t, "node is not installed; make test installs it (scripts/ensure-deps.sh)")
	}
	if _, err := os.Stat("../node_modules/playwright-core/package.json"); err != nil {
		testenv.MissingTool(t, "web/node_modules lacks playwright-core; make test runs npm ci (scripts/ensure-deps.sh)")
	}
	chromium = os.Getenv("CHROMIUM")
	if chromium == "" {
		if chromium, err = exec.LookPath("chromium"); err != nil {
			testenv.MissingTool(t, "chromium is not installed; make test installs the Debian package (scripts/ensure-deps.sh)")
		}
	}
	return node, chromium
}
