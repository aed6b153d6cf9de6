package iotbridge_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"
	"github.com/eclipse/paho.golang/paho"
)

func mustDialWill(t *testing.T, addr, clientID, user, secret string, will *paho.WillMessage) *device {
	t.Helper()
	d, err := dialWithWill(t, addr, clientID, user, secret, will)
	if err != nil {
		t.Fatalf("connect %s: %v", clientID, err)
	}
	return d
}

// rt opens /v1/realtime with the headers and returns a reader of its
// messages.
func rt(t *testing.T, e *bridgeEnv, h map[string]string) (*websocket.Conn, func() map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	hdr := http.Header{}
	for k, v := range h {
		hdr.Set(k, v)
	}
	ws, _, err := websocket.Dial(ctx, strings.Replace(e.s.URL, "http", "ws", 1)+"/v1/realtime", &websocket.DialOptions{HTTPHeader: hdr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	read := func() map[string]any {
		t.Helper()
		_, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("realtime read: %v", err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	if m := read(); m["op"] != "ready" {
		t.Fatalf("realtime: %v", m)
	}
	return ws, read
}

// TestRealtimeDeviceEvents subscribes to a device on /v1/realtime and
// sees its connection, shadow and command events.
func TestRealtimeDeviceEvents(t *testing.T) {
	t.Parallel()
	e := startBridge(t)
	owner, ownerTok := e.signup(t, "rt-owner@example.com")
	_, otherTok := e.signup(t, "rt-other@example.com")
	secret := e.register(t, map[string]any{"id": "rt-1", "owner": owner})

	ws, read := rt(t, e, e.user(ownerTok))
	ctx := context.Background()
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"op":"subscribe","id":"s1","device":"rt-1"}`)); err != nil {
		t.Fatal(err)
	}
	if m := read(); m["op"] != "subscribed" {
		t.Fatalf("subscribe: %v", m)
	}
	d := mustDial(t, e.s.MQTTAddr, "rt-1", "rt-1", secret)
	if m := read(); m["type"] != "connected" || m["device"] != "rt-1" || m["sub"] != "s1" {
		t.Errorf("connected event: %v", m)
	}
	d.publish(t, "$aws/things/rt-1/shadow/update", map[string]any{"state": map[string]any{"reported": map[string]any{"temp": 22}}})
	if m := read(); m["type"] != "shadow" || at(m, "event", "document", "state", "reported", "temp") != 22.0 {
		t.Errorf("shadow event: %v", m)
	}
	e.call(t, http.MethodPost, "/v1/devices/rt-1/commands", map[string]any{"name": "beep"}, e.server())
	if m := read(); m["type"] != "command" || at(m, "event", "command", "status") != "queued" {
		t.Errorf("command event: %v", m)
	}

	// The connection dies without a DISCONNECT: its last will goes out.
	_ = d.c.Disconnect(&paho.Disconnect{})
	if m := read(); m["type"] != "disconnected" {
		t.Errorf("disconnected event: %v", m)
	}
	w := mustDialWill(t, e.s.MQTTAddr, "rt-1:will", "rt-1", secret, &paho.WillMessage{Topic: "skybridge/devices/rt-1/status", Payload: []byte(`"gone"`), QoS: 1})
	if m := read(); m["type"] != "connected" || at(m, "event", "clientId") != "rt-1:will" {
		t.Errorf("connected event: %v", m)
	}
	_ = w.conn.Close()
	got := map[any]bool{}
	for range 2 {
		m := read()
		got[m["type"]] = true
	}
	if !got["lastWill"] || !got["disconnected"] {
		t.Errorf("after a dropped connection: %v", got)
	}

	// Another user may not subscribe to it.
	ws2, read2 := rt(t, e, e.user(otherTok))
	if err := ws2.Write(ctx, websocket.MessageText, []byte(`{"op":"subscribe","id":"s1","device":"rt-1"}`)); err != nil {
		t.Fatal(err)
	}
	if m := read2(); m["op"] != "error" || at(m, "error", "status") != 404.0 {
		t.Errorf("a stranger subscribes: %v", m)
	}
	if err := ws2.Write(ctx, websocket.MessageText, []byte(`{"op":"subscribe","id":"s2","device":"rt-1","collection":"x"}`)); err != nil {
		t.Fatal(err)
	}
	if m := read2(); m["op"] != "error" || at(m, "error", "status") != 400.0 {
		t.Errorf("device with a collection: %v", m)
	}
}
