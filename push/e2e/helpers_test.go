package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"testing"

	"github.com/skybridgehq/skybridge/internal/testenv"
	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
	"github.com/skybridgehq/skybridge/push"
	"github.com/skybridgehq/skybridge/push/pushtest"
	"github.com/skybridgehq/skybridge/store"
	"github.com/skybridgehq/skybridge/store/sqlite"
)

// process is the skybridge binary running as a subprocess.
type process struct{ *testenv.Process }

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.CleanBinary()
	os.Exit(code)
}

// startBinary runs `bin serve` on dataDir, sending push to the fake APNs
// with a 1s lease, and waits until it answers /healthz.
func startBinary(t *testing.T, bin, dataDir string, apns *pushtest.APNs, caFile string) process {
	t.Helper()
	return process{testenv.Serve(t, bin, "SKYBRIDGE_MQTT_ADDR=127.0.0.1:0", "SKYBRIDGE_DATA_DIR="+dataDir,
		"SKYBRIDGE_ADMIN_EMAIL="+testnode.AdminEmail, "SKYBRIDGE_ADMIN_PASSWORD="+testnode.AdminPassword,
		"SKYBRIDGE_PUSH_APNS_URL="+apns.URL, "SKYBRIDGE_PUSH_APNS_CA_FILE="+caFile,
		"SKYBRIDGE_PUSH_LEASE=1s", "SKYBRIDGE_PUSH_POLL_INTERVAL=50ms", "SKYBRIDGE_PUSH_WORKERS=2", "SKYBRIDGE_PUSH_CONCURRENCY=16",
		"SKYBRIDGE_LOG_LEVEL=warn", "SKYBRIDGE_SHUTDOWN_GRACE=10s")}
}

// do sends a JSON request and decodes the answer into out (when not nil).
func (p process) do(t *testing.T, method, path string, body any, headers map[string]string, out any) {
	t.Helper()
	p.Do(t, method, path, body, headers, out)
}

// setup is a data directory with an app whose dev environment has the
// fake's APNs key and n iOS installations in topic "all".
type setup struct {
	bin, dataDir, caFile string
	apns                 *pushtest.APNs
	keys                 map[string]string
	tokens               []string
}

func newSetup(t *testing.T, n int) *setup {
	t.Helper()
	s := &setup{bin: testenv.Binary(t), dataDir: t.TempDir(), apns: pushtest.NewAPNs(t)}
	s.caFile = s.apns.WriteCA(t, t.TempDir())
	p := startBinary(t, s.bin, s.dataDir, s.apns, s.caFile)
	var login struct{ Token string }
	p.do(t, http.MethodPost, "/admin/api/login", map[string]string{"email": testnode.AdminEmail, "password": testnode.AdminPassword}, nil, &login)
	admin := map[string]string{"Authorization": "Bearer " + login.Token}
	var app testnode.App
	p.do(t, http.MethodPost, "/admin/api/apps", map[string]string{"name": "push"}, admin, &app)
	dev := app.Env(t, "dev")
	p.do(t, http.MethodPut, "/admin/api/apps/"+app.ID+"/environments/dev/push/apns", push.APNsCredentials{
		Key: s.apns.Key, KeyID: s.apns.KeyID, TeamID: s.apns.TeamID, BundleID: s.apns.BundleID,
	}, admin, nil)
	s.keys = map[string]string{"X-Skybridge-Key": dev.AppKey, "X-Skybridge-Server-Key": dev.ServerKey}
	p.stop(t)

	// The installations go straight into the store while no node runs:
	// 10,000 registrations over HTTP would only measure the rate limits.
	st, err := sqlite.Open(sqlite.Options{Dir: s.dataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	db, err := st.DB(context.Background(), store.EnvDBName(app.ID, "dev"))
	if err != nil {
		t.Fatal(err)
	}
	docs := make([]store.Doc, 0, 500)
	for i := range n {
		tok := fmt.Sprintf("%064x", i+1)
		s.tokens = append(s.tokens, tok)
		docs = append(docs, store.Doc{"platform": "ios", "token": tok, "userId": "", "topics": []any{"all"}})
		if len(docs) == cap(docs) || i == n-1 {
			if _, err := db.Collection(push.InstallationsCollection).InsertMany(context.Background(), docs); err != nil {
				t.Fatal(err)
			}
			docs = docs[:0]
		}
	}
	return s
}

// stop sends SIGTERM and waits for the process to exit.
func (p process) stop(t *testing.T) {
	t.Helper()
	p.Stop(t, os.Interrupt)
}

// status reads a notification's status.
func (p process) status(t *testing.T, keys map[string]string, id string) push.Status {
	t.Helper()
	var st push.Status
	p.do(t, http.MethodGet, "/v1/push/notifications/"+id, nil, keys, &st)
	return st
}
