package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/auth"
)

// runMailSettings: validation names the field, the password is never
// returned, an absent password is kept, and the test mail reports the
// SMTP error.
func runMailSettings(t *testing.T, m *mailEnv) {
	st, raw := m.callWith(bearer(m.admin), "GET", m.mailPath("dev", "/mail"), nil)
	if st != http.StatusOK {
		t.Fatalf("GET mail: %d %s", st, raw)
	}
	var ms map[string]any
	if err := json.Unmarshal(raw, &ms); err != nil {
		t.Fatal(err)
	}
	if ms["hasPassword"] != true || ms["username"] != testSMTPUser || ms["security"] != "starttls" || ms["verifyURL"] != testVerifyURL {
		t.Errorf("GET mail = %s", raw)
	}
	if _, ok := ms["password"]; ok || strings.Contains(string(raw), testSMTPPassword) {
		t.Errorf("GET mail leaks the password: %s", raw)
	}

	bad := []struct {
		over  map[string]any
		field string
	}{
		{map[string]any{"host": ""}, "host"},
		{map[string]any{"host": "smtp example.com"}, "host"},
		{map[string]any{"port": 0}, "port"},
		{map[string]any{"port": 70000}, "port"},
		{map[string]any{"port": "587"}, "port"},
		{map[string]any{"username": "a\r\nb"}, "username"},
		{map[string]any{"password": "x\r\ny"}, "password"},
		{map[string]any{"from": "no-reply@example.com\r\nBcc: eve@example.com"}, "from"},
		{map[string]any{"from": "nope"}, "from"},
		{map[string]any{"security": "ssl"}, "security"},
		{map[string]any{"security": nil}, "security"},
		{map[string]any{"host": "smtp.example.com", "security": "none"}, "security"},
		{map[string]any{"verifyURL": ""}, "verifyURL"},
		{map[string]any{"verifyURL": "javascript:alert(1)"}, "verifyURL"},
		{map[string]any{"verifyURL": "https://app.example.com/v#x"}, "verifyURL"},
		{map[string]any{"resetURL": "/relative"}, "resetURL"},
		{map[string]any{"resetURL": "https://app.example.com/r?token=1"}, "resetURL"},
		{map[string]any{"password": ""}, "password"}, // a username needs one
		{map[string]any{"bogus": 1}, "bogus"},
	}
	for _, b := range bad {
		st, data := m.callWith(bearer(m.admin), "PUT", m.mailPath("dev", "/mail"), m.settings(b.over))
		problemField(t, "PUT mail "+b.field, st, data, http.StatusBadRequest, b.field)
		if strings.Contains(string(data), testSMTPPassword) {
			t.Errorf("problem leaks the password: %s", data)
		}
	}
	st, data := m.callWith(bearer(m.admin), "PUT", m.mailPath("nope", "/mail"), m.settings(nil))
	problemField(t, "PUT mail of an unknown environment", st, data, http.StatusNotFound, "")
	st, data = m.callWith(bearer(m.admin), "GET", m.mailPath("stage", "/mail"), nil)
	problemField(t, "GET unset mail", st, data, http.StatusNotFound, "")

	// An absent password keeps the stored one: the test mail still logs in.
	var kept map[string]any
	m.putMail("dev", m.settings(map[string]any{"password": nil}), http.StatusOK, &kept)
	if kept["hasPassword"] != true {
		t.Errorf("PUT without password = %v", kept)
	}
	m.json(request{method: "POST", path: m.mailPath("dev", "/mail/test"), body: map[string]string{"to": "ops@example.com"}, headers: bearer(m.admin)}, http.StatusNoContent, nil)
	msg, ok := m.smtp.Next(mailWait)
	if !ok || msg.To[0] != "ops@example.com" || !msg.TLS || !msg.Authed {
		t.Fatalf("test mail: %v %+v", ok, msg)
	}
	st, data = m.callWith(bearer(m.admin), "POST", m.mailPath("dev", "/mail/test"), map[string]string{"to": "ops@example.com\r\nBcc: eve@example.com"})
	problemField(t, "test mail with CRLF", st, data, http.StatusBadRequest, "to")

	// A wrong SMTP password: the test mail is a 502 saying what the server
	// answered.
	m.putMail("dev", m.settings(map[string]any{"password": "wrong-password"}), http.StatusOK, nil)
	st, data = m.callWith(bearer(m.admin), "POST", m.mailPath("dev", "/mail/test"), map[string]string{"to": "ops@example.com"})
	p := problemOf(t, data)
	if st != http.StatusBadGateway || !strings.Contains(p.Detail, "535") {
		t.Errorf("test mail with a wrong password: %d %s", st, data)
	}
	m.putMail("dev", m.settings(nil), http.StatusOK, nil)
	m.noMail()
}

