package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/internal/testenv/teststore"
	"github.com/skybridgehq/skybridge/keyring"
	"github.com/skybridgehq/skybridge/objectstore"
	"github.com/skybridgehq/skybridge/store"
)

// userEnv is a real API over a real auth service and the given store, with
// one app (dev, stage, prod) created over HTTP, a second app, and a clock
// the test can move forward.
type userEnv struct {
	*testEnv
	kr    *keyring.Keyring
	app   createdApp
	other createdApp
	skew  *atomic.Int64 // nanoseconds added to the auth service's clock
}

// newUserEnv builds a userEnv over p (nil: a fresh SQLite store).
func newUserEnv(t *testing.T, p store.Provider, cfg Config) *userEnv {
	t.Helper()
	ctx := t.Context()
	if p == nil {
		p = teststore.SQLite(t)
	}
	sys, err := p.DB(ctx, store.SystemDB)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.EnsureIndexes(ctx, sys, auth.SystemIndexes()); err != nil {
		t.Fatal(err)
	}
	kr, _, err := keyring.Generate()
	if err != nil {
		t.Fatal(err)
	}
	skew := &atomic.Int64{}
	log, buf := newTestLogger()
	svc := auth.NewService(sys, kr, auth.Config{
		Password: auth.PasswordParams{Memory: 1024, Time: 1, Threads: 1},
		Logger:   log,
		Now:      func() time.Time { return time.Now().Add(time.Duration(skew.Load())) },
	})
	if _, err := svc.CreateAdmin(ctx, testAdminEmail, testAdminPassword, auth.RoleOwner); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	a, err := New(Deps{Auth: svc, Store: p, Objects: objectstore.NewService(p, objectstore.Config{Logger: log}), Logger: log, Registry: reg, Version: "test"}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	e := &testEnv{t: t, api: a, srv: srv, auth: svc, store: p, reg: reg, log: buf}
	tok := e.login()
	return &userEnv{testEnv: e, kr: kr, app: e.createApp(tok, "Todo"), other: e.createApp(tok, "Other"), skew: skew}
}

// key returns the app key of environment env of the main app.
func (u *userEnv) key(env string) string {
	k, _ := u.app.keys(u.t, env)
	return k
}

// session mirrors the /v1/auth answers.
type session struct {
	User struct {
		ID        string         `json:"id"`
		Email     string         `json:"email"`
		Anonymous bool           `json:"anonymous"`
		Roles     []string       `json:"roles"`
		Profile   map[string]any `json:"profile"`
	} `json:"user"`
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
	ExpiresIn    int64  `json:"expiresIn"`
}

// call sends a /v1 request with the app key of env and, when token is not
// empty, the access token; it returns the status and the raw body.
func (u *userEnv) call(env, method, path, token string, body any) (int, []byte) {
	u.t.Helper()
	h := map[string]string{AppKeyHeader: u.key(env)}
	if token != "" {
		h["Authorization"] = "Bearer " + token
	}
	return u.callWith(h, method, path, body)
}

func (u *userEnv) callWith(h map[string]string, method, path string, body any) (int, []byte) {
	u.t.Helper()
	resp := u.do(request{method: method, path: path, body: body, headers: h})
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		u.t.Fatal(err)
	}
	return resp.StatusCode, data
}

// expect sends the call, checks the status and decodes into out.
func (u *userEnv) expect(env, method, path, token string, body any, status int, out any) []byte {
	u.t.Helper()
	got, data := u.call(env, method, path, token, body)
	if got != status {
		u.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, got, status, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			u.t.Fatalf("%s %s: decode %s: %v", method, path, data, err)
		}
	}
	return data
}

// signup creates a user in env and returns its session.
func (u *userEnv) signup(env, email, password string) session {
	u.t.Helper()
	var s session
	u.expect(env, "POST", "/v1/auth/signup", "", map[string]any{"email": email, "password": password}, http.StatusCreated, &s)
	return s
}

// problemOf decodes a problem body.
func problemOf(t testing.TB, data []byte) Problem {
	t.Helper()
	var p Problem
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatalf("not a problem: %s", data)
	}
	return p
}

