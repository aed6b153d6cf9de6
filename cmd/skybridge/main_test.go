package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/internal/testenv"
	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
)

// TestMain lets the test binary act as the skybridge binary: with
// SKYBRIDGE_TEST_RUN_MAIN=1 it runs main() instead of the tests, so the
// process tests below exercise the real entry point without a second build.
func TestMain(m *testing.M) {
	if os.Getenv("SKYBRIDGE_TEST_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// proc is a skybridge process started by a test.
type proc struct {
	cmd    *exec.Cmd
	addr   string
	stderr *bytes.Buffer
	done   chan struct{}
}

func startProc(t *testing.T, args ...string) *proc {
	t.Helper()
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{addr: fmt.Sprintf("127.0.0.1:%d", port), stderr: &bytes.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], args...)
	p.cmd.Env = append(os.Environ(),
		"SKYBRIDGE_TEST_RUN_MAIN=1",
		"SKYBRIDGE_HTTP_ADDR="+p.addr,
		"SKYBRIDGE_MQTT_ADDR=127.0.0.1:0",
		"SKYBRIDGE_DATA_DIR="+filepath.Join(t.TempDir(), "data"),
		"SKYBRIDGE_ADMIN_EMAIL="+testnode.AdminEmail,
		"SKYBRIDGE_ADMIN_PASSWORD="+testnode.AdminPassword,
	)
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	ok := testenv.WaitFor(context.Background(), 30*time.Second, func() bool {
		resp, err := http.Get("http://" + p.addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	if !ok {
		t.Fatalf("server not healthy; stderr:\n%s", p.stderr)
	}
	return p
}

func TestServeDrainsInFlightRequestOnSIGTERM(t *testing.T) {
	p := startProc(t, "serve")
	body := fmt.Sprintf(`{"email":%q,"password":%q}`, testnode.AdminEmail, testnode.AdminPassword)
	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Send the headers asking for 100-continue: the server answers it when
	// the handler starts reading the body, so once it arrives the request
	// is in flight inside the handler (not merely queued for accept).
	fmt.Fprintf(conn, "POST /admin/api/login HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", len(body))
	br := bufio.NewReader(conn)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	status, err := br.ReadString('\n')
	if err != nil || !strings.Contains(status, " 100 ") {
		t.Fatalf("no 100 Continue: %q %v", status, err)
	}
	if blank, err := br.ReadString('\n'); err != nil || blank != "\r\n" {
		t.Fatalf("after 100 Continue: %q %v", blank, err)
	}
	half := len(body) / 2
	if _, err := io.WriteString(conn, body[:half]); err != nil {
		t.Fatal(err)
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Shutdown has begun once the listener refuses new connections.
	if !testenv.WaitFor(context.Background(), 10*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", p.addr, 100*time.Millisecond)
		if err != nil {
			return true
		}
		c.Close()
		return false
	}) {
		t.Fatal("listener still accepting after SIGTERM")
	}
	select {
	case <-p.done:
		t.Fatal("process exited with a request in flight")
	default:
	}
	// Finish the request: it must be answered in full.
	if _, err := io.WriteString(conn, body[half:]); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("in-flight request not answered: %v; server log:\n%s", err, p.stderr)
	}
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(got), `"token"`) {
		t.Fatalf("in-flight login: %d %s", resp.StatusCode, got)
	}
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		t.Fatal("process did not exit after draining")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM; stderr:\n%s", code, p.stderr)
	}
}

func TestServeHelpListsConfiguration(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"serve", "--help"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{"SKYBRIDGE_HTTP_ADDR", ":8080", "SKYBRIDGE_MQTT_ADDR", ":1883", "SKYBRIDGE_DATA_DIR", "./data",
		"SKYBRIDGE_MONGO_URI", "SKYBRIDGE_REDIS_URL", "SKYBRIDGE_ADMIN_EMAIL", "SKYBRIDGE_ADMIN_PASSWORD",
		"SKYBRIDGE_LOG_LEVEL", "info", "SKYBRIDGE_SECRET_KEY"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("serve --help lacks %q", want)
		}
	}
}

