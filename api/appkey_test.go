package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// withWhoami adds a probe route to the keyed /v1 group that reports what
// the key middleware put into the request context.
func withWhoami(a *API) {
	a.keyed.Get("/test/whoami", func(w http.ResponseWriter, r *http.Request) {
		env, ok := EnvironmentFrom(r.Context())
		db := DBFrom(r.Context())
		if !ok || db == nil {
			http.Error(w, "no environment in context", http.StatusInternalServerError)
			return
		}
		a.respond(w, r, http.StatusOK, whoami{App: env.AppID, Env: env.Name, DB: db.Name(), Server: IsServerCall(r.Context())})
	})
}

type whoami struct {
	App    string `json:"app"`
	Env    string `json:"env"`
	DB     string `json:"db"`
	Server bool   `json:"server"`
}

func keyHeaders(appKey string, serverKey ...string) map[string]string {
	h := map[string]string{AppKeyHeader: appKey}
	for _, s := range serverKey {
		h[ServerKeyHeader] = s
	}
	return h
}

func TestAppKeyMiddleware(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{routes: withWhoami})
	tok := e.login()
	app := e.createApp(tok, "Todo")
	other := e.createApp(tok, "Other")
	devKey, _ := app.keys(t, "dev")
	prodKey, prodServer := app.keys(t, "prod")
	otherKey, otherServer := other.keys(t, "dev")

	tests := []struct {
		name, path string
		headers    map[string]string
		status     int
		want       whoami
	}{
		{"no key", "/v1/test/whoami", nil, 401, whoami{}},
		{"unknown key", "/v1/test/whoami", keyHeaders("sbk_0000000000000000000000000000000"), 401, whoami{}},
		{"garbage key", "/v1/test/whoami", keyHeaders("'; drop table apps; --"), 401, whoami{}},
		{"empty server key", "/v1/test/whoami", keyHeaders(devKey, ""), 401, whoami{}},
		{"server key of another environment", "/v1/test/whoami", keyHeaders(devKey, prodServer), 401, whoami{}},
		{"server key of another app", "/v1/test/whoami", keyHeaders(devKey, otherServer), 401, whoami{}},
		{"app key as server key", "/v1/test/whoami", keyHeaders(prodKey, prodKey), 401, whoami{}},
		{"dev key", "/v1/test/whoami", keyHeaders(devKey), 200, whoami{App: app.ID, Env: "dev", DB: store.EnvDBName(app.ID, "dev")}},
		{"prod key with its server key", "/v1/test/whoami", keyHeaders(prodKey, prodServer), 200, whoami{App: app.ID, Env: "prod", DB: store.EnvDBName(app.ID, "prod"), Server: true}},
		{"another app's key", "/v1/test/whoami", keyHeaders(otherKey, otherServer), 200, whoami{App: other.ID, Env: "dev", DB: store.EnvDBName(other.ID, "dev"), Server: true}},
		{"unknown /v1 route with a key", "/v1/nothing/here", keyHeaders(devKey), 404, whoami{}},
		{"unknown /v1 route without a key", "/v1/nothing/here", nil, 401, whoami{}},
		{"unknown /v1 route with a bad key", "/v1/nothing/here", keyHeaders("sbk_nope"), 401, whoami{}},
		{"OpenAPI needs no key", "/v1/openapi.json", nil, 200, whoami{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := request{method: "GET", path: tt.path, headers: tt.headers}
			if tt.status >= 400 {
				resp := e.do(req)
				checkProblem(t, resp, tt.status)
				if tt.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
					t.Error("a 401 without WWW-Authenticate")
				}
				return
			}
			if tt.want == (whoami{}) {
				e.json(req, tt.status, nil)
				return
			}
			var got whoami
			e.json(req, tt.status, &got)
			if got != tt.want {
				t.Errorf("context %+v, want %+v", got, tt.want)
			}
		})
	}
}

// rotated mirrors the rotation answer.
type rotated struct {
	Key                string    `json:"key"`
	AppKey             string    `json:"appKey"`
	ServerKey          string    `json:"serverKey"`
	PreviousValidUntil time.Time `json:"previousValidUntil"`
}

