package iotbridge_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/eclipse/paho.golang/paho"

	"github.com/skybridgehq/skybridge/internal/server"
	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
)

// TestNodeRestartKeepsSessions restarts a node on its data directory
// (graceful Shutdown, then a new node): a device's persistent session
// comes back, with the QoS 1 message queued for it while it was away
// before the restart; the broker's state file lives in <dataDir>/mqtt.
func TestNodeRestartKeepsSessions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sameDir := func(c *server.Config) { c.DataDir = dir }
	s := testnode.Start(t, testnode.Options{Configure: sameDir})
	app := s.CreateApp(t, "iot")
	e := &bridgeEnv{s: s, keys: app.Env(t, "dev")}
	secret := e.register(t, map[string]any{"id": "sleepy"})

	d := persistentDevice(t, s.MQTTAddr, "sleepy", secret, false)
	d.subscribe(t, "skybridge/devices/sleepy/inbox")
	_ = d.c.Disconnect(&paho.Disconnect{})

	// A server-side QoS 1 publish while the device is away.
	if err := s.Node.Broker.Publish("skybridge/devices/sleepy/inbox", []byte(`{"n":1}`), false, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Node.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "mqtt", "broker.db")); err != nil {
		t.Fatalf("state file: %v", err)
	}

	s = testnode.Start(t, testnode.Options{Configure: sameDir})
	d = persistentDevice(t, s.MQTTAddr, "sleepy", secret, true)
	if got := d.next(t, "skybridge/devices/sleepy/inbox", 0); got["n"] != float64(1) {
		t.Fatalf("queued message after the restart: %v", got)
	}
}

// persistentDevice connects an MQTT 5 device with clean start off and a
// session expiry, and checks the CONNACK's session present flag.
func persistentDevice(t *testing.T, addr, id, secret string, wantPresent bool) *device {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		t.Fatal(err)
	}
	d := newDevice(conn)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	expiry := uint32(3600)
	ack, err := d.c.Connect(ctx, &paho.Connect{
		ClientID: id, KeepAlive: 30, CleanStart: false,
		Username: id, UsernameFlag: true, Password: []byte(secret), PasswordFlag: true,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry},
	})
	if err != nil {
		t.Fatalf("connect %s: %v", id, err)
	}
	if ack.SessionPresent != wantPresent {
		t.Fatalf("session present %v, want %v", ack.SessionPresent, wantPresent)
	}
	t.Cleanup(func() { _ = d.c.Disconnect(&paho.Disconnect{}) })
	return d
}