const testUserPassword = "violet tractor at noon"

// runUserFlow is the main user flow, run on every store adapter.
func runUserFlow(t *testing.T, u *userEnv) {
	// Signup, me, login.
	var s session
	data := u.expect("dev", "POST", "/v1/auth/signup", "", map[string]any{
		"email": " Ada@Example.com ", "password": testUserPassword, "profile": map[string]any{"name": "Ada", "age": 36},
	}, http.StatusCreated, &s)
	if s.User.ID == "" || s.User.Email != "ada@example.com" || s.User.Anonymous || s.AccessToken == "" ||
		!strings.HasPrefix(s.RefreshToken, auth.RefreshTokenPrefix) || s.ExpiresIn != int64(auth.DefaultAccessTokenTTL/time.Second) {
		t.Fatalf("signup answered %s", data)
	}
	if strings.Contains(strings.ToLower(string(data)), "hash") || strings.Contains(string(data), testUserPassword) {
		t.Fatalf("signup leaks password material: %s", data)
	}
	var me session
	meBody := u.expect("dev", "GET", "/v1/auth/me", s.AccessToken, nil, 200, &me.User)
	signupUser, _ := json.Marshal(s.User)
	meUser, _ := json.Marshal(me.User)
	if string(signupUser) != string(meUser) || me.User.Profile["name"] != "Ada" {
		t.Errorf("me = %s, signup user = %s", meBody, signupUser)
	}
	var login session
	u.expect("dev", "POST", "/v1/auth/login", "", map[string]any{"email": "ada@example.com", "password": testUserPassword}, 200, &login)
	if login.User.ID != s.User.ID || login.RefreshToken == s.RefreshToken {
		t.Errorf("login = %+v", login)
	}

	// Duplicate email, weak passwords.
	_, data = u.call("dev", "POST", "/v1/auth/signup", "", map[string]any{"email": "ADA@example.com", "password": testUserPassword})
	if p := problemOf(t, data); p.Status != 409 {
		t.Errorf("duplicate signup: %s", data)
	}
	for _, pw := range []string{"short1", "password123", "qwertyuiop"} {
		st, data := u.call("dev", "POST", "/v1/auth/signup", "", map[string]any{"email": "weak@example.com", "password": pw})
		p := problemOf(t, data)
		if st != 400 || len(p.Errors) != 1 || p.Errors[0].Field != "password" {
			t.Errorf("weak password %q: %d %s", pw, st, data)
		}
	}

	// Wrong password and unknown email: the same 401.
	st1, wrong := u.call("dev", "POST", "/v1/auth/login", "", map[string]any{"email": "ada@example.com", "password": "not the password at all"})
	st2, unknown := u.call("dev", "POST", "/v1/auth/login", "", map[string]any{"email": "nobody@example.com", "password": "not the password at all"})
	pw, pu := problemOf(t, wrong), problemOf(t, unknown)
	pw.Instance, pu.Instance = "", ""
	if st1 != 401 || st2 != 401 || pw.Type != pu.Type || pw.Title != pu.Title || pw.Detail != pu.Detail {
		t.Errorf("wrong password %d %s; unknown email %d %s", st1, wrong, st2, unknown)
	}

	// Anonymous: the same device gives the same user; link keeps the id.
	var anon, anon2, linked session
	u.expect("dev", "POST", "/v1/auth/anonymous", "", map[string]any{"deviceId": "device-0001"}, 200, &anon)
	u.expect("dev", "POST", "/v1/auth/anonymous", "", map[string]any{"deviceId": "device-0001"}, 200, &anon2)
	if !anon.User.Anonymous || anon.User.ID == "" || anon2.User.ID != anon.User.ID {
		t.Fatalf("anonymous: %+v then %+v", anon.User, anon2.User)
	}
	u.expect("dev", "POST", "/v1/auth/link", anon.AccessToken, map[string]any{"email": "ada@example.com", "password": testUserPassword}, 409, nil)
	u.expect("dev", "POST", "/v1/auth/link", anon.AccessToken, map[string]any{"email": "grace@example.com", "password": testUserPassword}, 200, &linked)
	if linked.User.ID != anon.User.ID || linked.User.Anonymous || linked.User.Email != "grace@example.com" {
		t.Errorf("linked = %+v", linked.User)
	}
	u.expect("dev", "POST", "/v1/auth/login", "", map[string]any{"email": "grace@example.com", "password": testUserPassword}, 200, &login)
	if login.User.ID != anon.User.ID {
		t.Errorf("login after link gives user %s, want %s", login.User.ID, anon.User.ID)
	}

	// Refresh rotation, then reuse of the spent token revokes the family.
	var r1, r2 session
	u.expect("dev", "POST", "/v1/auth/refresh", "", map[string]any{"refreshToken": s.RefreshToken}, 200, &r1)
	if r1.RefreshToken == s.RefreshToken || r1.User.ID != s.User.ID {
		t.Fatalf("refresh = %+v", r1)
	}
	u.expect("dev", "POST", "/v1/auth/refresh", "", map[string]any{"refreshToken": r1.RefreshToken}, 200, &r2)
	u.expect("dev", "GET", "/v1/auth/me", r2.AccessToken, nil, 200, nil)
	u.expect("dev", "POST", "/v1/auth/refresh", "", map[string]any{"refreshToken": r1.RefreshToken}, 401, nil)
	u.expect("dev", "POST", "/v1/auth/refresh", "", map[string]any{"refreshToken": r2.RefreshToken}, 401, nil)
	u.expect("dev", "GET", "/v1/auth/me", r2.AccessToken, nil, 401, nil)

	// Logout: 204, then the access token is refused on the next request.
	var l session
	u.expect("dev", "POST", "/v1/auth/login", "", map[string]any{"email": "ada@example.com", "password": testUserPassword}, 200, &l)
	u.expect("dev", "POST", "/v1/auth/logout", l.AccessToken, map[string]any{"refreshToken": l.RefreshToken}, 204, nil)
	_, data = u.call("dev", "GET", "/v1/auth/me", l.AccessToken, nil)
	if p := problemOf(t, data); p.Status != 401 {
		t.Errorf("me after logout: %s", data)
	}
	u.expect("dev", "POST", "/v1/auth/refresh", "", map[string]any{"refreshToken": l.RefreshToken}, 401, nil)

	// Password change keeps this session and revokes the others.
	var a, b session
	u.expect("dev", "POST", "/v1/auth/login", "", map[string]any{"email": "ada@example.com", "password": testUserPassword}, 200, &a)
	u.expect("dev", "POST", "/v1/auth/login", "", map[string]any{"email": "ada@example.com", "password": testUserPassword}, 200, &b)
	_, data = u.call("dev", "POST", "/v1/auth/password", a.AccessToken, map[string]any{"currentPassword": "wrong password here", "newPassword": "a brand new secret"})
	if p := problemOf(t, data); p.Status != 401 || len(p.Errors) != 1 || p.Errors[0].Field != "currentPassword" {
		t.Errorf("wrong current password: %s", data)
	}
	u.expect("dev", "POST", "/v1/auth/password", a.AccessToken, map[string]any{"currentPassword": testUserPassword, "newPassword": "a brand new secret"}, 204, nil)
	u.expect("dev", "GET", "/v1/auth/me", a.AccessToken, nil, 200, nil)
	u.expect("dev", "GET", "/v1/auth/me", b.AccessToken, nil, 401, nil)
	u.expect("dev", "POST", "/v1/auth/refresh", "", map[string]any{"refreshToken": b.RefreshToken}, 401, nil)
	u.expect("dev", "POST", "/v1/auth/login", "", map[string]any{"email": "ada@example.com", "password": testUserPassword}, 401, nil)
	u.expect("dev", "POST", "/v1/auth/login", "", map[string]any{"email": "ada@example.com", "password": "a brand new secret"}, 200, nil)

	// Users live per environment: the same email is free in prod.
	u.signup("prod", "ada@example.com", testUserPassword)
}