func TestKeyRotationGrace(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{routes: withWhoami})
	tok := e.login()
	app := e.createApp(tok, "Rotating")
	key0, server0 := app.keys(t, "dev")
	rotatePath := "/admin/api/apps/" + app.ID + "/environments/dev/keys/rotate"
	rotate := func(which string, grace int) rotated {
		t.Helper()
		var out rotated
		e.json(request{method: "POST", path: rotatePath, headers: bearer(tok), body: map[string]any{"key": which, "graceSeconds": grace}}, 200, &out)
		if out.Key != which {
			t.Fatalf("rotated %q, want %q", out.Key, which)
		}
		return out
	}
	// status of a whoami call with the given keys.
	call := func(h map[string]string) (int, whoami) {
		t.Helper()
		resp := e.do(request{method: "GET", path: "/v1/test/whoami", headers: h})
		if resp.StatusCode != 200 {
			checkProblem(t, resp, 0)
			return resp.StatusCode, whoami{}
		}
		defer resp.Body.Close()
		var w whoami
		if err := json.NewDecoder(resp.Body).Decode(&w); err != nil {
			t.Fatal(err)
		}
		return 200, w
	}

	before := time.Now()
	r1 := rotate("app", 60)
	if r1.AppKey == "" || r1.AppKey == key0 || r1.ServerKey != "" {
		t.Fatalf("app rotation answered %+v", r1)
	}
	if d := r1.PreviousValidUntil.Sub(before); d < 55*time.Second || d > 65*time.Second {
		t.Errorf("previousValidUntil %v is not about 60s after the rotation", r1.PreviousValidUntil)
	}
	key1 := r1.AppKey
	for name, k := range map[string]string{"old key within grace": key0, "new key": key1} {
		if st, w := call(keyHeaders(k)); st != 200 || w.Env != "dev" || w.App != app.ID {
			t.Errorf("%s: %d %+v", name, st, w)
		}
	}

	r2 := rotate("app", 0)
	key2 := r2.AppKey
	if d := time.Since(r2.PreviousValidUntil); d < -time.Second || d > 5*time.Second {
		t.Errorf("grace 0: previousValidUntil %v should be now", r2.PreviousValidUntil)
	}
	for name, tc := range map[string]struct {
		key    string
		status int
	}{
		"key cut by grace 0": {key1, 401}, "key whose grace was cut by a later rotation": {key0, 401}, "newest key": {key2, 200},
	} {
		if st, _ := call(keyHeaders(tc.key)); st != tc.status {
			t.Errorf("%s: status %d, want %d", name, st, tc.status)
		}
	}

	r3 := rotate("server", 60)
	server1 := r3.ServerKey
	if server1 == "" || server1 == server0 || r3.AppKey != "" {
		t.Fatalf("server rotation answered %+v", r3)
	}
	for name, s := range map[string]string{"old server key within grace": server0, "new server key": server1} {
		if st, w := call(keyHeaders(key2, s)); st != 200 || !w.Server {
			t.Errorf("%s: %d %+v", name, st, w)
		}
	}
	server2 := rotate("server", 0).ServerKey
	for name, tc := range map[string]struct {
		key    string
		status int
	}{
		"server key cut by grace 0": {server1, 401}, "first server key": {server0, 401}, "newest server key": {server2, 200},
	} {
		if st, _ := call(keyHeaders(key2, tc.key)); st != tc.status {
			t.Errorf("%s: status %d, want %d", name, st, tc.status)
		}
	}
}

func TestKeyRotationRefusesBadInput(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	tok := e.login()
	app := e.createApp(tok, "Rotating")
	base := "/admin/api/apps/" + app.ID + "/environments/"
	tests := []struct {
		name, path string
		body       any
		status     int
		fields     []string
	}{
		{"unknown kind", base + "dev/keys/rotate", map[string]any{"key": "both"}, 400, []string{"key"}},
		{"missing kind", base + "dev/keys/rotate", map[string]any{"graceSeconds": 5}, 400, []string{"key"}},
		{"negative grace", base + "dev/keys/rotate", map[string]any{"key": "app", "graceSeconds": -1}, 400, []string{"graceSeconds"}},
		{"grace too long", base + "dev/keys/rotate", map[string]any{"key": "app", "graceSeconds": 31 * 24 * 3600}, 400, []string{"graceSeconds"}},
		{"both wrong", base + "dev/keys/rotate", map[string]any{"key": "x", "graceSeconds": -1}, 400, []string{"key", "graceSeconds"}},
		{"fractional grace", base + "dev/keys/rotate", `{"key":"app","graceSeconds":1.5}`, 400, []string{"graceSeconds"}},
		{"unknown field", base + "dev/keys/rotate", map[string]any{"key": "app", "grace": 5}, 400, []string{"grace"}},
		{"unknown environment", base + "nope/keys/rotate", map[string]any{"key": "app"}, 404, nil},
		{"unknown app", "/admin/api/apps/nope/environments/dev/keys/rotate", map[string]any{"key": "app"}, 404, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := checkProblem(t, e.do(request{method: "POST", path: tt.path, body: tt.body, headers: bearer(tok)}), tt.status)
			var got []string
			for _, fe := range p.Errors {
				got = append(got, fe.Field)
			}
			if len(got) != len(tt.fields) {
				t.Fatalf("fields %v, want %v (%+v)", got, tt.fields, p)
			}
			for i := range got {
				if got[i] != tt.fields[i] {
					t.Errorf("fields %v, want %v", got, tt.fields)
				}
			}
		})
	}
}

// BenchmarkAppKey measures a /v1 call through the key middleware with a
// cached key, with and without a server key.
func BenchmarkAppKey(b *testing.B) {
	e := newTestEnv(b, envOptions{routes: withWhoami})
	app := e.createApp(e.login(), "Bench")
	appKey, serverKey := app.keys(b, "dev")
	for _, bc := range []struct {
		name    string
		headers map[string]string
	}{
		{"server=false", keyHeaders(appKey)},
		{"server=true", keyHeaders(appKey, serverKey)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, "/v1/test/whoami", nil)
				for k, v := range bc.headers {
					req.Header.Set(k, v)
				}
				rec := httptest.NewRecorder()
				e.api.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatal(rec.Code, rec.Body.String())
				}
			}
		})
	}
}
