package api

import (
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/skybridgehq/skybridge/internal/testenv/oidcprovider"
	"github.com/skybridgehq/skybridge/store"
)

func testOIDCLinking(t *testing.T, o *oidcEnv) {
	o.t = t
	pw := o.signup("dev", "pat@example.com", testUserPassword)
	sign := func(sub, email string, verified bool) session {
		t.Helper()
		c := o.op.Claims(oidcprovider.User{Subject: sub, Email: email, EmailVerified: verified})
		c["nonce"] = "n"
		st, data := o.idToken(o.op.MintIDToken(c), "n")
		var s session
		if st != 200 || json.Unmarshal(data, &s) != nil {
			t.Fatalf("sign-in of %s: %d %s", sub, st, data)
		}
		return s
	}
	// An unverified email never links to the password user, nor takes the
	// address: the new user has no email.
	un := sign("unverified-1", "Pat@example.com", false)
	if un.User.ID == pw.User.ID || un.User.Email != "" {
		t.Errorf("unverified email: user %+v", un.User)
	}
	// A verified one links: the same user, its email now verified.
	linked := sign("verified-1", "pat@example.com", true)
	if linked.User.ID != pw.User.ID {
		t.Fatalf("verified email made user %s, want %s", linked.User.ID, pw.User.ID)
	}
	var me map[string]any
	o.expect("dev", "GET", "/v1/auth/me", linked.AccessToken, nil, 200, &me)
	if me["emailVerified"] != true {
		t.Errorf("linked user %v", me)
	}
	// The account's email was unverified, so the pre-existing sessions are
	// revoked (the account may have been pre-registered by someone else).
	if st, _ := o.call("dev", "GET", "/v1/auth/me", pw.AccessToken, nil); st != 401 {
		t.Errorf("the unverified account's old session still works: %d", st)
	}
	// The browser flow links by verified email as well.
	o.signup("dev", "browser@example.com", testUserPassword)
	o.op.SetUser(oidcprovider.User{Subject: "browser-1", Email: "browser@example.com", EmailVerified: true})
	defer o.op.SetUser(oidcprovider.User{Subject: "user-1", Email: "user1@example.com", EmailVerified: true})
	b := o.signInBrowser()
	if b.User.Email != "browser@example.com" {
		t.Errorf("browser link: %+v", b.User)
	}
	// Whoever set the unverified account's password did not prove the
	// address: the password no longer signs in.
	o.expect("dev", "POST", "/v1/auth/login", "", map[string]string{"email": "browser@example.com", "password": testUserPassword}, 401, nil)
	// An unverified email that no one has is taken by the new user.
	fresh := sign("unverified-2", "fresh@example.com", false)
	if fresh.User.Email != "fresh@example.com" {
		t.Errorf("fresh unverified email: %+v", fresh.User)
	}
}

