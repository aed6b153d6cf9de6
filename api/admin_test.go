package api

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/auth"
)

func TestAdminLogin(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	tests := []struct {
		name   string
		body   any
		status int
		fields []string
	}{
		{"ok", map[string]string{"email": testAdminEmail, "password": testAdminPassword}, 200, nil},
		{"email in other case", map[string]string{"email": strings.ToUpper(testAdminEmail), "password": testAdminPassword}, 200, nil},
		{"wrong password", map[string]string{"email": testAdminEmail, "password": "not the password"}, 401, nil},
		{"unknown email", map[string]string{"email": "nobody@example.com", "password": testAdminPassword}, 401, nil},
		{"missing both", map[string]string{}, 400, []string{"email", "password"}},
		{"unknown field", map[string]string{"email": testAdminEmail, "password": "x", "otp": "1"}, 400, []string{"otp"}},
		{"malformed", `{"email": `, 400, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.do(request{method: "POST", path: "/admin/api/login", body: tt.body})
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", resp.Header.Get("Cache-Control"))
			}
			if tt.status == 200 {
				defer resp.Body.Close()
				var out struct {
					Token     string    `json:"token"`
					ExpiresAt time.Time `json:"expiresAt"`
				}
				if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
					t.Fatalf("login: %d %v", resp.StatusCode, err)
				}
				claims, err := e.auth.VerifyAdminToken(t.Context(), out.Token)
				if err != nil || !claims.ExpiresAt.Equal(out.ExpiresAt) || claims.Email != testAdminEmail {
					t.Errorf("token %+v, expiresAt %v: %v", claims, out.ExpiresAt, err)
				}
				return
			}
			p := checkProblem(t, resp, tt.status)
			if tt.status == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without a Bearer challenge")
			}
			if len(p.Errors) != len(tt.fields) {
				t.Fatalf("errors %+v, want fields %v", p.Errors, tt.fields)
			}
			for i, f := range tt.fields {
				if p.Errors[i].Field != f {
					t.Errorf("errors %+v, want fields %v", p.Errors, tt.fields)
				}
			}
		})
	}
}

func TestAdminLoginRateLimit(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{cfg: Config{LoginFailures: 3}})
	login := func(email, password string) *http.Response {
		return e.do(request{method: "POST", path: "/admin/api/login", body: map[string]string{"email": email, "password": password}})
	}
	for i := range 3 {
		checkProblem(t, login(testAdminEmail, "wrong password "+strconv.Itoa(i)), 401)
	}
	resp := login(testAdminEmail, testAdminPassword)
	retry, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	checkProblem(t, resp, http.StatusTooManyRequests)
	if retry < 1 || retry > int(DefaultLoginWindow/time.Second) {
		t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	// Another email from the same address is not affected.
	checkProblem(t, login("someone@example.com", "wrong password"), 401)
}

func TestAdminRoutesNeedAToken(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	tests := []struct {
		name, auth, challenge string
	}{
		{"no header", "", `Bearer realm="skybridge-admin"`},
		{"wrong scheme", "Basic b3duZXI6cGFzcw==", `Bearer realm="skybridge-admin"`},
		{"empty token", "Bearer ", `Bearer realm="skybridge-admin"`},
		{"garbage token", "Bearer not.a.jwt", `Bearer realm="skybridge-admin", error="invalid_token"`},
	}
	for _, tt := range tests {
		for _, path := range []string{"/admin/api/apps", "/admin/api/apps/x", "/admin/api/no-such-route"} {
			h := map[string]string{}
			if tt.auth != "" {
				h["Authorization"] = tt.auth
			}
			resp := e.do(request{method: "GET", path: path, headers: h})
			checkProblem(t, resp, 401)
			if got := resp.Header.Get("WWW-Authenticate"); got != tt.challenge {
				t.Errorf("%s %s: WWW-Authenticate %q, want %q", tt.name, path, got, tt.challenge)
			}
		}
	}
	// With a token, an unknown admin route is a 404.
	checkProblem(t, e.do(request{method: "GET", path: "/admin/api/no-such-route", headers: bearer(e.login())}), 404)
}