func TestInvalidConfigStopsStartupNamingTheKey(t *testing.T) {
	cases := map[string][]string{
		"SKYBRIDGE_HTTP_ADDR":  {"SKYBRIDGE_HTTP_ADDR=not-an-address"},
		"SKYBRIDGE_LOG_LEVEL":  {"SKYBRIDGE_LOG_LEVEL=chatty"},
		"SKYBRIDGE_SECRET_KEY": {"SKYBRIDGE_MONGO_URI=mongodb://127.0.0.1:1", "SKYBRIDGE_DATA_DIR=" + t.TempDir()},
	}
	for key, environ := range cases {
		for _, sub := range []string{"serve", "migrate"} {
			var out, errOut bytes.Buffer
			code := run([]string{sub}, environ, &out, &errOut)
			if code == 0 || !strings.Contains(errOut.String(), key) {
				t.Errorf("%s with bad %s: exit %d, stderr %q", sub, key, code, errOut.String())
			}
		}
	}
}

func TestBadSecretKeyNamesItWithoutEchoing(t *testing.T) {
	var out, errOut bytes.Buffer
	environ := []string{"SKYBRIDGE_SECRET_KEY=not-a-key-zzzz", "SKYBRIDGE_DATA_DIR=" + t.TempDir(), "SKYBRIDGE_HTTP_ADDR=127.0.0.1:0", "SKYBRIDGE_MQTT_ADDR=127.0.0.1:0"}
	if code := run([]string{"serve"}, environ, &out, &errOut); code == 0 {
		t.Fatal("serve started with a malformed secret key")
	}
	if !strings.Contains(errOut.String(), "SKYBRIDGE_SECRET_KEY") || strings.Contains(errOut.String(), "not-a-key-zzzz") {
		t.Fatalf("stderr %q", errOut.String())
	}
}

func TestMigrateAndAdminCreate(t *testing.T) {
	dir := t.TempDir()
	environ := []string{"SKYBRIDGE_DATA_DIR=" + dir}
	var out, errOut bytes.Buffer
	if code := run([]string{"migrate"}, environ, &out, &errOut); code != 0 {
		t.Fatalf("migrate: %d %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "applied") {
		t.Fatalf("first migrate applied nothing: %q", out.String())
	}
	out.Reset()
	if code := run([]string{"migrate"}, environ, &out, &errOut); code != 0 || !strings.Contains(out.String(), "up to date") {
		t.Fatalf("second migrate: %d %q", code, out.String())
	}
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"admin", "create", "--email", "owner@example.com", "--password", "long-enough-pass"}, 0, "created owner"},
		{[]string{"admin", "create", "--email", "ops@example.com", "--password", "long-enough-pass"}, 0, "created developer"},
		{[]string{"admin", "create", "--email", "view@example.com", "--password", "long-enough-pass", "--role", "viewer"}, 0, "created viewer"},
		{[]string{"admin", "create", "--email", "root@example.com", "--password", "long-enough-pass", "--role", "admin"}, 2, "--role must be"},
		{[]string{"admin", "create", "--email", "OPS@example.com", "--password", "long-enough-pass"}, 1, "already exists"},
		{[]string{"admin", "create", "--email", "short@example.com", "--password", "short"}, 1, "12"},
		{[]string{"admin", "create", "--email", "x@example.com"}, 2, "required"},
		{[]string{"admin", "delete"}, 2, "admin create"},
	}
	for _, tc := range cases {
		out.Reset()
		errOut.Reset()
		code := run(tc.args, environ, &out, &errOut)
		if code != tc.code || !strings.Contains(out.String()+errOut.String(), tc.want) {
			t.Errorf("%v: exit %d (want %d), output %q %q (want %q)", tc.args, code, tc.code, out.String(), errOut.String(), tc.want)
		}
	}
}

func TestUnknownCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"frobnicate"}, nil, &out, &errOut); code != 2 {
		t.Fatalf("exit %d", code)
	}
	if code := run([]string{"version"}, nil, &out, &errOut); code != 0 || !strings.Contains(out.String(), "skybridge") {
		t.Fatalf("version: %d %q", code, out.String())
	}
}
