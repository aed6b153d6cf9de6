package api

import (
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/internal/testenv/oidcprovider"
	"github.com/skybridgehq/skybridge/internal/testenv/teststore"
	"github.com/skybridgehq/skybridge/store"
)

// testAppRedirect is the app's registered redirect URI (a custom scheme,
// as native apps use).
const testAppRedirect = "com.example.todo:/oauth/done"

// oidcEnv is a userEnv with a test OpenID provider configured as "test"
// in the dev environment of the main app.
type oidcEnv struct {
	*userEnv
	op    *oidcprovider.Provider
	admin string
}

func newOIDCEnv(t *testing.T, p store.Provider) *oidcEnv {
	t.Helper()
	u := newUserEnv(t, p, Config{})
	o := &oidcEnv{userEnv: u, op: oidcprovider.New(t, oidcprovider.Config{}), admin: u.login()}
	o.putProvider("dev", "test", map[string]any{
		"issuer": o.op.Issuer(), "clientId": o.op.ClientID(), "clientSecret": o.op.ClientSecret(),
		"scopes": []string{"email", "profile"}, "redirectUris": []string{testAppRedirect, "https://todo.example.com/done"},
	}, http.StatusOK, nil)
	return o
}

func (o *oidcEnv) providersPath(env string) string {
	return "/admin/api/apps/" + o.app.ID + "/environments/" + env + "/oidc/providers"
}

func (o *oidcEnv) putProvider(env, name string, body any, status int, out any) {
	o.t.Helper()
	o.json(request{method: "PUT", path: o.providersPath(env) + "/" + name, body: body, headers: bearer(o.admin)}, status, out)
}