func TestAdminApps(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	tok := e.login()

	resp := e.do(request{method: "POST", path: "/admin/api/apps", body: map[string]string{"name": "  Todo  "}, headers: bearer(tok)})
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create app: %d %s", resp.StatusCode, body)
	}
	var app createdApp
	if err := json.Unmarshal(body, &app); err != nil {
		t.Fatal(err)
	}
	if app.ID == "" || app.Name != "Todo" || time.Since(app.CreatedAt) > time.Minute {
		t.Errorf("created %+v", app)
	}
	if loc := resp.Header.Get("Location"); loc != "/admin/api/apps/"+app.ID {
		t.Errorf("Location %q", loc)
	}
	var names []string
	var serverKeys []string
	for _, env := range app.Environments {
		names = append(names, env.Name)
		if !strings.HasPrefix(env.AppKey, auth.AppKeyPrefix) || !strings.HasPrefix(env.ServerKey, auth.ServerKeyPrefix) {
			t.Errorf("environment %s keys %q / %q", env.Name, env.AppKey, env.ServerKey)
		}
		serverKeys = append(serverKeys, env.ServerKey)
	}
	if strings.Join(names, ",") != "dev,stage,prod" {
		t.Errorf("environments %v, want dev, stage, prod", names)
	}

	// GET shows the app keys, never the server keys.
	for _, path := range []string{"/admin/api/apps/" + app.ID, "/admin/api/apps"} {
		resp := e.do(request{method: "GET", path: path, headers: bearer(tok)})
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		for _, sk := range serverKeys {
			if strings.Contains(string(body), sk) || strings.Contains(string(body), "serverKey") {
				t.Fatalf("GET %s leaks a server key: %s", path, body)
			}
		}
		devKey, _ := app.keys(t, "dev")
		if !strings.Contains(string(body), devKey) {
			t.Errorf("GET %s lacks the dev app key: %s", path, body)
		}
	}
	var one struct {
		ID           string `json:"id"`
		Environments []struct {
			Name      string    `json:"name"`
			AppKey    string    `json:"appKey"`
			CreatedAt time.Time `json:"createdAt"`
		} `json:"environments"`
	}
	e.json(request{method: "GET", path: "/admin/api/apps/" + app.ID, headers: bearer(tok)}, 200, &one)
	if one.ID != app.ID || len(one.Environments) != 3 || one.Environments[0].CreatedAt.IsZero() {
		t.Errorf("GET app = %+v", one)
	}
	var list struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	e.json(request{method: "GET", path: "/admin/api/apps", headers: bearer(tok)}, 200, &list)
	if len(list.Items) != 1 || list.Items[0].ID != app.ID {
		t.Errorf("list = %+v", list)
	}

	// A new environment, once.
	var env struct {
		Name      string `json:"name"`
		AppKey    string `json:"appKey"`
		ServerKey string `json:"serverKey"`
	}
	envPath := "/admin/api/apps/" + app.ID + "/environments"
	e.json(request{method: "POST", path: envPath, body: map[string]string{"name": "qa"}, headers: bearer(tok)}, 201, &env)
	if env.Name != "qa" || !strings.HasPrefix(env.AppKey, auth.AppKeyPrefix) || !strings.HasPrefix(env.ServerKey, auth.ServerKeyPrefix) {
		t.Errorf("environment %+v", env)
	}
	e.json(request{method: "GET", path: "/admin/api/apps/" + app.ID, headers: bearer(tok)}, 200, &one)
	if len(one.Environments) != 4 {
		t.Errorf("after adding qa: %+v", one.Environments)
	}

	tests := []struct {
		name, method, path string
		body               any
		status             int
		field              string
	}{
		{"duplicate environment", "POST", envPath, map[string]string{"name": "qa"}, 409, "name"},
		{"bad environment name", "POST", envPath, map[string]string{"name": "QA!"}, 400, "name"},
		{"environment of an unknown app", "POST", "/admin/api/apps/nope/environments", map[string]string{"name": "qa"}, 404, ""},
		{"empty app name", "POST", "/admin/api/apps", map[string]string{"name": "   "}, 400, "name"},
		{"app name too long", "POST", "/admin/api/apps", map[string]string{"name": strings.Repeat("n", 101)}, 400, "name"},
		{"unknown field", "POST", "/admin/api/apps", map[string]any{"name": "x", "plan": "pro"}, 400, "plan"},
		{"wrong type", "POST", "/admin/api/apps", map[string]any{"name": 5}, 400, "name"},
		{"unknown app", "GET", "/admin/api/apps/does-not-exist", nil, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := checkProblem(t, e.do(request{method: tt.method, path: tt.path, body: tt.body, headers: bearer(tok)}), tt.status)
			if tt.field != "" && (len(p.Errors) != 1 || p.Errors[0].Field != tt.field) {
				t.Errorf("problem %+v, want field %q", p, tt.field)
			}
		})
	}
	// Wrong content type.
	checkProblem(t, e.do(request{method: "POST", path: "/admin/api/apps", body: `{"name":"x"}`,
		headers: map[string]string{"Authorization": "Bearer " + tok, "Content-Type": "text/plain"}}), http.StatusUnsupportedMediaType)
}
