package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/internal/testenv"
	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
	"github.com/skybridgehq/skybridge/orchestration/trigger"
	"github.com/skybridgehq/skybridge/store"
	"github.com/skybridgehq/skybridge/store/sqlite"
)

// process is the skybridge binary running as a subprocess.
type process struct {
	cmd  *exec.Cmd
	base string
}

// startBinary runs `bin serve` on dataDir with a 1s trigger lease and
// waits until it answers /healthz.
func startBinary(t *testing.T, bin, dataDir string) *process {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "SKYBRIDGE_HTTP_ADDR="+addr, "SKYBRIDGE_MQTT_ADDR=127.0.0.1:0", "SKYBRIDGE_DATA_DIR="+dataDir,
		"SKYBRIDGE_ADMIN_EMAIL="+testnode.AdminEmail, "SKYBRIDGE_ADMIN_PASSWORD="+testnode.AdminPassword,
		"SKYBRIDGE_TRIGGER_LEASE=1s", "SKYBRIDGE_TRIGGER_POLL_INTERVAL=50ms", "SKYBRIDGE_LOG_LEVEL=warn", "SKYBRIDGE_SHUTDOWN_GRACE=2s")
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, base: "http://" + addr}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if !testenv.WaitFor(context.Background(), 20*time.Second, func() bool {
		resp, err := http.Get(p.base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}) {
		t.Fatal("the binary did not become healthy")
	}
	return p
}

// do sends a JSON request and decodes the answer into out (when not nil).
func (p *process) do(t *testing.T, method, path string, body any, headers map[string]string, out any) int {
	t.Helper()
	return testenv.DoJSON(t, method, p.base+path, body, headers, out)
}

// TestTriggerKill9: a node killed while a firing's call is in flight
// leaves the firing running; after its lease (1s) the restarted binary
// runs it again with the same idempotency key, and never a third time.
func TestTriggerKill9(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "skybridge")
	args := append(append([]string{"build"}, buildFlags...), "-o", bin, "../../cmd/skybridge")
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dataDir := t.TempDir()
	sys := newSystem(t)
	sys.mu.Lock()
	sys.hold = "victim"
	sys.mu.Unlock()

	p := startBinary(t, bin, dataDir)
	var login struct{ Token string }
	p.do(t, http.MethodPost, "/admin/api/login", map[string]string{"email": testnode.AdminEmail, "password": testnode.AdminPassword}, nil, &login)
	admin := map[string]string{"Authorization": "Bearer " + login.Token}
	var app testnode.App
	p.do(t, http.MethodPost, "/admin/api/apps", map[string]string{"name": "kill"}, admin, &app)
	dev := app.Env(t, "dev")
	envPath := "/admin/api/apps/" + app.ID + "/environments/dev"
	p.do(t, http.MethodPut, envPath+"/variables", map[string]any{"SYSTEM": sys.URL}, admin, nil)
	p.do(t, http.MethodPost, envPath+"/deployments", map[string]any{"files": triggerBundle(`apiVersion: skybridge/v1
kind: Trigger
name: orders
on: {collection: orders, events: [created]}
` + notifyDo)}, admin, nil)
	keys := map[string]string{"X-Skybridge-Key": dev.AppKey, "X-Skybridge-Server-Key": dev.ServerKey}
	create := func(p *process, id string) {
		p.do(t, http.MethodPost, "/v1/collections/orders/objects", map[string]any{"_id": id}, keys, nil)
	}
	// Until the node reads the feed, probes may go unseen: write them
	// until one fires.
	for i := 0; len(sys.snapshot()) == 0; i++ {
		if i == 200 {
			t.Fatal("no probe fired within 20s")
		}
		create(p, fmt.Sprintf("probe%d", i))
		testenv.WaitFor(context.Background(), 100*time.Millisecond, func() bool { return len(sys.snapshot()) > 0 })
	}
	create(p, "victim")
	select {
	case <-sys.entered:
	case <-time.After(20 * time.Second):
		t.Fatal("the victim's call never reached the system")
	}
	sys.mu.Lock()
	sys.hold = "" // the next call answers at once
	sys.mu.Unlock()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()

	p2 := startBinary(t, bin, dataDir)
	victim := func() []sysCall {
		var out []sysCall
		for _, c := range sys.snapshot() {
			if c.Object == "victim" {
				out = append(out, c)
			}
		}
		return out
	}
	if !testenv.WaitFor(context.Background(), 20*time.Second, func() bool { return len(victim()) >= 2 }) {
		t.Fatalf("the victim ran %d times after the restart, want 2", len(victim()))
	}
	create(p2, "sentinel")
	if !testenv.WaitFor(context.Background(), 20*time.Second, func() bool { return byObject(sys.snapshot())["sentinel/created"] == 1 }) {
		t.Fatal("the sentinel did not fire")
	}
	if err := p2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = p2.cmd.Wait()

	calls := victim()
	if len(calls) != 2 || calls[0].Key != calls[1].Key || calls[0].Key == "" {
		t.Fatalf("victim calls %+v: want exactly two with one key", calls)
	}
	st, err := sqlite.Open(sqlite.Options{Dir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sysDB, err := st.DB(context.Background(), store.SystemDB)
	if err != nil {
		t.Fatal(err)
	}
	page, err := sysDB.Collection(trigger.FiringsCollection).Find(context.Background(), store.Query{Filter: store.Compare{Path: "event.id", Op: store.OpEq, Value: "victim"}})
	if err != nil || len(page.Docs) != 1 {
		t.Fatalf("victim firings %v, %v", page.Docs, err)
	}
	if d := page.Docs[0]; d["state"] != trigger.StateDone || d["key"] != calls[0].Key {
		t.Fatalf("victim firing %v: want done with the calls' key", d)
	}
}
