package iotbridge_test

import (
	"context"
	"net"
	"net/http"
	"testing"

	"github.com/skybridgehq/skybridge/internal/server"
	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
)

// TestPolicyEndToEnd checks who may connect, which topics a device may
// use, and which devices a user may reach.
func TestPolicyEndToEnd(t *testing.T) {
	t.Parallel()
	e := startBridge(t)
	addr := e.s.MQTTAddr

	t.Run("readyz includes the broker", func(t *testing.T) {
		t.Parallel()
		code, out := e.call(t, http.MethodGet, "/readyz", nil, nil)
		if code != http.StatusOK || at(out, "components", "broker", "status") != "ok" || at(out, "components", "broker", "required") != true {
			t.Errorf("readyz: %d %v", code, out)
		}
	})

	t.Run("credentials and client ids", func(t *testing.T) {
		t.Parallel()
		secret := e.register(t, map[string]any{"id": "pol-cred"})
		other := e.register(t, map[string]any{"id": "pol-cred-2"})
		cases := []struct {
			name, clientID, user, secret string
			ok                           bool
		}{
			{"device id as client id", "pol-cred", "pol-cred", secret, true},
			{"prefixed client id", "pol-cred:sensor-a", "pol-cred", secret, true},
			{"wrong secret", "pol-cred", "pol-cred", secret + "x", false},
			{"another device's secret", "pol-cred", "pol-cred", other, false},
			{"foreign client id", "pol-cred-2", "pol-cred", secret, false},
			{"client id that only starts alike", "pol-credX", "pol-cred", secret, false},
			{"unknown device", "nobody", "nobody", secret, false},
			{"no credentials", "anon-1", "", "", false},
		}
		for _, tc := range cases {
			if _, err := dialDevice(t, addr, tc.clientID, tc.user, tc.secret); (err == nil) != tc.ok {
				t.Errorf("%s: connect error %v, want ok=%v", tc.name, err, tc.ok)
			}
		}
	})

	t.Run("topics of another device", func(t *testing.T) {
		t.Parallel()
		s1 := e.register(t, map[string]any{"id": "pol-a"})
		s2 := e.register(t, map[string]any{"id": "pol-b"})
		a := mustDial(t, addr, "pol-a", "pol-a", s1)
		b := mustDial(t, addr, "pol-b", "pol-b", s2)
		codes := b.subscribe(t, "$aws/things/pol-a/shadow/update/delta", "skybridge/devices/pol-a/commands", "$aws/things/+/shadow/#", "#", "$aws/things/pol-b/shadow/update/accepted")
		want := []byte{0x87, 0x87, 0x87, 0x87, 0x01}
		if string(codes) != string(want) {
			t.Errorf("SUBACK codes %x, want %x", codes, want)
		}
		a.subscribe(t, "$aws/things/pol-a/shadow/update/accepted")
		if rc := b.publish(t, "$aws/things/pol-a/shadow/update", map[string]any{"state": map[string]any{"reported": map[string]any{"temp": -99}}}); rc != 0x87 {
			t.Errorf("PUBACK of a publish to another device's topic: %#x, want 0x87", rc)
		}
		if rc := b.publish(t, "elsewhere/x", map[string]any{}); rc != 0x87 {
			t.Errorf("PUBACK outside the device namespaces: %#x, want 0x87", rc)
		}
		// Its own update goes through, and is the only one pol-a saw.
		a.publish(t, "$aws/things/pol-a/shadow/update", map[string]any{"state": map[string]any{"reported": map[string]any{"temp": 20}}})
		a.next(t, "$aws/things/pol-a/shadow/update/accepted", 0)
		_, sh := e.call(t, http.MethodGet, "/v1/devices/pol-a/shadow", nil, e.server())
		if at(sh, "state", "reported", "temp") != 20.0 || sh["version"] != 1.0 {
			t.Errorf("pol-a's shadow: %v", sh)
		}
	})

	t.Run("disabled device", func(t *testing.T) {
		t.Parallel()
		secret := e.register(t, map[string]any{"id": "pol-off"})
		d := mustDial(t, addr, "pol-off", "pol-off", secret)
		poll(t, "online", func() bool {
			_, dev := e.call(t, http.MethodGet, "/v1/devices/pol-off", nil, e.server())
			return dev["online"] == true
		})
		if code, out := e.call(t, http.MethodPatch, "/v1/devices/pol-off", map[string]any{"disabled": true}, e.server()); code != http.StatusOK || out["disabled"] != true {
			t.Fatalf("disable: %d %v", code, out)
		}
		d.waitGone(t)
		if _, err := dialDevice(t, addr, "pol-off", "pol-off", secret); err == nil {
			t.Error("a disabled device connected")
		}
		poll(t, "offline", func() bool {
			_, dev := e.call(t, http.MethodGet, "/v1/devices/pol-off", nil, e.server())
			return dev["online"] == false
		})
		if code, out := e.call(t, http.MethodPatch, "/v1/devices/pol-off", map[string]any{"disabled": false}, e.server()); code != http.StatusOK {
			t.Fatalf("enable: %d %v", code, out)
		}
		mustDial(t, addr, "pol-off", "pol-off", secret)
	})

	t.Run("rotated secret", func(t *testing.T) {
		t.Parallel()
		old := e.register(t, map[string]any{"id": "pol-rot"})
		d := mustDial(t, addr, "pol-rot", "pol-rot", old)
		code, out := e.call(t, http.MethodPost, "/v1/devices/pol-rot/secret", nil, e.server())
		if code != http.StatusOK || out["secret"] == "" {
			t.Fatalf("rotate: %d %v", code, out)
		}
		d.waitGone(t)
		if _, err := dialDevice(t, addr, "pol-rot", "pol-rot", old); err == nil {
			t.Error("the old secret still works")
		}
		mustDial(t, addr, "pol-rot", "pol-rot", out["secret"].(string))
	})

	t.Run("registry", func(t *testing.T) {
		t.Parallel()
		e.register(t, map[string]any{"id": "pol-reg", "name": "Boiler", "type": "boiler", "attributes": map[string]any{"floor": 2}})
		if code, _ := e.call(t, http.MethodPost, "/v1/devices", map[string]any{"id": "pol-reg"}, e.server()); code != http.StatusConflict {
			t.Errorf("duplicate id: %d", code)
		}
		// Unique across the server: another app cannot take it either.
		other := e.s.CreateApp(t, "iot-other").Env(t, "prod")
		if code, _ := e.call(t, http.MethodPost, "/v1/devices", map[string]any{"id": "pol-reg"}, map[string]string{"X-Skybridge-Key": other.AppKey, "X-Skybridge-Server-Key": other.ServerKey}); code != http.StatusConflict {
			t.Errorf("duplicate id in another app: %d", code)
		}
		for _, bad := range []map[string]any{{"id": "has space"}, {"id": ""}, {"id": "x", "attributes": map[string]any{"a": map[string]any{}}}, {"id": "y", "nope": 1}} {
			code, out := e.call(t, http.MethodPost, "/v1/devices", bad, e.server())
			if code != http.StatusBadRequest || out["errors"] == nil && out["detail"] == nil {
				t.Errorf("register %v: %d %v", bad, code, out)
			}
		}
		code, list := e.call(t, http.MethodGet, "/v1/devices?type=boiler", nil, e.server())
		if items, _ := list["items"].([]any); code != http.StatusOK || len(items) != 1 || at(items[0].(map[string]any), "id") != "pol-reg" {
			t.Errorf("list by type: %d %v", code, list)
		}
		_, dev := e.call(t, http.MethodGet, "/v1/devices/pol-reg", nil, e.server())
		if dev["name"] != "Boiler" || dev["secretHash"] != nil || dev["secret"] != nil {
			t.Errorf("device: %v", dev)
		}
		if code, _ := e.call(t, http.MethodDelete, "/v1/devices/pol-reg", nil, e.server()); code != http.StatusNoContent {
			t.Errorf("delete: %d", code)
		}
		if code, _ := e.call(t, http.MethodGet, "/v1/devices/pol-reg", nil, e.server()); code != http.StatusNotFound {
			t.Errorf("get after delete: %d", code)
		}
		e.register(t, map[string]any{"id": "pol-reg"}) // the id is free again
	})

	t.Run("users reach their own devices only", func(t *testing.T) {
		t.Parallel()
		alice, aliceTok := e.signup(t, "alice-iot@example.com")
		bob, bobTok := e.signup(t, "bob-iot@example.com")
		_, carolTok := e.signup(t, "carol-iot@example.com")
		e.register(t, map[string]any{"id": "pol-alice", "owner": alice, "type": "lamp"})
		e.register(t, map[string]any{"id": "pol-bob", "owner": bob, "type": "lamp", "_acl": map[string]any{"read": []string{alice}}})
		desired := map[string]any{"state": map[string]any{"desired": map[string]any{"on": true}}}
		cmd := map[string]any{"name": "blink"}
		cases := []struct {
			who, token, device    string
			read, write, register int
		}{
			{"owner", aliceTok, "pol-alice", 200, 200, 403},
			{"granted read", aliceTok, "pol-bob", 404, 403, 403}, // no shadow yet: 404 after access
			{"stranger", carolTok, "pol-alice", 404, 404, 403},
			{"owner of the other", bobTok, "pol-alice", 404, 404, 403},
		}
		for _, tc := range cases {
			code, _ := e.call(t, http.MethodGet, "/v1/devices/"+tc.device, nil, e.user(tc.token))
			wantGet := 200
			if tc.read == 404 && tc.write == 404 {
				wantGet = 404
			}
			if code != wantGet {
				t.Errorf("%s GET %s: %d, want %d", tc.who, tc.device, code, wantGet)
			}
			if code, _ := e.call(t, http.MethodPatch, "/v1/devices/"+tc.device+"/shadow", desired, e.user(tc.token)); code != tc.write {
				t.Errorf("%s PATCH shadow of %s: %d, want %d", tc.who, tc.device, code, tc.write)
			}
			wantCmd := map[int]int{200: 202, 403: 403, 404: 404}[tc.write]
			if code, _ := e.call(t, http.MethodPost, "/v1/devices/"+tc.device+"/commands", cmd, e.user(tc.token)); code != wantCmd {
				t.Errorf("%s command to %s: %d, want %d", tc.who, tc.device, code, wantCmd)
			}
			if code, _ := e.call(t, http.MethodPost, "/v1/devices", map[string]any{"id": "pol-by-user"}, e.user(tc.token)); code != tc.register {
				t.Errorf("%s registers: %d, want %d", tc.who, code, tc.register)
			}
		}
		// Alice reads her shadow, and Bob's now that it exists.
		if code, _ := e.call(t, http.MethodGet, "/v1/devices/pol-alice/shadow", nil, e.user(aliceTok)); code != 200 {
			t.Errorf("alice reads her shadow: %d", code)
		}
		e.call(t, http.MethodPatch, "/v1/devices/pol-bob/shadow", desired, e.user(bobTok))
		if code, _ := e.call(t, http.MethodGet, "/v1/devices/pol-bob/shadow", nil, e.user(aliceTok)); code != 200 {
			t.Errorf("alice reads bob's shadow with a read grant: %d", code)
		}
		if code, _ := e.call(t, http.MethodGet, "/v1/devices/pol-bob/shadow", nil, e.user(carolTok)); code != 404 {
			t.Errorf("carol reads bob's shadow: %d", code)
		}
		_, list := e.call(t, http.MethodGet, "/v1/devices?type=lamp", nil, e.user(aliceTok))
		if items, _ := list["items"].([]any); len(items) != 2 {
			t.Errorf("alice lists %v", list)
		}
		_, list = e.call(t, http.MethodGet, "/v1/devices?type=lamp", nil, e.user(carolTok))
		if items, _ := list["items"].([]any); len(items) != 0 {
			t.Errorf("carol lists %v", list)
		}
		// The app key alone reaches nothing.
		if code, _ := e.call(t, http.MethodGet, "/v1/devices/pol-alice/shadow", nil, map[string]string{"X-Skybridge-Key": e.keys.AppKey}); code != http.StatusForbidden {
			t.Errorf("app key alone: %d", code)
		}
	})
}

