package api

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/internal/testenv/smtpserver"
	"github.com/skybridgehq/skybridge/internal/testenv/teststore"
	"github.com/skybridgehq/skybridge/keyring"
	"github.com/skybridgehq/skybridge/mail"
	"github.com/skybridgehq/skybridge/store"
)

// mailWait bounds how long a test waits for a mail to arrive.
const mailWait = 10 * time.Second

// Test SMTP credentials and link templates.
const (
	testSMTPUser     = "mailer"
	testSMTPPassword = "smtp-secret-9"
	testVerifyURL    = "https://app.example.com/verify?src=mail"
	testResetURL     = "todoapp://reset"
)

// mailEnv is a userEnv whose auth service mails through a local SMTP
// server that requires STARTTLS and AUTH PLAIN, with the dev environment's
// mail settings pointing at it.
type mailEnv struct {
	*userEnv
	smtp  *smtpserver.Server
	admin string // admin token
}

// newMailEnv builds a mailEnv over p (nil: a fresh SQLite store).
func newMailEnv(t *testing.T, p store.Provider) *mailEnv {
	t.Helper()
	ctx := t.Context()
	if p == nil {
		p = teststore.SQLite(t)
	}
	smtp := smtpserver.Start(t, smtpserver.Options{StartTLS: true, Username: testSMTPUser, Password: testSMTPPassword})
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
		Mailer:   mail.NewSender(mail.Config{RootCAs: smtp.RootCAs(), Timeout: mailWait}),
	})
	if _, err := svc.CreateAdmin(ctx, testAdminEmail, testAdminPassword, auth.RoleOwner); err != nil {
		t.Fatal(err)
	}
	a, err := New(Deps{Auth: svc, Store: p, Logger: log, Registry: prometheus.NewRegistry(), Version: "test"}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	e := &testEnv{t: t, api: a, srv: srv, auth: svc, store: p, log: buf}
	tok := e.login()
	u := &userEnv{testEnv: e, kr: kr, app: e.createApp(tok, "Todo"), other: e.createApp(tok, "Other"), skew: skew}
	m := &mailEnv{userEnv: u, smtp: smtp, admin: tok}
	m.putMail("dev", m.settings(nil), http.StatusOK, nil)
	return m
}

// settings is a valid mail settings body for the test server, changed by
// over (a nil value deletes the key).
func (m *mailEnv) settings(over map[string]any) map[string]any {
	s := map[string]any{
		"host": m.smtp.Host(), "port": m.smtp.Port(), "username": testSMTPUser, "password": testSMTPPassword,
		"from": "Todo App <no-reply@example.com>", "security": "starttls",
		"verifyURL": testVerifyURL, "resetURL": testResetURL,
	}
	for k, v := range over {
		if v == nil {
			delete(s, k)
		} else {
			s[k] = v
		}
	}
	return s
}

// mailPath is the admin path of env's mail settings plus suffix.
func (m *mailEnv) mailPath(env, suffix string) string {
	return "/admin/api/apps/" + m.app.ID + "/environments/" + env + suffix
}

// putMail sets env's mail settings over HTTP and expects status.
func (m *mailEnv) putMail(env string, body map[string]any, status int, out any) {
	m.t.Helper()
	m.json(request{method: "PUT", path: m.mailPath(env, "/mail"), body: body, headers: bearer(m.admin)}, status, out)
}

// nextMail waits for the next mail and returns it with the token of its
// link, which must start with prefix.
func (m *mailEnv) nextMail(to, prefix string) (smtpserver.Message, string) {
	m.t.Helper()
	msg, ok := m.smtp.Next(mailWait)
	if !ok {
		m.t.Fatalf("no mail arrived for %s", to)
	}
	if len(msg.To) != 1 || msg.To[0] != to || !msg.TLS || !msg.Authed {
		m.t.Fatalf("mail to %v (tls %v, authed %v), want %s over STARTTLS with AUTH", msg.To, msg.TLS, msg.Authed, to)
	}
	_, body, err := msg.Parse()
	if err != nil {
		m.t.Fatal(err)
	}
	i := strings.Index(body, prefix)
	if i < 0 {
		m.t.Fatalf("mail has no link %s...: %q", prefix, body)
	}
	link := strings.Fields(body[i:])[0]
	u, err := url.Parse(link)
	if err != nil {
		m.t.Fatal(err)
	}
	tok := u.Query().Get("token")
	if !auth.WellFormedMailToken(tok) {
		m.t.Fatalf("link %s has no well-formed token", link)
	}
	return msg, tok
}

// noMail checks that no mail is waiting, after the background mails have
// finished.
func (m *mailEnv) noMail() {
	m.t.Helper()
	if err := m.auth.WaitMail(m.t.Context()); err != nil {
		m.t.Fatal(err)
	}
	if msg, ok := m.smtp.Next(0); ok {
		m.t.Fatalf("unexpected mail to %v", msg.To)
	}
}

// problemField expects a problem with status naming field.
func problemField(t *testing.T, what string, st int, data []byte, status int, field string) {
	t.Helper()
	p := problemOf(t, data)
	if st != status || p.Status != status {
		t.Fatalf("%s: %d %s, want %d", what, st, data, status)
	}
	if field == "" {
		return
	}
	for _, fe := range p.Errors {
		if fe.Field == field {
			return
		}
	}
	t.Fatalf("%s: %s does not name %s", what, data, field)
}

// runUserMail runs every mail flow on one environment, in order.
func runUserMail(t *testing.T, m *mailEnv) {
	t.Run("settings", func(t *testing.T) { runMailSettings(t, m) })
	t.Run("verification", func(t *testing.T) { runVerification(t, m) })
	t.Run("reset", func(t *testing.T) { runPasswordReset(t, m) })
	t.Run("admin reset", func(t *testing.T) { runAdminReset(t, m) })
	t.Run("expired tokens", func(t *testing.T) { runExpiredTokens(t, m) })
}

func TestUserMailSQLite(t *testing.T) {
	t.Parallel()
	runUserMail(t, newMailEnv(t, nil))
}

func TestUserMailFerretDB(t *testing.T) {
	t.Parallel()
	runUserMail(t, newMailEnv(t, teststore.FerretDB(t)))
}