func testOIDCDisabled(t *testing.T, o *oidcEnv) {
	o.t = t
	c := o.op.Claims(oidcprovider.User{Subject: "to-disable", Email: "gone@example.com", EmailVerified: true})
	c["nonce"] = "n"
	st, data := o.idToken(o.op.MintIDToken(c), "n")
	var s session
	if st != 200 || json.Unmarshal(data, &s) != nil {
		t.Fatalf("sign-in: %d %s", st, data)
	}
	db, err := o.store.DB(t.Context(), store.EnvDBName(o.app.ID, "dev"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Collection("users").Update(t.Context(), s.User.ID, 0, store.Update{Set: map[string]any{"disabled": true}}); err != nil {
		t.Fatal(err)
	}
	if st, data := o.idToken(o.op.MintIDToken(c), "n"); st != 401 {
		t.Errorf("disabled user, ID token: %d %s", st, data)
	}
	o.op.SetUser(oidcprovider.User{Subject: "to-disable", Email: "gone@example.com", EmailVerified: true})
	defer o.op.SetUser(oidcprovider.User{Subject: "user-1", Email: "user1@example.com", EmailVerified: true})
	if back := o.browser(o.startURL("dev", "test", testAppRedirect)); back.Query().Get("error") != "access_denied" {
		t.Errorf("disabled user, browser flow ended at %s", back)
	}
}

func testOIDCAdmin(t *testing.T, o *oidcEnv) {
	o.t = t
	// The secret is never shown.
	resp := o.do(request{method: "GET", path: o.providersPath("dev"), headers: bearer(o.admin)})
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.Contains(string(raw), o.op.ClientSecret()) || strings.Contains(string(raw), "clientSecret\"") ||
		!strings.Contains(string(raw), `"hasClientSecret":true`) || !strings.Contains(string(raw), `"scopes":["openid","email","profile"]`) {
		t.Fatalf("list: %d %s", resp.StatusCode, raw)
	}
	// A replace without clientSecret keeps it; "" removes it.
	var p map[string]any
	o.putProvider("dev", "test", map[string]any{"issuer": o.op.Issuer(), "clientId": o.op.ClientID(), "redirectUris": []string{testAppRedirect}}, 200, &p)
	if p["hasClientSecret"] != true {
		t.Errorf("replace without secret: %v", p)
	}
	o.putProvider("dev", "second", map[string]any{"issuer": "https://accounts.example.com", "clientId": "c", "clientSecret": ""}, 200, &p)
	if p["hasClientSecret"] != false || p["name"] != "second" {
		t.Errorf("no secret: %v", p)
	}
	// Bad configurations name every bad field.
	resp = o.do(request{method: "PUT", path: o.providersPath("dev") + "/bad", headers: bearer(o.admin), body: map[string]any{
		"issuer": "http://accounts.example.com", "clientId": "", "redirectUris": []string{"/relative", "javascript:alert(1)"}, "scopes": []string{"a b"},
	}})
	prob, err := readProblem(resp, 400)
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]bool{}
	for _, e := range prob.Errors {
		fields[e.Field] = true
	}
	for _, f := range []string{"issuer", "clientId", "redirectUris[0]", "redirectUris[1]", "scopes[0]"} {
		if !fields[f] {
			t.Errorf("problem does not name %s: %+v", f, prob)
		}
	}
	resp = o.do(request{method: "PUT", path: o.providersPath("dev") + "/Bad_Name", headers: bearer(o.admin), body: map[string]any{"issuer": "https://a.example.com", "clientId": "c"}})
	if prob, err := readProblem(resp, 400); err != nil || len(prob.Errors) != 1 || prob.Errors[0].Field != "provider" {
		t.Errorf("bad name: %+v %v", prob, err)
	}
	resp = o.do(request{method: "PUT", path: "/admin/api/apps/nosuch/environments/dev/oidc/providers/x", headers: bearer(o.admin), body: map[string]any{"issuer": "https://a.example.com", "clientId": "c"}})
	if _, err := readProblem(resp, 404); err != nil {
		t.Errorf("unknown app: %v", err)
	}
	// Without an admin token: 401.
	resp = o.do(request{method: "GET", path: o.providersPath("dev")})
	if _, err := readProblem(resp, 401); err != nil {
		t.Errorf("no token: %v", err)
	}
	// Delete, then the provider is gone.
	o.json(request{method: "DELETE", path: o.providersPath("dev") + "/second", headers: bearer(o.admin)}, 204, nil)
	o.json(request{method: "DELETE", path: o.providersPath("dev") + "/second", headers: bearer(o.admin)}, 404, nil)
	var list struct {
		Items []map[string]any `json:"items"`
	}
	o.json(request{method: "GET", path: o.providersPath("dev"), headers: bearer(o.admin)}, 200, &list)
	if len(list.Items) != 1 || list.Items[0]["name"] != "test" {
		t.Errorf("after delete: %v", list.Items)
	}
}