// browser follows redirects from start as a browser would, through the
// provider and back, until one leaves HTTP (the app's custom scheme) or
// an answer is not a redirect; it returns that last response's Location.
func (o *oidcEnv) browser(start string) *url.URL {
	o.t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	next := start
	for range 5 {
		req, err := http.NewRequestWithContext(o.t.Context(), "GET", next, nil)
		if err != nil {
			o.t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			o.t.Fatalf("GET %s: %v", next, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound {
			o.t.Fatalf("GET %s: %d %s", next, resp.StatusCode, body)
		}
		loc, err := resp.Location()
		if err != nil {
			o.t.Fatal(err)
		}
		if loc.Scheme != "http" {
			return loc
		}
		next = loc.String()
	}
	o.t.Fatalf("too many redirects from %s", start)
	return nil
}

func (o *oidcEnv) startURL(env, provider, redirect string) string {
	return o.srv.URL + "/v1/auth/oidc/" + provider + "/start?" + url.Values{
		"key": {o.key(env)}, "redirect_uri": {redirect}, "state": {"app-state-1"},
	}.Encode()
}

// signInBrowser runs the browser flow and exchanges the code.
func (o *oidcEnv) signInBrowser() session {
	o.t.Helper()
	back := o.browser(o.startURL("dev", "test", testAppRedirect))
	q := back.Query()
	if back.Scheme+":"+back.Path != testAppRedirect || q.Get("state") != "app-state-1" || !strings.HasPrefix(q.Get("code"), "sbo_") {
		o.t.Fatalf("the flow ended at %s", back)
	}
	var s session
	o.expect("dev", "POST", "/v1/auth/oidc/exchange", "", map[string]string{"code": q.Get("code")}, 200, &s)
	return s
}

// idToken posts an ID token to the native route.
func (o *oidcEnv) idToken(token, nonce string) (int, []byte) {
	o.t.Helper()
	return o.call("dev", "POST", "/v1/auth/oidc/test/token", "", map[string]string{"idToken": token, "nonce": nonce})
}

func TestOIDCSQLite(t *testing.T) {
	t.Parallel()
	runOIDC(t, newOIDCEnv(t, nil))
}

func TestOIDCFerretDB(t *testing.T) {
	t.Parallel()
	runOIDC(t, newOIDCEnv(t, teststore.FerretDB(t)))
}

// runOIDC runs every OpenID test on one store adapter, in order (the
// subtests share the provider and the user pool).
func runOIDC(t *testing.T, o *oidcEnv) {
	t.Run("CodeFlow", func(t *testing.T) { testOIDCCodeFlow(t, o) })
	t.Run("BrowserRefusals", func(t *testing.T) { testOIDCBrowserRefusals(t, o) })
	t.Run("IDToken", func(t *testing.T) { testOIDCIDToken(t, o) })
	t.Run("KeyRotation", func(t *testing.T) { testOIDCKeyRotation(t, o) })
	t.Run("Linking", func(t *testing.T) { testOIDCLinking(t, o) })
	t.Run("DisabledUser", func(t *testing.T) { testOIDCDisabled(t, o) })
	t.Run("Admin", func(t *testing.T) { testOIDCAdmin(t, o) })
}

func testOIDCCodeFlow(t *testing.T, o *oidcEnv) {
	o.t = t
	back := o.browser(o.startURL("dev", "test", testAppRedirect))
	code := back.Query().Get("code")
	var s session
	o.expect("dev", "POST", "/v1/auth/oidc/exchange", "", map[string]string{"code": code}, 200, &s)
	if s.User.ID == "" || s.User.Email != "user1@example.com" || s.AccessToken == "" || s.RefreshToken == "" || s.ExpiresIn <= 0 {
		t.Fatalf("exchange answered %+v", s)
	}
	var me map[string]any
	o.expect("dev", "GET", "/v1/auth/me", s.AccessToken, nil, 200, &me)
	if me["id"] != s.User.ID || me["emailVerified"] != true {
		t.Errorf("me = %v", me)
	}
	// The code is good once.
	if st, data := o.call("dev", "POST", "/v1/auth/oidc/exchange", "", map[string]string{"code": code}); st != 401 {
		t.Errorf("reused code: %d %s", st, data)
	}
	// Nor in another environment, nor forged.
	again := o.browser(o.startURL("dev", "test", testAppRedirect)).Query().Get("code")
	if st, _ := o.call("stage", "POST", "/v1/auth/oidc/exchange", "", map[string]string{"code": again}); st != 401 {
		t.Errorf("code exchanged in another environment: %d", st)
	}
	if st, _ := o.call("dev", "POST", "/v1/auth/oidc/exchange", "", map[string]string{"code": "sbo_forged"}); st != 401 {
		t.Errorf("forged code: %d", st)
	}
	// The same subject signs in the same user.
	if s2 := o.signInBrowser(); s2.User.ID != s.User.ID {
		t.Errorf("second sign-in made user %s, want %s", s2.User.ID, s.User.ID)
	}
	// With the app's own PKCE, a code is exchanged only with the verifier.
	verifier := "app-verifier-" + strings.Repeat("v", 40)
	sum := sha256.Sum256([]byte(verifier))
	pkce := "&code_challenge_method=S256&code_challenge=" + base64.RawURLEncoding.EncodeToString(sum[:])
	for body, status := range map[string]int{"": 401, "wrong-verifier": 401, verifier: 200} {
		code := o.browser(o.startURL("dev", "test", testAppRedirect) + pkce).Query().Get("code")
		if st, data := o.call("dev", "POST", "/v1/auth/oidc/exchange", "", map[string]string{"code": code, "codeVerifier": body}); st != status {
			t.Errorf("verifier %q: %d %s", body, st, data)
		}
	}
	for query, field := range map[string]string{
		"&code_challenge=abc&code_challenge_method=plain": "code_challenge_method",
		"&code_challenge=abc&code_challenge_method=S256":  "code_challenge",
	} {
		resp := o.do(request{method: "GET", path: strings.TrimPrefix(o.startURL("dev", "test", testAppRedirect), o.srv.URL) + query})
		if p, err := readProblem(resp, 400); err != nil || len(p.Errors) != 1 || p.Errors[0].Field != field {
			t.Errorf("%s: %+v %v", query, p, err)
		}
	}

	// A code not exchanged within its two minutes is refused.
	late := o.browser(o.startURL("dev", "test", testAppRedirect)).Query().Get("code")
	o.skew.Store(int64(auth.OIDCCodeTTL + time.Second))
	st, data := o.call("dev", "POST", "/v1/auth/oidc/exchange", "", map[string]string{"code": late})
	o.skew.Store(0)
	if st != 401 {
		t.Errorf("expired code: %d %s", st, data)
	}

	// A client that asks for JSON gets the location instead of a 302.
	var loc struct {
		Location string `json:"location"`
	}
	o.json(request{method: "GET", path: strings.TrimPrefix(o.startURL("dev", "test", testAppRedirect), o.srv.URL),
		headers: map[string]string{"Accept": "application/json"}}, 200, &loc)
	if !strings.HasPrefix(loc.Location, o.op.Issuer()+"/authorize?") || !strings.Contains(loc.Location, "code_challenge_method=S256") {
		t.Errorf("start location %s", loc.Location)
	}
}

func testOIDCBrowserRefusals(t *testing.T, o *oidcEnv) {
	o.t = t
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(u string) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), "GET", u, nil)
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	field := func(resp *http.Response, status int, want string) {
		t.Helper()
		p, err := readProblem(resp, status)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Errors) == 0 || p.Errors[0].Field != want {
			t.Errorf("problem %+v does not name %s", p, want)
		}
	}
	// A redirect URI the app did not register.
	field(get(o.startURL("dev", "test", "https://evil.example.com/steal")), 400, "redirect_uri")
	field(get(o.startURL("dev", "test", "")), 400, "redirect_uri")
	// No key, a bad key, an unknown provider.
	field(get(o.srv.URL+"/v1/auth/oidc/test/start?redirect_uri="+url.QueryEscape(testAppRedirect)), 401, "key")
	field(get(o.srv.URL+"/v1/auth/oidc/test/start?key=sbk_nope&redirect_uri="+url.QueryEscape(testAppRedirect)), 401, "key")
	field(get(o.startURL("dev", "nosuch", testAppRedirect)), 404, "provider")
	if _, err := readProblem(get(o.startURL("prod", "test", testAppRedirect)), 404); err != nil {
		t.Errorf("provider of another environment: %v", err)
	}

	// A tampered or missing state gets a problem, not a redirect.
	resp := get(o.startURL("dev", "test", testAppRedirect))
	resp.Body.Close()
	authz, _ := resp.Location()
	state := authz.Query().Get("state")
	cb := o.srv.URL + "/v1/auth/oidc/test/callback?code=whatever&state="
	flipped := []byte(state)
	flipped[10] = map[bool]byte{true: 'B', false: 'A'}[flipped[10] == 'A']
	field(get(cb+string(flipped)), 400, "state")
	field(get(cb+"garbage"), 400, "state")
	field(get(cb), 400, "state")
	// The state of one provider does not serve another's callback.
	field(get(o.srv.URL+"/v1/auth/oidc/other/callback?code=x&state="+state), 400, "state")
	// A genuine state with a bad code goes back to the app with an error.
	resp = get(cb + url.QueryEscape(state))
	resp.Body.Close()
	loc, _ := resp.Location()
	if resp.StatusCode != 302 || loc == nil || loc.Query().Get("error") != "access_denied" || loc.Query().Get("state") != "app-state-1" {
		t.Errorf("bad code: %d %v", resp.StatusCode, loc)
	}
	// A state past its ten minutes is refused like a forged one.
	o.skew.Store(int64(auth.OIDCStateTTL + time.Second))
	field(get(cb+url.QueryEscape(state)), 400, "state")
	o.skew.Store(0)
	// An unreachable provider: 502 at the start, an error for the app at
	// the callback.
	o.putProvider("dev", "down", map[string]any{"issuer": "http://127.0.0.1:1", "clientId": "c", "redirectUris": []string{testAppRedirect}}, 200, nil)
	if _, err := readProblem(get(o.startURL("dev", "down", testAppRedirect)), 502); err != nil {
		t.Errorf("unreachable provider: %v", err)
	}
	o.json(request{method: "DELETE", path: o.providersPath("dev") + "/down", headers: bearer(o.admin)}, 204, nil)
	// The provider refusing the user goes back to the app too.
	o.op.Deny("access_denied")
	back := o.browser(o.startURL("dev", "test", testAppRedirect))
	o.op.Deny("")
	if back.Query().Get("error") != "access_denied" || back.Query().Get("code") != "" {
		t.Errorf("denied sign-in ended at %s", back)
	}
}
