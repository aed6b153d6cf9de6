package iotbridge_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"
)

// TestMQTTOverWebSocket connects a device to the node's /mqtt on the
// HTTP port with an MQTT 5 client (eclipse/paho.golang over a
// coder/websocket connection) and has it use its shadow, with the same
// authentication and policy as over TCP.
func TestMQTTOverWebSocket(t *testing.T) {
	t.Parallel()
	e := startBridge(t)
	secret := e.register(t, map[string]any{"id": "ws-dev"})
	dial := func(user, pass string) (*device, error) {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		ws, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.s.URL, "http")+"/mqtt", &websocket.DialOptions{Subprotocols: []string{"mqtt"}})
		if err != nil {
			t.Fatalf("websocket dial: %v", err)
		}
		if resp.Header.Get("Sec-WebSocket-Protocol") != "mqtt" {
			t.Fatalf("subprotocol %q", resp.Header.Get("Sec-WebSocket-Protocol"))
		}
		return connectOver(t, websocket.NetConn(context.Background(), ws, websocket.MessageBinary), "ws-dev", user, pass)
	}
	if _, err := dial("ws-dev", "wrong"); err == nil {
		t.Fatal("a wrong secret connected over WebSocket")
	}
	d, err := dial("ws-dev", secret)
	if err != nil {
		t.Fatalf("connect over WebSocket: %v", err)
	}
	d.subscribe(t, "$aws/things/ws-dev/shadow/update/+")
	if rc := d.publish(t, "$aws/things/ws-dev/shadow/update", map[string]any{"state": map[string]any{"reported": map[string]any{"temp": 21}}}); rc >= 0x80 {
		t.Fatalf("shadow update refused: %#x", rc)
	}
	if got := d.next(t, "$aws/things/ws-dev/shadow/update/accepted", 0); at(got, "state", "reported", "temp") != float64(21) {
		t.Fatalf("accepted %v", got)
	}
	poll(t, "device online over WebSocket", func() bool {
		code, out := e.call(t, http.MethodGet, "/v1/devices/ws-dev", nil, e.server())
		return code == http.StatusOK && out["online"] == true
	})
	// Plain HTTP to /mqtt is a 400, not a JSON route.
	resp, _ := e.s.Do(t, http.MethodGet, "/mqtt", nil, nil)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("GET /mqtt without upgrade: %d", resp.StatusCode)
	}
}