// TestAnonymousMQTT runs a node with SKYBRIDGE_MQTT_ANONYMOUS: clients
// without credentials use topics outside the reserved namespaces only.
func TestAnonymousMQTT(t *testing.T) {
	t.Parallel()
	s := testnode.Start(t, testnode.Options{Configure: func(c *server.Config) { c.MQTTAnonymous = true }})
	d := mustDial(t, s.MQTTAddr, "anon-1", "", "")
	codes := d.subscribe(t, "lab/+/temp", "$aws/things/x/shadow/update/delta", "skybridge/devices/x/commands", "#", "+/devices/x/commands")
	if want := []byte{0x01, 0x87, 0x87, 0x87, 0x87}; string(codes) != string(want) {
		t.Errorf("SUBACK codes %x, want %x", codes, want)
	}
	if rc := d.publish(t, "lab/1/temp", map[string]any{"c": 20}); rc != 0 {
		t.Errorf("PUBACK on an open topic: %#x", rc)
	}
	if m := d.next(t, "lab/1/temp", 0); m["c"] != 20.0 {
		t.Errorf("got %v", m)
	}
	if rc := d.publish(t, "$aws/things/x/shadow/update", map[string]any{"state": map[string]any{"reported": map[string]any{}}}); rc != 0x87 {
		t.Errorf("PUBACK on a reserved topic: %#x", rc)
	}
	if _, err := dialDevice(t, s.MQTTAddr, "x", "x", "guess"); err == nil {
		t.Error("a wrong device secret is accepted with anonymous access on")
	}
}

// TestShutdownDropsDevices: a node shutting down stops its broker after
// the HTTP drain; connected devices are dropped and the port closes.
func TestShutdownDropsDevices(t *testing.T) {
	t.Parallel()
	e := startBridge(t)
	secret := e.register(t, map[string]any{"id": "bye-1"})
	d := mustDial(t, e.s.MQTTAddr, "bye-1", "bye-1", secret)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := e.s.Node.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	d.waitGone(t)
	if c, err := net.DialTimeout("tcp", e.s.MQTTAddr, wait); err == nil {
		_ = c.Close()
		t.Error("the broker still accepts connections after shutdown")
	}
}
