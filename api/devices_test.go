package api

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestDevicesBadInput: refusals of the device routes are problem+json
// naming the field, with the status problemFor gives the iotbridge error.
func TestDevicesBadInput(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	appKey, serverKey := e.createApp(e.login(), "iot").keys(t, "dev")
	srv := map[string]string{AppKeyHeader: appKey, ServerKeyHeader: serverKey}
	with := func(extra map[string]string) map[string]string {
		h := map[string]string{}
		for k, v := range srv {
			h[k] = v
		}
		for k, v := range extra {
			h[k] = v
		}
		return h
	}
	e.json(request{method: "POST", path: "/v1/devices", body: map[string]any{"id": "d-1"}, headers: srv}, http.StatusCreated, nil)
	e.json(request{method: "PATCH", path: "/v1/devices/d-1/shadow", body: map[string]any{"state": map[string]any{"desired": map[string]any{"on": true}}}, headers: srv}, http.StatusOK, nil)
	cases := []struct {
		name   string
		req    request
		status int
		field  string
	}{
		{"bad id", request{method: "POST", path: "/v1/devices", body: map[string]any{"id": "a/b"}, headers: srv}, 400, "id"},
		{"taken id", request{method: "POST", path: "/v1/devices", body: map[string]any{"id": "d-1"}, headers: srv}, 409, "id"},
		{"unknown field", request{method: "POST", path: "/v1/devices", body: map[string]any{"id": "d-2", "colour": 1}, headers: srv}, 400, ""},
		{"bad acl", request{method: "POST", path: "/v1/devices", body: map[string]any{"id": "d-2", "_acl": map[string]any{"admin": []string{"x"}}}, headers: srv}, 400, "_acl.admin"},
		{"app key only", request{method: "POST", path: "/v1/devices", body: map[string]any{"id": "d-2"}, headers: map[string]string{AppKeyHeader: appKey}}, 403, ""},
		{"no key", request{method: "GET", path: "/v1/devices"}, 401, ""},
		{"unknown device", request{method: "GET", path: "/v1/devices/nope", headers: srv}, 404, ""},
		{"bad limit", request{method: "GET", path: "/v1/devices?limit=0", headers: srv}, 400, "limit"},
		{"bad disabled", request{method: "GET", path: "/v1/devices?disabled=maybe", headers: srv}, 400, "disabled"},
		{"stale If-Match", request{method: "PATCH", path: "/v1/devices/d-1/shadow", body: map[string]any{"state": map[string]any{"desired": map[string]any{"on": false}}}, headers: with(map[string]string{"If-Match": `"7"`})}, 412, ""},
		{"malformed If-Match", request{method: "PATCH", path: "/v1/devices/d-1/shadow", body: map[string]any{"state": map[string]any{"desired": map[string]any{}}}, headers: with(map[string]string{"If-Match": `7`})}, 400, "If-Match"},
		{"shadow not JSON", request{method: "PATCH", path: "/v1/devices/d-1/shadow", body: "{", headers: srv}, 400, "state"},
		{"shadow without state", request{method: "PATCH", path: "/v1/devices/d-1/shadow", body: map[string]any{"desired": 1}, headers: srv}, 400, "state"},
		{"shadow too large", request{method: "PATCH", path: "/v1/devices/d-1/shadow", body: `{"state":{"desired":{"x":"` + strings.Repeat("y", 9000) + `"}}}`, headers: srv}, 413, "state"},
		{"missing shadow", request{method: "GET", path: "/v1/devices/d-1/shadow?name=other", headers: srv}, 404, ""},
		{"bad shadow name", request{method: "GET", path: "/v1/devices/d-1/shadow?name=a%20b", headers: srv}, 400, "name"},
		{"command without name", request{method: "POST", path: "/v1/devices/d-1/commands", body: map[string]any{"payload": 1}, headers: srv}, 400, "name"},
		{"command timeout", request{method: "POST", path: "/v1/devices/d-1/commands", body: map[string]any{"name": "x", "timeoutSec": -5}, headers: srv}, 400, "timeoutSec"},
		{"command timeout past the maximum", request{method: "POST", path: "/v1/devices/d-1/commands", body: map[string]any{"name": "x", "timeoutSec": 30 * 24 * 3600}, headers: srv}, 400, "timeoutSec"},
		{"bad command status", request{method: "GET", path: "/v1/devices/d-1/commands?status=done", headers: srv}, 400, "status"},
		{"unknown command", request{method: "GET", path: "/v1/devices/d-1/commands/nope", headers: srv}, 404, ""},
		{"patch by a user-less app key", request{method: "PATCH", path: "/v1/devices/d-1", body: map[string]any{"name": "x"}, headers: map[string]string{AppKeyHeader: appKey}}, 403, ""},
		{"stale device If-Match", request{method: "PATCH", path: "/v1/devices/d-1", body: map[string]any{"name": "x"}, headers: with(map[string]string{"If-Match": `"99"`})}, 412, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.do(tc.req)
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != ProblemContentType {
				t.Fatalf("%d %s %s, want %d problem", resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.status)
			}
			var p Problem
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatal(err)
			}
			if tc.field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != tc.field) {
				t.Errorf("problem %s does not name %s", body, tc.field)
			}
		})
	}
}

// TestDevicesSecretShownOnce: the secret is in the registration and
// rotation answers only, never in reads.
func TestDevicesSecretShownOnce(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	appKey, serverKey := e.createApp(e.login(), "iot").keys(t, "dev")
	srv := map[string]string{AppKeyHeader: appKey, ServerKeyHeader: serverKey}
	var created struct{ ID, Secret string }
	e.json(request{method: "POST", path: "/v1/devices", body: map[string]any{"id": "s-1", "name": "Pump"}, headers: srv}, http.StatusCreated, &created)
	if created.ID != "s-1" || len(created.Secret) != 43 {
		t.Fatalf("created %+v", created)
	}
	var rotated struct{ Secret string }
	e.json(request{method: "POST", path: "/v1/devices/s-1/secret", headers: srv}, http.StatusOK, &rotated)
	if rotated.Secret == "" || rotated.Secret == created.Secret {
		t.Fatalf("rotated %+v", rotated)
	}
	for _, path := range []string{"/v1/devices/s-1", "/v1/devices"} {
		resp := e.do(request{method: "GET", path: path, headers: srv})
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), created.Secret) || strings.Contains(string(body), rotated.Secret) || strings.Contains(string(body), "secretHash") {
			t.Errorf("GET %s shows a secret: %s", path, body)
		}
	}
	if strings.Contains(e.log.String(), rotated.Secret) || strings.Contains(e.log.String(), created.Secret) {
		t.Error("a device secret was logged")
	}
}