func TestUserFlowSQLite(t *testing.T) {
	t.Parallel()
	runUserFlow(t, newUserEnv(t, nil, Config{}))
}

func TestUserRoutesNeedToken(t *testing.T) {
	t.Parallel()
	u := newUserEnv(t, nil, Config{})
	for _, r := range []struct{ method, path string }{
		{"GET", "/v1/auth/me"}, {"POST", "/v1/auth/logout"}, {"POST", "/v1/auth/link"}, {"POST", "/v1/auth/password"},
	} {
		resp := u.do(request{method: r.method, path: r.path, body: map[string]any{}, headers: map[string]string{AppKeyHeader: u.key("dev")}})
		resp.Body.Close()
		if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s %s without a token: %d %q", r.method, r.path, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	// Without the app key, nothing of /v1/auth answers.
	st, _ := u.callWith(nil, "POST", "/v1/auth/signup", map[string]any{"email": "a@example.com", "password": testUserPassword})
	if st != 401 {
		t.Errorf("signup without app key: %d", st)
	}
}

func TestUserTokenRefused(t *testing.T) {
	t.Parallel()
	u := newUserEnv(t, nil, Config{})
	s := u.signup("dev", "ada@example.com", testUserPassword)
	u.expect("dev", "GET", "/v1/auth/me", s.AccessToken, nil, 200, nil)

	now := time.Now()
	issued := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(s.AccessToken, issued); err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{
		"sub": s.User.ID, "app": u.app.ID, "env": "dev", "sid": issued["sid"], "iss": "skybridge",
		"aud": "skybridge-user:" + u.app.ID + ":dev", "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
	}
	devKey := u.kr.Derive("user-jwt:" + u.app.ID + ":dev:1")
	sign := func(m jwt.SigningMethod, key any) string {
		tok := jwt.NewWithClaims(m, claims)
		tok.Header["kid"] = "1"
		out, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	// Control: the same claims, HS256 with the right key and kid, pass; so
	// the refusals below are down to what each case changes.
	u.expect("dev", "GET", "/v1/auth/me", sign(jwt.SigningMethodHS256, devKey), nil, 200, nil)
	parts := strings.Split(s.AccessToken, ".")
	tampered := parts[0] + "." + parts[1] + "x." + parts[2]
	otherKey, _ := u.other.keys(t, "dev")

	tests := []struct {
		name, appKey, token string
	}{
		{"dev token in prod", u.key("prod"), s.AccessToken},
		{"dev token in stage", u.key("stage"), s.AccessToken},
		{"dev token in another app", otherKey, s.AccessToken},
		{"alg none", u.key("dev"), sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType)},
		{"HS384 with the right key", u.key("dev"), sign(jwt.SigningMethodHS384, devKey)},
		{"tampered payload", u.key("dev"), tampered},
		{"garbage", u.key("dev"), "abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, data := u.callWith(map[string]string{AppKeyHeader: tt.appKey, "Authorization": "Bearer " + tt.token}, "GET", "/v1/auth/me", nil)
			if p := problemOf(t, data); st != 401 || p.Type != problemTypePrefix+"unauthenticated" {
				t.Errorf("status %d body %s", st, data)
			}
		})
	}
	st, _ := u.callWith(map[string]string{AppKeyHeader: u.key("dev"), "Authorization": "Basic " + s.AccessToken}, "GET", "/v1/auth/me", nil)
	if st != 401 {
		t.Errorf("Basic scheme: %d", st)
	}
	// Expired: move the service clock past the token's 15 minutes.
	u.skew.Store(int64(auth.DefaultAccessTokenTTL + time.Minute))
	u.expect("dev", "GET", "/v1/auth/me", s.AccessToken, nil, 401, nil)
	// ... while a refresh that carries the expired token along still works.
	var r session
	u.expect("dev", "POST", "/v1/auth/refresh", s.AccessToken, map[string]any{"refreshToken": s.RefreshToken}, 200, &r)
	u.expect("dev", "GET", "/v1/auth/me", r.AccessToken, nil, 200, nil)
}

