package iotbridge_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/eclipse/paho.golang/paho"

	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
)

// TestConnectedDevicesOnDashboard: the devices connected to the broker
// count on their environment's admin dashboard, once each however many
// connections they hold, and not on another environment's.
func TestConnectedDevicesOnDashboard(t *testing.T) {
	t.Parallel()
	s := testnode.Start(t, testnode.Options{})
	app := s.CreateApp(t, "iot-dash")
	e := &bridgeEnv{s: s, keys: app.Env(t, "dev")}
	admin := map[string]string{"Authorization": "Bearer " + s.AdminToken(t)}
	connected := func(env string) int {
		resp, body := s.Do(t, http.MethodGet, "/admin/api/apps/"+app.ID+"/environments/"+env+"/dashboard?minutes=1", nil, admin)
		var rep struct {
			Totals struct{ ConnectedDevices int }
		}
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &rep) != nil {
			t.Fatalf("dashboard: %d %s", resp.StatusCode, body)
		}
		return rep.Totals.ConnectedDevices
	}
	one := e.register(t, map[string]any{"id": "dash-1"})
	two := e.register(t, map[string]any{"id": "dash-2"})
	mustDial(t, s.MQTTAddr, "dash-1", "dash-1", one)
	mustDial(t, s.MQTTAddr, "dash-1:second", "dash-1", one)
	d2 := mustDial(t, s.MQTTAddr, "dash-2", "dash-2", two)
	poll(t, "two devices connected", func() bool { return connected("dev") == 2 })
	if n := connected("prod"); n != 0 {
		t.Errorf("prod counts %d devices of dev", n)
	}
	if n, err := s.Node.Devices.Connected(context.Background(), app.ID, "prod"); n != 0 || err != nil {
		t.Errorf("Connected(prod) = %d, %v", n, err)
	}
	_ = d2.c.Disconnect(&paho.Disconnect{})
	poll(t, "one device connected", func() bool { return connected("dev") == 1 })
}
