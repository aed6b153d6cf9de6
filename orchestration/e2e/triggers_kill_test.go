package e2e

import (
	"context"
	"fmt"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/internal/testenv"
	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
	"github.com/skybridgehq/skybridge/orchestration/trigger"
	"github.com/skybridgehq/skybridge/store"
	"github.com/skybridgehq/skybridge/store/sqlite"
)

// startBinary runs `bin serve` on dataDir with a 1s trigger lease and
// waits until it answers /healthz.
func startBinary(t *testing.T, bin, dataDir string) *testenv.Process {
	t.Helper()
	return testenv.Serve(t, bin, "SKYBRIDGE_MQTT_ADDR=127.0.0.1:0", "SKYBRIDGE_DATA_DIR="+dataDir,
		"SKYBRIDGE_ADMIN_EMAIL="+testnode.AdminEmail, "SKYBRIDGE_ADMIN_PASSWORD="+testnode.AdminPassword,
		"SKYBRIDGE_TRIGGER_LEASE=1s", "SKYBRIDGE_TRIGGER_POLL_INTERVAL=50ms", "SKYBRIDGE_LOG_LEVEL=warn", "SKYBRIDGE_SHUTDOWN_GRACE=2s")
}

// TestTriggerKill9: a node killed while a firing's call is in flight
// leaves the firing running; after its lease (1s) the restarted binary
// runs it again with the same idempotency key, and never a third time.
func TestTriggerKill9(t *testing.T) {
	t.Parallel()
	bin := testenv.Binary(t)
	dataDir := t.TempDir()
	sys := newSystem(t)
	sys.mu.Lock()
	sys.hold = "victim"
	sys.mu.Unlock()

	p := startBinary(t, bin, dataDir)
	var login struct{ Token string }
	p.Do(t, http.MethodPost, "/admin/api/login", map[string]string{"email": testnode.AdminEmail, "password": testnode.AdminPassword}, nil, &login)
	admin := map[string]string{"Authorization": "Bearer " + login.Token}
	var app testnode.App
	p.Do(t, http.MethodPost, "/admin/api/apps", map[string]string{"name": "kill"}, admin, &app)
	dev := app.Env(t, "dev")
	envPath := "/admin/api/apps/" + app.ID + "/environments/dev"
	p.Do(t, http.MethodPut, envPath+"/variables", map[string]any{"SYSTEM": sys.URL}, admin, nil)
	p.Do(t, http.MethodPost, envPath+"/deployments", map[string]any{"files": triggerBundle(`apiVersion: skybridge/v1
kind: Trigger
name: orders
on: {collection: orders, events: [created]}
` + notifyDo)}, admin, nil)
	keys := map[string]string{"X-Skybridge-Key": dev.AppKey, "X-Skybridge-Server-Key": dev.ServerKey}
	create := func(p *testenv.Process, id string) {
		p.Do(t, http.MethodPost, "/v1/collections/orders/objects", map[string]any{"_id": id}, keys, nil)
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
	p.Stop(t, syscall.SIGKILL)

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
	p2.Stop(t, syscall.SIGTERM)

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
