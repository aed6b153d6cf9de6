package mail_test

import (
	"context"
	"errors"
	"mime"
	"strings"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/internal/testenv/smtpserver"
	"github.com/skybridgehq/skybridge/mail"
)

const wait = 10 * time.Second

func testMessage() mail.Message {
	return mail.Message{
		From:    "Todo App <no-reply@example.com>",
		To:      "ada@example.com",
		Subject: "Réinitialiser le mot de passe",
		Body:    "Open this link:\nhttps://app.example.com/reset?token=abc\n",
	}
}

func TestSendOverEverySecurityMode(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		opts smtpserver.Options
		sec  mail.Security
		user string
		pass string
	}{
		{"plain", smtpserver.Options{}, mail.NoTLS, "", ""},
		{"plain-auth-loopback", smtpserver.Options{Username: "mailer", Password: "s3cret"}, mail.NoTLS, "mailer", "s3cret"},
		{"starttls-auth", smtpserver.Options{StartTLS: true, Username: "mailer", Password: "s3cret"}, mail.StartTLS, "mailer", "s3cret"},
		{"implicit-tls", smtpserver.Options{ImplicitTLS: true}, mail.ImplicitTLS, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := smtpserver.Start(t, c.opts)
			s := mail.NewSender(mail.Config{RootCAs: srv.RootCAs(), Timeout: wait})
			err := s.Send(t.Context(), mail.Server{Host: srv.Host(), Port: srv.Port(), Username: c.user, Password: c.pass, Security: c.sec}, testMessage())
			if err != nil {
				t.Fatal(err)
			}
			m, ok := srv.Next(wait)
			if !ok {
				t.Fatal("no message arrived")
			}
			if m.From != "no-reply@example.com" || len(m.To) != 1 || m.To[0] != "ada@example.com" {
				t.Errorf("envelope %q → %q", m.From, m.To)
			}
			if m.TLS != (c.sec != mail.NoTLS) || m.Authed != (c.user != "") {
				t.Errorf("tls %v authed %v", m.TLS, m.Authed)
			}
			h, body, err := m.Parse()
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"Date", "Message-Id", "From", "To", "Subject", "Content-Type"} {
				if h.Get(name) == "" {
					t.Errorf("header %s missing", name)
				}
			}
			if h.Get("Content-Type") != "text/plain; charset=utf-8" || !strings.HasSuffix(h.Get("Message-Id"), "@example.com>") {
				t.Errorf("headers %v", h)
			}
			if subj, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject")); err != nil || subj != testMessage().Subject {
				t.Errorf("subject %q (%v)", subj, err)
			}
			if !strings.Contains(body, "https://app.example.com/reset?token=abc") {
				t.Errorf("body %q", body)
			}
		})
	}
}

func TestSendRefusals(t *testing.T) {
	t.Parallel()
	authed := smtpserver.Start(t, smtpserver.Options{StartTLS: true, Username: "mailer", Password: "s3cret"})
	plain := smtpserver.Start(t, smtpserver.Options{})
	trusting := mail.NewSender(mail.Config{RootCAs: authed.RootCAs(), Timeout: wait})
	system := mail.NewSender(mail.Config{Timeout: wait})
	srv := func(s *smtpserver.Server, sec mail.Security, user, pass string) mail.Server {
		return mail.Server{Host: s.Host(), Port: s.Port(), Security: sec, Username: user, Password: pass}
	}
	cases := []struct {
		name   string
		sender *mail.Sender
		srv    mail.Server
		want   error
	}{
		{"wrong password", trusting, srv(authed, mail.StartTLS, "mailer", "wrong"), mail.ErrDelivery},
		{"no credentials", trusting, srv(authed, mail.StartTLS, "", ""), mail.ErrDelivery},
		{"untrusted certificate", system, srv(authed, mail.StartTLS, "mailer", "s3cret"), mail.ErrDelivery},
		{"no STARTTLS offered", trusting, srv(plain, mail.StartTLS, "", ""), mail.ErrDelivery},
		{"password in clear to a remote host", trusting, mail.Server{Host: "smtp.example.com", Port: 25, Security: mail.NoTLS, Username: "u", Password: "p"}, mail.ErrInvalid},
		{"bad security", trusting, mail.Server{Host: "smtp.example.com", Port: 25, Security: "ssl"}, mail.ErrInvalid},
		{"bad port", trusting, mail.Server{Host: "smtp.example.com", Port: 0, Security: mail.NoTLS}, mail.ErrInvalid},
		{"bad host", trusting, mail.Server{Host: "smtp example.com", Port: 25, Security: mail.NoTLS}, mail.ErrInvalid},
	}
	for _, c := range cases {
		err := c.sender.Send(t.Context(), c.srv, testMessage())
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if n := len(authed.Messages()) + len(plain.Messages()); n != 0 {
		t.Errorf("%d messages got through", n)
	}
	if authed.AuthFailures() == 0 {
		t.Error("the wrong password was not tried")
	}
}

func TestHeaderInjectionRefused(t *testing.T) {
	t.Parallel()
	srv := smtpserver.Start(t, smtpserver.Options{})
	s := mail.NewSender(mail.Config{Timeout: wait})
	base := testMessage()
	bad := []mail.Message{
		{From: base.From, To: "ada@example.com\r\nBcc: eve@example.com", Subject: base.Subject, Body: base.Body},
		{From: "no-reply@example.com\nBcc: eve@example.com", To: base.To, Subject: base.Subject, Body: base.Body},
		{From: base.From, To: base.To, Subject: "Hi\r\nBcc: eve@example.com", Body: base.Body},
		{From: base.From, To: base.To, Subject: "Hi\nX-Evil: 1", Body: base.Body},
		{From: base.From, To: "not an address", Subject: base.Subject, Body: base.Body},
		{From: base.From, To: base.To, Subject: "", Body: base.Body},
	}
	for _, m := range bad {
		err := s.Send(t.Context(), mail.Server{Host: srv.Host(), Port: srv.Port(), Security: mail.NoTLS}, m)
		if !errors.Is(err, mail.ErrInvalid) {
			t.Errorf("%q / %q / %q: %v", m.From, m.To, m.Subject, err)
		}
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages got through", n)
	}
}

func TestSendHonoursContext(t *testing.T) {
	t.Parallel()
	srv := smtpserver.Start(t, smtpserver.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := mail.NewSender(mail.Config{}).Send(ctx, mail.Server{Host: srv.Host(), Port: srv.Port(), Security: mail.NoTLS}, testMessage())
	if !errors.Is(err, mail.ErrDelivery) || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled send: %v", err)
	}
}

func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"a@example.com", "Ada <a@example.com>", "a@example.com\r\nBcc: b@example.com", "", "<>", "=?utf-8?q?x?= <a@b.c>", "\"a\\\"b\" <a@b.c>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := mail.ParseAddress(s)
		if err != nil {
			if !errors.Is(err, mail.ErrInvalid) {
				t.Fatalf("%q: %v does not wrap ErrInvalid", s, err)
			}
			return
		}
		if strings.ContainsAny(a.String(), "\r\n") || strings.ContainsAny(a.Address, "\r\n") {
			t.Fatalf("%q parsed into a header with a line break: %q", s, a.String())
		}
	})
}