// runVerification: signup → request → mail → verify → me shows the email
// verified; the token works once.
func runVerification(t *testing.T, m *mailEnv) {
	// No mail settings in stage: 409 before anything else.
	stage := m.signup("stage", "grace@example.com", testUserPassword)
	st, data := m.call("stage", "POST", "/v1/auth/verify/request", stage.AccessToken, nil)
	if p := problemOf(t, data); st != http.StatusConflict || !strings.HasSuffix(p.Type, "mail-not-configured") {
		t.Errorf("verify/request without mail settings: %d %s", st, data)
	}
	st, data = m.call("stage", "POST", "/v1/auth/password/forgot", "", map[string]string{"email": "grace@example.com"})
	if p := problemOf(t, data); st != http.StatusConflict || !strings.HasSuffix(p.Type, "mail-not-configured") {
		t.Errorf("forgot without mail settings: %d %s", st, data)
	}

	s := m.signup("dev", "grace@example.com", testUserPassword)
	st, data = m.call("dev", "POST", "/v1/auth/verify/request", "", nil)
	problemField(t, "verify/request without a user", st, data, http.StatusUnauthorized, "")
	m.expect("dev", "POST", "/v1/auth/verify/request", s.AccessToken, nil, http.StatusAccepted, nil)
	msg, tok := m.nextMail("grace@example.com", "https://app.example.com/verify?")
	h, body, err := msg.Parse()
	if err != nil {
		t.Fatal(err)
	}
	if h.Get("Subject") != "Verify your email address" || h.Get("From") != `"Todo App" <no-reply@example.com>` || !strings.Contains(body, "src=mail") {
		t.Errorf("verification mail: %v\n%s", h, body)
	}
	var me map[string]any
	m.expect("dev", "GET", "/v1/auth/me", s.AccessToken, nil, 200, &me)
	if me["emailVerified"] != false {
		t.Errorf("me before verification: %v", me)
	}
	var verified map[string]any
	m.expect("dev", "POST", "/v1/auth/verify", "", map[string]string{"token": tok}, 200, &verified)
	if verified["emailVerified"] != true || verified["id"] != s.User.ID {
		t.Errorf("verify answered %v", verified)
	}
	m.expect("dev", "GET", "/v1/auth/me", s.AccessToken, nil, 200, &me)
	if me["emailVerified"] != true {
		t.Errorf("me after verification: %v", me)
	}
	for _, bad := range []string{tok, "short", strings.Repeat("A", auth.MailTokenLen), tok[:42] + "!"} {
		st, data := m.call("dev", "POST", "/v1/auth/verify", "", map[string]string{"token": bad})
		problemField(t, "verify with a spent or bad token", st, data, http.StatusBadRequest, "token")
	}
	st, data = m.call("dev", "POST", "/v1/auth/verify/request", s.AccessToken, nil)
	if p := problemOf(t, data); st != http.StatusConflict || !strings.HasSuffix(p.Type, "already-verified") {
		t.Errorf("verify/request when verified: %d %s", st, data)
	}
	// Every request counts against the per-user limit, refused ones too.
	for i := 1; i < verifyPerUser; i++ {
		m.call("dev", "POST", "/v1/auth/verify/request", s.AccessToken, nil)
	}
	st, data = m.call("dev", "POST", "/v1/auth/verify/request", s.AccessToken, nil)
	problemField(t, "verify/request past the limit", st, data, http.StatusTooManyRequests, "")
	var anon session
	m.expect("dev", "POST", "/v1/auth/anonymous", "", map[string]string{"deviceId": "device-0001"}, 200, &anon)
	st, data = m.call("dev", "POST", "/v1/auth/verify/request", anon.AccessToken, nil)
	problemField(t, "verify/request of an anonymous user", st, data, http.StatusBadRequest, "email")
	m.noMail()
}

