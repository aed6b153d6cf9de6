package testenv

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// The real `skybridge serve` binary for tests that need a process of
// their own: restarts, SIGTERM and kill -9, resident memory, a browser
// against the real server.

// binaries holds cmd/skybridge built once per test process.
var binaries struct {
	once sync.Once
	path string
	err  error
}

// Binary builds cmd/skybridge once per test process (with -race when the
// test binary has it, so the build cache is shared) and returns its path.
// The file lives in a directory of its own under the system's temporary
// directory, removed when the process's tests are over only if the caller
// registers CleanBinary in its TestMain; otherwise the OS reclaims it.
func Binary(tb testing.TB) string {
	tb.Helper()
	binaries.once.Do(func() {
		dir, err := os.MkdirTemp("", "skybridge-bin")
		if err != nil {
			binaries.err = err
			return
		}
		binaries.path = filepath.Join(dir, "skybridge")
		args := append(append([]string{"build"}, raceFlags...), "-o", binaries.path, "github.com/skybridgehq/skybridge/cmd/skybridge")
		if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
			binaries.err = fmt.Errorf("go build cmd/skybridge: %v\n%s", err, out)
		}
	})
	if binaries.err != nil {
		tb.Fatal(binaries.err)
	}
	return binaries.path
}

// CleanBinary removes the binary Binary built, if any; call it from
// TestMain after m.Run.
func CleanBinary() {
	if binaries.path != "" {
		_ = os.RemoveAll(filepath.Dir(binaries.path))
	}
}

// FreeAddr returns a loopback address no one listens on right now.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Process is a `skybridge serve` running as a child of the test.
type Process struct {
	// Cmd is the running command: signal it to stop or kill the node.
	Cmd *exec.Cmd
	// URL is its HTTP base URL, "http://127.0.0.1:<port>".
	URL string
}

// Serve runs `bin serve` on a free loopback HTTP port with env (KEY=value
// settings, after the test process's own environment; name
// SKYBRIDGE_DATA_DIR and SKYBRIDGE_MQTT_ADDR in it) and waits up to 30 s
// until it answers /healthz. Its standard error goes to the test's; it is
// killed when the test ends, if still running.
func Serve(tb testing.TB, bin string, env ...string) *Process {
	tb.Helper()
	addr := FreeAddr(tb)
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(append(os.Environ(), "SKYBRIDGE_HTTP_ADDR="+addr), env...)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	p := &Process{Cmd: cmd, URL: "http://" + addr}
	tb.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if !WaitFor(context.Background(), 30*time.Second, func() bool {
		resp, err := http.Get(p.URL + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}) {
		tb.Fatal("skybridge serve did not answer /healthz within 30s")
	}
	return p
}

// Stop sends sig and waits for the process to end.
func (p *Process) Stop(tb testing.TB, sig os.Signal) {
	tb.Helper()
	if err := p.Cmd.Process.Signal(sig); err != nil {
		tb.Fatal(err)
	}
	_ = p.Cmd.Wait()
}

// Do sends a JSON request to the process (see DoJSON).
func (p *Process) Do(tb testing.TB, method, path string, body any, headers map[string]string, out any) int {
	tb.Helper()
	return DoJSON(tb, method, p.URL+path, body, headers, out)
}

// MissingTool skips a test that needs a program the machine lacks, with
// msg saying how to get it, or fails it when REQUIRE_TEST_TOOLS is set, as
// `make test` sets it: there scripts/ensure-deps.sh has installed every
// such program, so a missing one is a broken setup, not a reason to skip.
func MissingTool(tb testing.TB, msg string) {
	tb.Helper()
	if os.Getenv("REQUIRE_TEST_TOOLS") != "" {
		tb.Fatal(msg + " (REQUIRE_TEST_TOOLS is set: make test installs it, so this is a failure)")
	}
	tb.Skip(msg)
}
