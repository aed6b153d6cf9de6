package iotbridge_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/internal/server"
	"github.com/skybridgehq/skybridge/internal/testenv"
	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
)

// mosquitto is a mosquitto broker run by a test with the repository's
// deploy/mosquitto configuration.
type mosquitto struct {
	cmd        *exec.Cmd
	dir        string
	devices    string // host:port of the device listener
	nodes      string // host:port of the Skybridge nodes' listener
	passwd     string // mosquitto_passwd
	mu         sync.Mutex
	out        bytes.Buffer
	nodeSecret string
}

// findMosquitto returns the broker and password tool, or skips the test
// when mosquitto is not installed (scripts/ensure-deps.sh installs it).
func findMosquitto(t *testing.T) (string, string) {
	t.Helper()
	look := func(name string, dirs ...string) string {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
		for _, d := range dirs {
			if p := filepath.Join(d, name); fileExists(p) {
				return p
			}
		}
		return ""
	}
	bin, pw := look("mosquitto", "/usr/sbin", "/usr/local/sbin"), look("mosquitto_passwd", "/usr/bin", "/usr/local/bin")
	if bin == "" || pw == "" {
		testenv.MissingTool(t, "mosquitto is not installed: run scripts/ensure-deps.sh (as root) or apt-get install mosquitto")
	}
	return bin, pw
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// startMosquitto runs deploy/mosquitto/mosquitto.conf with its ports moved
// to free loopback ports and its files to a temporary directory, with the
// Skybridge service account in the password file.
func startMosquitto(t *testing.T) *mosquitto {
	t.Helper()
	bin, pw := findMosquitto(t)
	dir := t.TempDir()
	conf, err := os.ReadFile(filepath.Join("..", "deploy", "mosquitto", "mosquitto.conf"))
	if err != nil {
		t.Fatal(err)
	}
	acl, err := os.ReadFile(filepath.Join("..", "deploy", "mosquitto", "skybridge.acl"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "skybridge.acl"), acl, 0o600); err != nil {
		t.Fatal(err)
	}
	m := &mosquitto{dir: dir, passwd: pw, nodeSecret: randomHex(16)}
	devPort, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	nodePort, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	m.devices, m.nodes = "127.0.0.1:"+strconv.Itoa(devPort), "127.0.0.1:"+strconv.Itoa(nodePort)
	c := string(conf)
	for old, repl := range map[string]string{
		"/etc/mosquitto/":           dir + "/",
		"\nlistener 1883\n":         "\nlistener " + strconv.Itoa(devPort) + " 127.0.0.1\n",
		"\nlistener 1884 127.0.0.1": "\nlistener " + strconv.Itoa(nodePort) + " 127.0.0.1",
	} {
		if !strings.Contains(c, old) {
			t.Fatalf("deploy/mosquitto/mosquitto.conf has no %q any more: update this test with it", old)
		}
		c = strings.ReplaceAll(c, old, repl)
	}
	if os.Geteuid() == 0 {
		c += "\n# As root mosquitto would switch to the mosquitto user, who cannot read the test's files.\nuser root\n"
	}
	confPath := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(confPath, []byte(c), 0o600); err != nil {
		t.Fatal(err)
	}
	m.addUser(t, "skybridge", m.nodeSecret)
	m.cmd = exec.Command(bin, "-c", confPath)
	m.cmd.Stdout, m.cmd.Stderr = &lockedWriter{m: m}, &lockedWriter{m: m}
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = m.cmd.Process.Kill()
		_ = m.cmd.Wait()
		if t.Failed() {
			m.mu.Lock()
			t.Logf("mosquitto output:\n%s", m.out.String())
			m.mu.Unlock()
		}
	})
	for _, addr := range []string{m.devices, m.nodes} {
		if !testenv.WaitFor(context.Background(), wait, func() bool {
			c, err := net.Dial("tcp", addr)
			if err == nil {
				c.Close()
			}
			return err == nil
		}) {
			m.mu.Lock()
			defer m.mu.Unlock()
			t.Fatalf("mosquitto not listening on %s:\n%s", addr, m.out.String())
		}
	}
	return m
}

type lockedWriter struct{ m *mosquitto }

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// pollFor is poll with its own deadline.
func pollFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	if !testenv.WaitFor(context.Background(), d, cond) {
		t.Fatalf("%s: not within %s", what, d)
	}
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.m.mu.Lock()
	defer w.m.mu.Unlock()
	return w.m.out.Write(p)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// addUser writes a user into the password file and, once mosquitto runs,
