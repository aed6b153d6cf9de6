package smtpserver

import (
	"net/smtp"
	"strings"
	"testing"
	"time"
)

// TestServerRecordsAndWaits drives the server with the standard library's
// client: messages come out of Next in order, and Next gives up at its
// deadline.
func TestServerRecordsAndWaits(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{Username: "u", Password: "p"})
	if _, ok := s.Next(10 * time.Millisecond); ok {
		t.Fatal("Next returned a message before any was sent")
	}
	auth := smtp.PlainAuth("", "u", "p", "127.0.0.1") // net/smtp allows PLAIN to a loopback host
	for _, subj := range []string{"one", "two"} {
		msg := "Subject: " + subj + "\r\n\r\nbody\r\n"
		if err := smtp.SendMail(s.Addr(), auth, "a@example.com", []string{"b@example.com"}, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"one", "two"} {
		m, ok := s.Next(5 * time.Second)
		if !ok {
			t.Fatalf("message %s did not arrive", want)
		}
		h, body, err := m.Parse()
		if err != nil || h.Get("Subject") != want || strings.TrimSpace(body) != "body" || !m.Authed || m.From != "a@example.com" {
			t.Errorf("message %s: %+v %q %v", want, h, body, err)
		}
	}
	bad := smtp.PlainAuth("", "u", "wrong", "127.0.0.1")
	if err := smtp.SendMail(s.Addr(), bad, "a@example.com", []string{"b@example.com"}, []byte("Subject: x\r\n\r\nx\r\n")); err == nil {
		t.Error("a wrong password was accepted")
	}
	if s.AuthFailures() != 1 || len(s.Messages()) != 2 {
		t.Errorf("auth failures %d, messages %d", s.AuthFailures(), len(s.Messages()))
	}
}
