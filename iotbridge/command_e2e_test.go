package iotbridge_test

import (
	"net/http"
	"testing"

	"github.com/eclipse/paho.golang/paho"
)

// TestCommandsEndToEnd sends commands over REST to paho.golang devices:
// delivery at once and on reconnect, replies, expiry.
func TestCommandsEndToEnd(t *testing.T) {
	t.Parallel()
	e := startBridge(t)
	addr := e.s.MQTTAddr

	t.Run("online device replies", func(t *testing.T) {
		t.Parallel()
		secret := e.register(t, map[string]any{"id": "cmd-on"})
		d := mustDial(t, addr, "cmd-on", "cmd-on", secret)
		topic := "skybridge/devices/cmd-on/commands"
		d.subscribe(t, topic)
		code, cmd := e.call(t, http.MethodPost, "/v1/devices/cmd-on/commands", map[string]any{"name": "reboot", "payload": map[string]any{"delay": 2}}, e.server())
		if code != http.StatusAccepted || cmd["status"] != "queued" || cmd["id"] == "" {
			t.Fatalf("send: %d %v", code, cmd)
		}
		id := cmd["id"].(string)
		msg := d.next(t, topic, 0)
		if msg["id"] != id || msg["name"] != "reboot" || at(msg, "payload", "delay") != 2.0 || msg["expiresAt"] == nil {
			t.Errorf("delivered %v", msg)
		}
		_, got := e.call(t, http.MethodGet, "/v1/devices/cmd-on/commands/"+id, nil, e.server())
		if got["status"] != "delivered" {
			t.Errorf("status after delivery: %v", got)
		}
		d.publish(t, topic+"/"+id+"/reply", map[string]any{"status": "succeeded", "result": map[string]any{"uptime": 0}})
		poll(t, "succeeded", func() bool {
			_, got := e.call(t, http.MethodGet, "/v1/devices/cmd-on/commands/"+id, nil, e.server())
			return got["status"] == "succeeded" && at(got, "result", "uptime") == 0.0
		})
		// A second reply changes nothing.
		d.publish(t, topic+"/"+id+"/reply", map[string]any{"status": "failed"})
		code, list := e.call(t, http.MethodGet, "/v1/devices/cmd-on/commands", nil, e.server())
		items, _ := list["items"].([]any)
		if code != http.StatusOK || len(items) != 1 || at(items[0].(map[string]any), "status") != "succeeded" {
			t.Errorf("list: %d %v", code, list)
		}
	})

	t.Run("queued while offline, delivered on reconnect", func(t *testing.T) {
		t.Parallel()
		secret := e.register(t, map[string]any{"id": "cmd-off"})
		topic := "skybridge/devices/cmd-off/commands"
		var ids []string
		for _, name := range []string{"first", "second"} {
			code, cmd := e.call(t, http.MethodPost, "/v1/devices/cmd-off/commands", map[string]any{"name": name}, e.server())
			if code != http.StatusAccepted {
				t.Fatalf("send: %d %v", code, cmd)
			}
			ids = append(ids, cmd["id"].(string))
		}
		_, got := e.call(t, http.MethodGet, "/v1/devices/cmd-off/commands/"+ids[0], nil, e.server())
		if got["status"] != "queued" {
			t.Errorf("status while offline: %v", got)
		}
		d := mustDial(t, addr, "cmd-off:main", "cmd-off", secret)
		d.subscribe(t, "skybridge/devices/cmd-off/#")
		first, second := d.next(t, topic, 0), d.next(t, topic, 1)
		if first["id"] != ids[0] || second["id"] != ids[1] {
			t.Errorf("delivered %v then %v, want %v in order", first, second, ids)
		}
		d.publish(t, topic+"/"+ids[1]+"/reply", map[string]any{"status": "failed", "result": "no"})
		poll(t, "failed", func() bool {
			_, got := e.call(t, http.MethodGet, "/v1/devices/cmd-off/commands/"+ids[1], nil, e.server())
			return got["status"] == "failed"
		})
		// Delivered once: a new subscription does not repeat them.
		d2 := mustDial(t, addr, "cmd-off:second", "cmd-off", secret)
		d2.subscribe(t, topic, "$aws/things/cmd-off/shadow/get/rejected")
		d2.publish(t, "$aws/things/cmd-off/shadow/get", []byte{})
		d2.next(t, "$aws/things/cmd-off/shadow/get/rejected", 0) // a message that went out after any redelivery would have
		if n := d2.count(topic); n != 0 {
			t.Errorf("%d commands delivered twice", n)
		}
	})

	t.Run("expiry", func(t *testing.T) {
		t.Parallel()
		secret := e.register(t, map[string]any{"id": "cmd-exp"})
		code, cmd := e.call(t, http.MethodPost, "/v1/devices/cmd-exp/commands", map[string]any{"name": "ping", "timeoutSec": 1}, e.server())
		if code != http.StatusAccepted {
			t.Fatalf("send: %d %v", code, cmd)
		}
		id := cmd["id"].(string)
		poll(t, "expired", func() bool {
			_, got := e.call(t, http.MethodGet, "/v1/devices/cmd-exp/commands/"+id, nil, e.server())
			return got["status"] == "expired"
		})
		// An expired command is not delivered, and a late reply is dropped.
		d := mustDial(t, addr, "cmd-exp", "cmd-exp", secret)
		d.subscribe(t, "skybridge/devices/cmd-exp/commands", "$aws/things/cmd-exp/shadow/get/rejected")
		d.publish(t, "skybridge/devices/cmd-exp/commands/"+id+"/reply", map[string]any{"status": "succeeded"})
		d.publish(t, "$aws/things/cmd-exp/shadow/get", []byte{})
		d.next(t, "$aws/things/cmd-exp/shadow/get/rejected", 0)
		if n := d.count("skybridge/devices/cmd-exp/commands"); n != 0 {
			t.Errorf("an expired command was delivered")
		}
		if _, got := e.call(t, http.MethodGet, "/v1/devices/cmd-exp/commands/"+id, nil, e.server()); got["status"] != "expired" {
			t.Errorf("status after a late reply: %v", got)
		}
	})

	t.Run("bad requests", func(t *testing.T) {
		t.Parallel()
		e.register(t, map[string]any{"id": "cmd-bad"})
		for _, body := range []map[string]any{{}, {"name": "has space"}, {"name": "x", "timeoutSec": 0}, {"name": "x", "extra": 1}} {
			if code, out := e.call(t, http.MethodPost, "/v1/devices/cmd-bad/commands", body, e.server()); code != http.StatusBadRequest {
				t.Errorf("%v: %d %v", body, code, out)
			}
		}
		if code, _ := e.call(t, http.MethodPost, "/v1/devices/nope/commands", map[string]any{"name": "x"}, e.server()); code != http.StatusNotFound {
			t.Errorf("unknown device: %d", code)
		}
		if code, _ := e.call(t, http.MethodGet, "/v1/devices/cmd-bad/commands/nope", nil, e.server()); code != http.StatusNotFound {
			t.Errorf("unknown command: %d", code)
		}
	})

	t.Run("connection events and last seen", func(t *testing.T) {
		t.Parallel()
		secret := e.register(t, map[string]any{"id": "cmd-seen"})
		d := mustDial(t, addr, "cmd-seen", "cmd-seen", secret)
		poll(t, "online", func() bool {
			_, dev := e.call(t, http.MethodGet, "/v1/devices/cmd-seen", nil, e.server())
			return dev["online"] == true && dev["connections"] == 1.0 && dev["lastConnectedAt"] != nil
		})
		_ = d.c.Disconnect(&paho.Disconnect{})
		poll(t, "offline", func() bool {
			_, dev := e.call(t, http.MethodGet, "/v1/devices/cmd-seen", nil, e.server())
			return dev["online"] == false && dev["lastDisconnectedAt"] != nil && dev["lastSeenAt"] != nil
		})
	})
}