// runPasswordReset: forgot answers the same for unknown emails and sends
// nothing; the reset sets the password, revokes the sessions and works
// once.
func runPasswordReset(t *testing.T, m *mailEnv) {
	const newPassword = "amber lighthouse in fog"
	s := m.signup("dev", "hopper@example.com", testUserPassword)

	stUnknown, unknown := m.call("dev", "POST", "/v1/auth/password/forgot", "", map[string]string{"email": "nobody@example.com"})
	m.noMail()
	stKnown, known := m.call("dev", "POST", "/v1/auth/password/forgot", "", map[string]string{"email": " Hopper@Example.com "})
	if stUnknown != http.StatusAccepted || stKnown != http.StatusAccepted || string(unknown) != string(known) {
		t.Errorf("forgot: unknown %d %q, known %d %q", stUnknown, unknown, stKnown, known)
	}
	if err := m.auth.WaitMail(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, tok := m.nextMail("hopper@example.com", testResetURL+"?")
	st, data := m.call("dev", "POST", "/v1/auth/password/forgot", "", map[string]string{"email": "not-an-email"})
	problemField(t, "forgot with a malformed email", st, data, http.StatusBadRequest, "email")

	// A weak password is refused without spending the token.
	st, data = m.call("dev", "POST", "/v1/auth/password/reset", "", map[string]string{"token": tok, "password": "short"})
	problemField(t, "reset with a weak password", st, data, http.StatusBadRequest, "password")
	m.expect("dev", "POST", "/v1/auth/password/reset", "", map[string]string{"token": tok, "password": newPassword}, http.StatusNoContent, nil)

	st, _ = m.call("dev", "POST", "/v1/auth/login", "", map[string]string{"email": "hopper@example.com", "password": testUserPassword})
	if st != http.StatusUnauthorized {
		t.Errorf("old password after reset: %d", st)
	}
	var login struct {
		User map[string]any `json:"user"`
	}
	m.expect("dev", "POST", "/v1/auth/login", "", map[string]string{"email": "hopper@example.com", "password": newPassword}, 200, &login)
	if login.User["emailVerified"] != true {
		t.Errorf("reset did not verify the email: %v", login.User)
	}
	st, _ = m.call("dev", "POST", "/v1/auth/refresh", "", map[string]string{"refreshToken": s.RefreshToken})
	if st != http.StatusUnauthorized {
		t.Errorf("old refresh token after reset: %d", st)
	}
	st, _ = m.call("dev", "GET", "/v1/auth/me", s.AccessToken, nil)
	if st != http.StatusUnauthorized {
		t.Errorf("old access token after reset: %d", st)
	}
	st, data = m.call("dev", "POST", "/v1/auth/password/reset", "", map[string]string{"token": tok, "password": "another fine password"})
	problemField(t, "reset with a spent token", st, data, http.StatusBadRequest, "token")

	// Rate limit per email: the sixth request in the window is a 429.
	for i := 0; i < forgotPerEmail; i++ {
		m.expect("dev", "POST", "/v1/auth/password/forgot", "", map[string]string{"email": "flood@example.com"}, http.StatusAccepted, nil)
	}
	st, data = m.call("dev", "POST", "/v1/auth/password/forgot", "", map[string]string{"email": "FLOOD@example.com"})
	problemField(t, "forgot past the limit", st, data, http.StatusTooManyRequests, "")
	m.noMail()
}

// runAdminReset: an admin mails a user a reset link that works.
func runAdminReset(t *testing.T, m *mailEnv) {
	s := m.signup("dev", "lovelace@example.com", testUserPassword)
	path := m.mailPath("dev", "/users/"+s.User.ID+"/password-reset")
	m.json(request{method: "POST", path: path, headers: bearer(m.admin)}, http.StatusAccepted, nil)
	_, tok := m.nextMail("lovelace@example.com", testResetURL+"?")
	m.expect("dev", "POST", "/v1/auth/password/reset", "", map[string]string{"token": tok, "password": "engine of analysis"}, http.StatusNoContent, nil)
	m.expect("dev", "POST", "/v1/auth/login", "", map[string]string{"email": "lovelace@example.com", "password": "engine of analysis"}, 200, nil)

	st, data := m.callWith(bearer(m.admin), "POST", m.mailPath("dev", "/users/nobody/password-reset"), nil)
	problemField(t, "admin reset of an unknown user", st, data, http.StatusNotFound, "")
	st, data = m.callWith(bearer(m.admin), "POST", m.mailPath("stage", "/users/"+s.User.ID+"/password-reset"), nil)
	problemField(t, "admin reset without mail settings", st, data, http.StatusConflict, "")
	st, _ = m.callWith(nil, "POST", path, nil)
	if st != http.StatusUnauthorized {
		t.Errorf("admin reset without a token: %d", st)
	}
	m.noMail()
}

// runExpiredTokens moves the service clock: a reset link dies after an
// hour, a verification link after a day.
func runExpiredTokens(t *testing.T, m *mailEnv) {
	defer m.skew.Store(0)
	s := m.signup("dev", "turing@example.com", testUserPassword)
	m.expect("dev", "POST", "/v1/auth/verify/request", s.AccessToken, nil, http.StatusAccepted, nil)
	_, verifyTok := m.nextMail("turing@example.com", "https://app.example.com/verify?")
	m.expect("dev", "POST", "/v1/auth/password/forgot", "", map[string]string{"email": "turing@example.com"}, http.StatusAccepted, nil)
	if err := m.auth.WaitMail(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, resetTok := m.nextMail("turing@example.com", testResetURL+"?")

	m.skew.Add(int64(auth.ResetTokenTTL + time.Minute))
	st, data := m.call("dev", "POST", "/v1/auth/password/reset", "", map[string]string{"token": resetTok, "password": "machine that thinks"})
	problemField(t, "reset with an expired token", st, data, http.StatusBadRequest, "token")
	if p := problemOf(t, data); !strings.Contains(p.Detail, "expired") {
		t.Errorf("expired reset token: %s", data)
	}

	m.skew.Add(int64(auth.VerifyTokenTTL))
	st, data = m.call("dev", "POST", "/v1/auth/verify", "", map[string]string{"token": verifyTok})
	problemField(t, "verify with an expired token", st, data, http.StatusBadRequest, "token")
	m.noMail()
}