// makes it reload (SIGHUP) — what a provisioning job does when Skybridge
// registers a device or rotates its secret.
func (m *mosquitto) addUser(t *testing.T, user, password string) {
	t.Helper()
	file := filepath.Join(m.dir, "skybridge.passwd")
	args := []string{"-b", file, user, password}
	if !fileExists(file) {
		args = append([]string{"-c"}, args...)
	}
	if out, err := exec.Command(m.passwd, args...).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v: %s", err, out)
	}
	if err := os.Chmod(file, 0o600); err != nil {
		t.Fatal(err)
	}
	if m.cmd != nil {
		if err := m.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
}

// dialReloaded connects a device once mosquitto has reloaded its
// password file.
func (m *mosquitto) dialReloaded(t *testing.T, id, secret string) *device {
	t.Helper()
	var d *device
	poll(t, "device "+id+" accepted by mosquitto", func() bool {
		var err error
		d, err = dialDevice(t, m.devices, id, id, secret)
		return err == nil
	})
	return d
}

// TestClusterOnMosquitto: two Skybridge nodes on one store, in cluster
// mode on mosquitto (deploy/mosquitto); a device connected to mosquitto.
// Commands sent through either node reach the device once; its shadow
// request is answered once, its telemetry stored once, its replies
// recorded; mosquitto refuses it another device's topics.
func TestClusterOnMosquitto(t *testing.T) {
	t.Parallel()
	m := startMosquitto(t)
	external := func(c *server.Config) {
		c.MQTTExternal = "mqtt://skybridge:" + m.nodeSecret + "@" + m.nodes
	}
	// The nodes' warnings are shown when the test fails.
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("node logs:\n%s", logs.String())
		}
	})
	a := testnode.Start(t, testnode.Options{Store: "ferretdb", Configure: external, Logger: logger.With("node", "a")})
	b := testnode.Start(t, testnode.Options{Store: "ferretdb", Configure: external, Logger: logger.With("node", "b")})
	if a.Node.Broker != nil || a.Node.External == nil || a.MQTTAddr != m.nodes {
		t.Fatalf("node A is not in cluster mode: broker %v, external %v, MQTT %s", a.Node.Broker, a.Node.External, a.MQTTAddr)
	}
	app := a.CreateApp(t, "cluster")
	ea := &bridgeEnv{s: a, keys: app.Env(t, "dev")}
	eb := &bridgeEnv{s: b, keys: ea.keys}
	for _, s := range []*testnode.Server{a, b} {
		code, out := (&bridgeEnv{s: s}).call(t, http.MethodGet, "/readyz", nil, nil)
		if code != http.StatusOK || at(out, "components", "broker", "kind") != "external" {
			t.Errorf("readyz: %d %v", code, out)
		}
	}

	dev, other := "cl-dev-"+randomHex(3), "cl-other-"+randomHex(3)
	secret := ea.register(t, map[string]any{"id": dev})
	otherSecret := eb.register(t, map[string]any{"id": other})
	m.addUser(t, dev, secret)
	m.addUser(t, other, otherSecret)
	d := m.dialReloaded(t, dev, secret)
	o := m.dialReloaded(t, other, otherSecret)
	cmds := "skybridge/devices/" + dev + "/commands"
	shadow := "$aws/things/" + dev + "/shadow"
	if codes := d.subscribe(t, cmds, shadow+"/update/accepted", shadow+"/update/rejected", shadow+"/get/accepted", shadow+"/update/delta"); !bytes.Equal(codes, []byte{1, 1, 1, 1, 1}) {
		t.Fatalf("device subscriptions: %v", codes)
	}

	// The topic policy of deploy/mosquitto: another device may not
	// publish to this device's topics, nor read them (mosquitto 2.0
	// grants the subscription and checks each message against the ACL:
	// the other device must receive nothing, checked at the end).
	o.subscribe(t, cmds, shadow+"/update/delta", "skybridge/devices/+/commands", "$aws/things/+/shadow/#")
	if rc := o.publish(t, "skybridge/devices/"+dev+"/telemetry", map[string]any{"forged": true}); rc < 0x80 {
		t.Errorf("another device published to %s's telemetry: reason %#x", dev, rc)
	}
	if rc := o.publish(t, "skybridge/devices/"+other+"/telemetry", map[string]any{"own": true}); rc >= 0x80 {
		t.Errorf("a device may not publish its own telemetry: reason %#x", rc)
	}
	if _, err := dialDevice(t, m.devices, dev, dev, "wrong-secret"); err == nil {
		t.Error("mosquitto accepted a wrong device secret")
	}

	// Commands through both nodes: each reaches the device once.
	const n = 6
	ids := map[string]bool{}
	for i := range n {
		e := ea
		if i%2 == 1 {
			e = eb
		}
		code, out := e.call(t, http.MethodPost, "/v1/devices/"+dev+"/commands", map[string]any{"name": "blink", "payload": map[string]any{"i": i}}, e.server())
		if code != http.StatusAccepted && code != http.StatusCreated {
			t.Fatalf("send command %d: %d %v", i, code, out)
		}
		ids[out["id"].(string)] = true
	}
	for i := range n {
		msg := d.next(t, cmds, i)
		id, _ := msg["id"].(string)
		if !ids[id] {
			t.Fatalf("command %v: unknown or seen twice (ids %v)", msg, ids)
		}
		delete(ids, id)
		d.publish(t, cmds+"/"+id+"/reply", map[string]any{"status": "succeeded", "result": map[string]any{"ok": i}})
	}

	// A shadow update and a get, answered once each.
	d.publish(t, shadow+"/update", map[string]any{"state": map[string]any{"reported": map[string]any{"led": "on"}}, "clientToken": "u1"})
	if acc := d.next(t, shadow+"/update/accepted", 0); acc["version"] != 1.0 || acc["clientToken"] != "u1" {
		t.Errorf("update accepted: %v", acc)
	}
	d.publish(t, shadow+"/get", map[string]any{"clientToken": "g1"})
	if got := d.next(t, shadow+"/get/accepted", 0); got["version"] != 1.0 || at(got, "state", "reported", "led") != "on" {
		t.Errorf("get accepted: %v", got)
	}

	// Desired state set through node B: one delta, from B.
	if code, out := eb.call(t, http.MethodPatch, "/v1/devices/"+dev+"/shadow", map[string]any{"state": map[string]any{"desired": map[string]any{"led": "off"}}}, eb.server()); code != http.StatusOK {
		t.Fatalf("PATCH shadow: %d %v", code, out)
	}
	if delta := d.next(t, shadow+"/update/delta", 0); at(delta, "state", "led") != "off" || delta["version"] != 2.0 {
		t.Errorf("delta: %v", delta)
	}

	// Telemetry: stored once, though both nodes hold the subscription.
	const nt = 20
	for i := range nt {
		d.publish(t, "skybridge/devices/"+dev+"/telemetry/env", map[string]any{"i": i})
	}
	// FerretDB under a loaded machine writes slowly: a longer deadline.
	pollFor(t, "telemetry stored", 3*wait, func() bool {
		_, items, _, _ := ea.telemetryPage(t, dev, "limit=1000", ea.server())
		return len(items) >= nt
	})
	// Every command succeeded, through whichever node got its reply.
	pollFor(t, "every command succeeded", 3*wait, func() bool {
		code, out := eb.call(t, http.MethodGet, "/v1/devices/"+dev+"/commands?status=succeeded", nil, eb.server())
		items, _ := out["items"].([]any)
		return code == http.StatusOK && len(items) == n
	})

	// Nothing arrived twice: flush both nodes' telemetry and count again.
	a.Node.Devices.FlushTelemetry()
	b.Node.Devices.FlushTelemetry()
	_, items, _, _ := ea.telemetryPage(t, dev, "limit=1000", ea.server())
	if len(items) != nt {
		t.Errorf("%d telemetry messages stored, want %d", len(items), nt)
	}
	code, sh := eb.call(t, http.MethodGet, "/v1/devices/"+dev+"/shadow", nil, eb.server())
	if code != http.StatusOK || sh["version"] != 2.0 {
		t.Errorf("shadow after one update from the device and one from the app: %d %v", code, sh)
	}
	for topic, want := range map[string]int{cmds: n, shadow + "/update/accepted": 2 /* the device's and the app's */, shadow + "/get/accepted": 1, shadow + "/update/rejected": 0, shadow + "/update/delta": 1} {
		if got := d.count(topic); got != want {
			t.Errorf("%s: %d messages, want %d:\n%s", topic, got, want, d.topics())
		}
	}
	if got := o.topics(); got != "" {
		t.Errorf("the other device read %s's messages:\n%s", dev, got)
	}
	_, forged, _, _ := ea.telemetryPage(t, other, "", ea.server())
	if len(forged) != 1 || at(forged[0], "data", "own") != true {
		t.Errorf("the other device's telemetry: %v", forged)
	}
}
