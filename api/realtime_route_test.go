package api

import (
	"net/http"
	"strings"
	"testing"
)

// With a bus, GET /v1/realtime is routed and described; bad handshakes
// (credentials, methods, bodies, upgrade headers) get complete problems,
// never a 500.
func TestRealtimeRouteDescribedAndBadInput(t *testing.T) {
	t.Parallel()
	e := newRealtimeEnv(t, nil)
	doc := openAPIDoc(t, e.testEnv)
	ops, _ := doc["paths"].(map[string]any)["/v1/realtime"].(map[string]any)
	if ops["get"] == nil {
		t.Fatal("GET /v1/realtime is not in the OpenAPI document")
	}
	if !routeSet(t, e.api.Routes())["GET /v1/realtime"] {
		t.Fatal("GET /v1/realtime is not routed")
	}
	key, srvKey := e.app.keys(t, "dev")
	creds := []map[string]string{
		{},
		{AppKeyHeader: key + "x"},
		{AppKeyHeader: key, ServerKeyHeader: "sbs_wrong"},
		{AppKeyHeader: key, "Authorization": "Token x"},
		{AppKeyHeader: key, "Authorization": "Bearer nope"},
		{"Authorization": "Bearer nope"},
		{AppKeyHeader: key, ServerKeyHeader: srvKey},
		{AppKeyHeader: key, "Connection": "Upgrade", "Upgrade": "websocket"}, // no Sec-WebSocket-Key
		{AppKeyHeader: key, "Connection": "Upgrade", "Upgrade": "h2c"},
	}
	paths := []string{"/v1/realtime", "/v1/realtime?key=" + key + "x", "/v1/realtime?access_token=x", "/v1/realtime?key=%zz"}
	for _, path := range paths {
		for _, h := range creds {
			for _, method := range []string{"GET", "POST", "PUT", "DELETE"} {
				req, err := http.NewRequestWithContext(t.Context(), method, e.srv.URL+path, strings.NewReader(`{"op":"auth"}`))
				if err != nil {
					t.Fatal(err)
				}
				for k, v := range h {
					req.Header.Set(k, v)
				}
				resp, err := e.srv.Client().Do(req)
				if err != nil {
					t.Fatalf("%s %s: %v", method, path, err)
				}
				if resp.StatusCode < 400 || resp.StatusCode >= 500 {
					t.Errorf("%s %s %v: status %d", method, path, h, resp.StatusCode)
					resp.Body.Close()
					continue
				}
				if _, err := readProblem(resp, 0); err != nil {
					t.Errorf("%s %s %v: %v", method, path, h, err)
				}
			}
		}
	}
}