// TestUserConcurrentRefresh runs on SQLite only: FerretDB does not do
// concurrent compare-and-swap atomically, so it is the named FerretDB
// exception of the refresh tests.
func TestUserConcurrentRefresh(t *testing.T) {
	t.Parallel()
	u := newUserEnv(t, nil, Config{})
	s := u.signup("dev", "ada@example.com", testUserPassword)
	const n = 8
	var wg sync.WaitGroup
	statuses := make([]int, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			body := strings.NewReader(`{"refreshToken":"` + s.RefreshToken + `"}`)
			req, err := http.NewRequestWithContext(context.Background(), "POST", u.srv.URL+"/v1/auth/refresh", body)
			if err != nil {
				return
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set(AppKeyHeader, u.key("dev"))
			resp, err := u.srv.Client().Do(req)
			if err != nil {
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		}()
	}
	close(start)
	wg.Wait()
	ok := 0
	for _, st := range statuses {
		switch st {
		case 200:
			ok++
		case 401:
		default:
			t.Errorf("status %d; all: %v", st, statuses)
		}
	}
	if ok > 1 {
		t.Errorf("%d concurrent refreshes of one token succeeded: %v", ok, statuses)
	}
}

func TestUserLoginRateLimit(t *testing.T) {
	t.Parallel()
	u := newUserEnv(t, nil, Config{LoginFailures: 2, LoginWindow: time.Hour})
	u.signup("dev", "ada@example.com", testUserPassword)
	bad := map[string]any{"email": "ada@example.com", "password": "not the right one"}
	for range 2 {
		u.expect("dev", "POST", "/v1/auth/login", "", bad, 401, nil)
	}
	resp := u.do(request{method: "POST", path: "/v1/auth/login", body: map[string]any{"email": "ada@example.com", "password": testUserPassword},
		headers: map[string]string{AppKeyHeader: u.key("dev")}})
	resp.Body.Close()
	if ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")); resp.StatusCode != 429 || ra < 1 || ra > 3600 {
		t.Fatalf("per-account limit: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// Per address: failures over many accounts from one address add up
	// (2 x userLoginIPFactor in all).
	for i := range 2*userLoginIPFactor - 2 {
		st, _ := u.call("dev", "POST", "/v1/auth/login", "", map[string]any{"email": "u" + strconv.Itoa(i) + "@example.com", "password": "whatever you like"})
		if st != 401 && st != 429 {
			t.Fatalf("login %d: %d", i, st)
		}
	}
	st, _ := u.call("dev", "POST", "/v1/auth/login", "", map[string]any{"email": "fresh@example.com", "password": "whatever you like"})
	if st != 429 {
		t.Errorf("per-address limit: %d, want 429", st)
	}
	// Another environment has its own counters.
	u.signup("prod", "ada@example.com", testUserPassword)
	u.expect("prod", "POST", "/v1/auth/login", "", map[string]any{"email": "ada@example.com", "password": testUserPassword}, 200, nil)
}

func FuzzUserAuthPayload(f *testing.F) {
	for _, seed := range []string{
		`{"email":"a@example.com","password":"violet tractor","profile":{"n":1}}`,
		`{"deviceId":"device-0001"}`, `{"refreshToken":"sbr_x"}`,
		`{"currentPassword":"a","newPassword":"b"}`, `{"email":1}`, `{"profile":[1]}`, `{}`, `[]`, `null`, ``, `{"email":"a"}{}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		targets := []any{&credentialsRequest{}, &anonymousRequest{}, &refreshRequest{}, &passwordRequest{}}
		for _, dst := range targets {
			err := decodeJSONBytes(data, dst)
			if err == nil {
				if _, merr := json.Marshal(dst); merr != nil {
					t.Fatalf("decoded %T does not marshal: %v", dst, merr)
				}
				continue
			}
			if p := problemFor(err); p.Status != 400 {
				t.Fatalf("decode error %v gives status %d", err, p.Status)
			}
		}
	})
}

func TestUserProblemMapping(t *testing.T) {
	t.Parallel()
	for err, want := range map[error]int{auth.ErrConflict: 409, auth.ErrWeakPassword: 400, auth.ErrBadCredentials: 401, auth.ErrExists: 409} {
		if got := problemFor(err).Status; got != want {
			t.Errorf("problemFor(%v) = %d, want %d", err, got, want)
		}
	}
}
