package iotbridge_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/eclipse/paho.golang/paho"
)

// TestShadowsEndToEnd drives shadows over MQTT (paho.golang as the
// device) and REST (the app) against a real node.
func TestShadowsEndToEnd(t *testing.T) {
	t.Parallel()
	e := startBridge(t)
	addr := e.s.MQTTAddr

	t.Run("report then REST read", func(t *testing.T) {
		t.Parallel()
		secret := e.register(t, map[string]any{"id": "sh-report"})
		d := mustDial(t, addr, "sh-report", "sh-report", secret)
		base := "$aws/things/sh-report/shadow"
		d.subscribe(t, base+"/update/accepted", base+"/update/documents")
		d.publish(t, base+"/update", map[string]any{"state": map[string]any{"reported": map[string]any{"temp": 21, "mode": "eco"}}, "clientToken": "tok-1"})
		acc := d.next(t, base+"/update/accepted", 0)
		if acc["clientToken"] != "tok-1" || acc["version"] != 1.0 || at(acc, "state", "reported", "temp") != 21.0 || at(acc, "metadata", "reported", "temp", "timestamp") == nil {
			t.Errorf("accepted = %v", acc)
		}
		docs := d.next(t, base+"/update/documents", 0)
		if at(docs, "current", "version") != 1.0 || docs["previous"] != nil || docs["clientToken"] != "tok-1" {
			t.Errorf("documents = %v", docs)
		}
		code, sh := e.call(t, http.MethodGet, "/v1/devices/sh-report/shadow", nil, e.server())
		if code != http.StatusOK || at(sh, "state", "reported", "temp") != 21.0 || at(sh, "state", "reported", "mode") != "eco" || sh["version"] != 1.0 {
			t.Errorf("REST shadow: %d %v", code, sh)
		}
	})

	t.Run("REST desired reaches the device as delta", func(t *testing.T) {
		t.Parallel()
		secret := e.register(t, map[string]any{"id": "sh-delta"})
		d := mustDial(t, addr, "sh-delta", "sh-delta", secret)
		base := "$aws/things/sh-delta/shadow"
		d.subscribe(t, base+"/update/delta", base+"/update/accepted")
		d.publish(t, base+"/update", map[string]any{"state": map[string]any{"reported": map[string]any{"temp": 21, "fan": "low"}}})
		d.next(t, base+"/update/accepted", 0)
		code, sh := e.call(t, http.MethodPatch, "/v1/devices/sh-delta/shadow", map[string]any{"state": map[string]any{"desired": map[string]any{"temp": 25, "fan": "low"}}, "clientToken": "app-7"}, e.server())
		if code != http.StatusOK || at(sh, "state", "delta", "temp") != 25.0 || at(sh, "state", "delta", "fan") != nil || sh["version"] != 2.0 {
			t.Fatalf("PATCH shadow: %d %v", code, sh)
		}
		delta := d.next(t, base+"/update/delta", 0)
		if at(delta, "state", "temp") != 25.0 || at(delta, "state", "fan") != nil || delta["version"] != 2.0 || delta["clientToken"] != "app-7" || at(delta, "metadata", "temp", "timestamp") == nil {
			t.Errorf("delta = %v", delta)
		}
		// The device reports what it applied: the delta is gone.
		d.publish(t, base+"/update", map[string]any{"state": map[string]any{"reported": map[string]any{"temp": 25}}})
		d.next(t, base+"/update/accepted", 1)
		_, sh = e.call(t, http.MethodGet, "/v1/devices/sh-delta/shadow", nil, e.server())
		if at(sh, "state", "delta") != nil {
			t.Errorf("delta after reporting: %v", sh)
		}
		// If-Match on a stale version is a 412.
		resp, body := e.s.Do(t, http.MethodPatch, "/v1/devices/sh-delta/shadow", map[string]any{"state": map[string]any{"desired": map[string]any{"temp": 1}}},
			map[string]string{"X-Skybridge-Key": e.keys.AppKey, "X-Skybridge-Server-Key": e.keys.ServerKey, "If-Match": `"1"`})
		if resp.StatusCode != http.StatusPreconditionFailed {
			t.Errorf("stale If-Match: %d %s", resp.StatusCode, body)
		}
		// Apps set desired only.
		code, _ = e.call(t, http.MethodPatch, "/v1/devices/sh-delta/shadow", map[string]any{"state": map[string]any{"reported": map[string]any{"temp": 1}}}, e.server())
		if code != http.StatusBadRequest {
			t.Errorf("REST reported: %d", code)
		}
	})

	t.Run("pending delta on resubscribe", func(t *testing.T) {
		t.Parallel()
		secret := e.register(t, map[string]any{"id": "sh-sleep"})
		d := mustDial(t, addr, "sh-sleep", "sh-sleep", secret)
		base := "$aws/things/sh-sleep/shadow"
		d.subscribe(t, base+"/update/accepted")
		d.publish(t, base+"/update", map[string]any{"state": map[string]any{"reported": map[string]any{"led": "off"}}})
		d.next(t, base+"/update/accepted", 0)
		_ = d.c.Disconnect(&paho.Disconnect{})
		// While the device sleeps, the app sets desired state.
		if code, sh := e.call(t, http.MethodPatch, "/v1/devices/sh-sleep/shadow", map[string]any{"state": map[string]any{"desired": map[string]any{"led": "on"}}}, e.server()); code != http.StatusOK {
			t.Fatalf("PATCH: %d %v", code, sh)
		}
		woke := mustDial(t, addr, "sh-sleep", "sh-sleep", secret)
		woke.subscribe(t, base+"/update/delta")
		delta := woke.next(t, base+"/update/delta", 0)
		if at(delta, "state", "led") != "on" || delta["version"] != 2.0 {
			t.Errorf("pending delta = %v", delta)
		}
	})

	t.Run("stale version, client token, get and delete", func(t *testing.T) {
		t.Parallel()
		secret := e.register(t, map[string]any{"id": "sh-ver"})
		d := mustDial(t, addr, "sh-ver:main", "sh-ver", secret)
		base := "$aws/things/sh-ver/shadow"
		d.subscribe(t, base+"/update/accepted", base+"/update/rejected", base+"/get/accepted", base+"/get/rejected", base+"/delete/accepted")
		d.publish(t, base+"/get", map[string]any{"clientToken": "g0"})
		rej := d.next(t, base+"/get/rejected", 0)
		if rej["code"] != 404.0 || rej["clientToken"] != "g0" || !strings.Contains(rej["message"].(string), "No shadow exists with name: 'sh-ver'") {
			t.Errorf("get of a missing shadow: %v", rej)
		}
		d.publish(t, base+"/update", map[string]any{"state": map[string]any{"reported": map[string]any{"a": 1}}, "version": 0})
		d.next(t, base+"/update/accepted", 0)
		d.publish(t, base+"/update", map[string]any{"state": map[string]any{"reported": map[string]any{"a": 2}}, "version": 0, "clientToken": "stale-1"})
		rej = d.next(t, base+"/update/rejected", 0)
		if rej["code"] != 409.0 || rej["message"] != "Version conflict" || rej["clientToken"] != "stale-1" {
			t.Errorf("stale version: %v", rej)
		}
		d.publish(t, base+"/update", []byte(`{"state":{"reported":{"a":3}},"version":1,"clientToken":"ok-1"}`))
		acc := d.next(t, base+"/update/accepted", 1)
		if acc["version"] != 2.0 || acc["clientToken"] != "ok-1" {
			t.Errorf("update at the current version: %v", acc)
		}
		d.publish(t, base+"/update", []byte(`{"state":{"reported":`))
		if rej := d.next(t, base+"/update/rejected", 1); rej["code"] != 400.0 {
			t.Errorf("malformed update: %v", rej)
		}
		d.publish(t, base+"/get", map[string]any{"clientToken": "g1"})
		got := d.next(t, base+"/get/accepted", 0)
		if got["clientToken"] != "g1" || got["version"] != 2.0 || at(got, "state", "reported", "a") != 3.0 {
			t.Errorf("get: %v", got)
		}
		d.publish(t, base+"/delete", map[string]any{"clientToken": "d1"})
		del := d.next(t, base+"/delete/accepted", 0)
		if del["clientToken"] != "d1" || del["version"] != 2.0 {
			t.Errorf("delete: %v", del)
		}
		if code, _ := e.call(t, http.MethodGet, "/v1/devices/sh-ver/shadow", nil, e.server()); code != http.StatusNotFound {
			t.Errorf("REST read of a deleted shadow: %d", code)
		}
		// A new shadow starts clean; its version continues upwards.
		d.publish(t, base+"/update", map[string]any{"state": map[string]any{"reported": map[string]any{"b": 1}}})
		acc = d.next(t, base+"/update/accepted", 2)
		if acc["version"] != 3.0 {
			t.Errorf("version after delete: %v", acc)
		}
		_, sh := e.call(t, http.MethodGet, "/v1/devices/sh-ver/shadow", nil, e.server())
		if at(sh, "state", "reported", "a") != nil || at(sh, "state", "reported", "b") != 1.0 {
			t.Errorf("shadow after delete and update: %v", sh)
		}
	})

	t.Run("named shadows", func(t *testing.T) {
		t.Parallel()
		secret := e.register(t, map[string]any{"id": "sh-named"})
		d := mustDial(t, addr, "sh-named", "sh-named", secret)
		cfg := "$aws/things/sh-named/shadow/name/config"
		d.subscribe(t, cfg+"/update/accepted", "$aws/things/sh-named/shadow/name/+/update/delta")
		d.publish(t, cfg+"/update", map[string]any{"state": map[string]any{"reported": map[string]any{"rate": 5}}})
		d.next(t, cfg+"/update/accepted", 0)
		if code, _ := e.call(t, http.MethodGet, "/v1/devices/sh-named/shadow", nil, e.server()); code != http.StatusNotFound {
			t.Errorf("the classic shadow exists: %d", code)
		}
		code, sh := e.call(t, http.MethodGet, "/v1/devices/sh-named/shadow?name=config", nil, e.server())
		if code != http.StatusOK || at(sh, "state", "reported", "rate") != 5.0 {
			t.Errorf("named shadow over REST: %d %v", code, sh)
		}
		if code, _ := e.call(t, http.MethodPatch, "/v1/devices/sh-named/shadow?name=config", map[string]any{"state": map[string]any{"desired": map[string]any{"rate": 10}}}, e.server()); code != http.StatusOK {
			t.Fatalf("PATCH named: %d", code)
		}
		if delta := d.next(t, cfg+"/update/delta", 0); at(delta, "state", "rate") != 10.0 {
			t.Errorf("named delta = %v", delta)
		}
		if code, _ := e.call(t, http.MethodGet, "/v1/devices/sh-named/shadow?name=bad/name", nil, e.server()); code != http.StatusBadRequest {
			t.Errorf("bad shadow name: %d", code)
		}
	})

	t.Run("device actions are audited", func(t *testing.T) {
		t.Parallel()
		secret := e.register(t, map[string]any{"id": "sh-audit"})
		d := mustDial(t, addr, "sh-audit", "sh-audit", secret)
		base := "$aws/things/sh-audit/shadow"
		d.subscribe(t, base+"/update/accepted")
		d.publish(t, base+"/update", map[string]any{"state": map[string]any{"reported": map[string]any{"x": 1}}})
		d.next(t, base+"/update/accepted", 0)
		admin := map[string]string{"Authorization": "Bearer " + e.s.AdminToken(t)}
		poll(t, "audit records of the device", func() bool {
			_, out := e.call(t, http.MethodGet, "/admin/api/audit?actor=device:sh-audit", nil, admin)
			items, _ := out["items"].([]any)
			actions := map[any]bool{}
			for _, it := range items {
				r := it.(map[string]any)
				actions[r["action"]] = true
				if r["action"] == "device.shadow.update" && (r["route"] != "$aws/things/{id}/shadow/update" || r["resource"] != "devices/sh-audit/shadow") {
					t.Errorf("audit record %v", r)
				}
			}
			return actions["device.connect"] && actions["device.shadow.update"]
		})
	})

	t.Run("concurrent REST and MQTT updates lose nothing", func(t *testing.T) {
		t.Parallel()
		secret := e.register(t, map[string]any{"id": "sh-race"})
		d := mustDial(t, addr, "sh-race", "sh-race", secret)
		base := "$aws/things/sh-race/shadow"
		d.subscribe(t, base+"/update/accepted")
		const n = 15
		errs := make(chan error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				body := map[string]any{"state": map[string]any{"desired": map[string]any{"k" + strconv.Itoa(i): i}}}
				resp, out, err := e.s.TryDo(http.MethodPatch, "/v1/devices/sh-race/shadow", body, e.server())
				if err == nil && resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("PATCH %d: %d %s", i, resp.StatusCode, out)
				}
				errs <- err
			})
		}
		for i := range n {
			d.publish(t, base+"/update", map[string]any{"state": map[string]any{"reported": map[string]any{"r" + strconv.Itoa(i): i}}})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		d.next(t, base+"/update/accepted", 2*n-1)
		_, sh := e.call(t, http.MethodGet, "/v1/devices/sh-race/shadow", nil, e.server())
		desired, _ := at(sh, "state", "desired").(map[string]any)
		reported, _ := at(sh, "state", "reported").(map[string]any)
		if len(desired) != n || len(reported) != n || sh["version"] != float64(2*n) {
			t.Errorf("after %d REST and %d MQTT updates: version %v, %d desired, %d reported keys", n, n, sh["version"], len(desired), len(reported))
		}
	})

	t.Run("size limit", func(t *testing.T) {
		t.Parallel()
		secret := e.register(t, map[string]any{"id": "sh-big"})
		d := mustDial(t, addr, "sh-big", "sh-big", secret)
		base := "$aws/things/sh-big/shadow"
		d.subscribe(t, base+"/update/rejected")
		d.publish(t, base+"/update", map[string]any{"state": map[string]any{"reported": map[string]any{"blob": strings.Repeat("x", 9000)}}})
		if rej := d.next(t, base+"/update/rejected", 0); rej["code"] != 413.0 {
			t.Errorf("oversized update: %v", rej)
		}
		code, _ := e.call(t, http.MethodPatch, "/v1/devices/sh-big/shadow", map[string]any{"state": map[string]any{"desired": map[string]any{"blob": strings.Repeat("x", 9000)}}}, e.server())
		if code != http.StatusRequestEntityTooLarge {
			t.Errorf("oversized REST update: %d", code)
		}
	})
}
