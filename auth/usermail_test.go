package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/skybridgehq/skybridge/mail"
	"github.com/skybridgehq/skybridge/store"
)

// recordingMailer keeps the messages instead of sending them.
type recordingMailer struct{ sent []mail.Message }

func (r *recordingMailer) Send(_ context.Context, _ mail.Server, m mail.Message) error {
	if err := m.Validate(); err != nil {
		return err
	}
	r.sent = append(r.sent, m)
	return nil
}

func testMailUpdate() MailSettingsUpdate {
	pw := "smtp-secret"
	return MailSettingsUpdate{
		Host: "smtp.example.com", Port: 587, Username: "mailer", Password: &pw,
		From: "no-reply@example.com", Security: mail.StartTLS,
		VerifyURL: "https://app.example.com/verify", ResetURL: "myapp://reset?x=1",
	}
}

// TestMailSettingsSealed: the password is stored sealed, bound to its
// environment, and never part of MailSettings.
func TestMailSettingsSealed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, sys, _ := testService(t, Config{})
	env := newApp(t, s).Environment
	ms, err := s.PutMailSettings(ctx, env.AppID, env.Name, testMailUpdate())
	if err != nil {
		t.Fatal(err)
	}
	if !ms.HasPassword || ms.Host != "smtp.example.com" || ms.Port != 587 {
		t.Errorf("settings %+v", ms)
	}
	d, err := sys.Collection(collMailSettings).Get(ctx, env.DB)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range d {
		if s, ok := v.(string); ok && strings.Contains(s, "smtp-secret") {
			t.Errorf("field %s holds the password in clear", k)
		}
	}
	_, srv, err := s.mailConfig(ctx, env.AppID, env.Name)
	if err != nil || srv.Password != "smtp-secret" {
		t.Fatalf("open the password: %q %v", srv.Password, err)
	}
	// Sealed for prod, the password does not open for dev.
	sealed, _ := base64.StdEncoding.DecodeString(docString(d, fieldMailPassword))
	if _, err := s.kr.Open(sealed, mailAAD(env.AppID, "dev")); err == nil {
		t.Error("the sealed password opens for another environment")
	}
	// Unknown environments and unset settings.
	if _, err := s.GetMailSettings(ctx, env.AppID, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown environment: %v", err)
	}
	if _, err := s.GetMailSettings(ctx, env.AppID, "dev"); !errors.Is(err, ErrMailNotConfigured) {
		t.Errorf("unset settings: %v", err)
	}
}

func TestMailSettingsValidate(t *testing.T) {
	t.Parallel()
	bad := map[string]func(*MailSettingsUpdate){
		"host":      func(u *MailSettingsUpdate) { u.Host = "a\r\nb" },
		"port":      func(u *MailSettingsUpdate) { u.Port = -1 },
		"username":  func(u *MailSettingsUpdate) { u.Username = "x\n" },
		"from":      func(u *MailSettingsUpdate) { u.From = "a@b.c\r\nBcc: d@e.f" },
		"security":  func(u *MailSettingsUpdate) { u.Security = "" },
		"verifyURL": func(u *MailSettingsUpdate) { u.VerifyURL = "data:text/html,hi" },
		"resetURL":  func(u *MailSettingsUpdate) { u.ResetURL = "https:///nohost" },
	}
	for field, change := range bad {
		up := testMailUpdate()
		change(&up)
		err := up.Validate()
		var fe *MailFieldError
		if !errors.As(err, &fe) || fe.Field != field || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", field, err)
		}
		if strings.HasSuffix(err.Error(), "invalid argument") {
			t.Errorf("%s: %q does not say what is wrong", field, err)
		}
	}
	if err := testMailUpdate().Validate(); err != nil {
		t.Errorf("valid settings refused: %v", err)
	}
}

func TestWithToken(t *testing.T) {
	t.Parallel()
	for link, want := range map[string]string{
		"https://app.example.com/verify":      "https://app.example.com/verify?token=T",
		"https://app.example.com/v?src=mail":  "https://app.example.com/v?src=mail&token=T",
		"myapp://reset":                       "myapp://reset?token=T",
		"https://app.example.com/a%20b?x=1&y": "https://app.example.com/a%20b?token=T&x=1&y=",
	} {
		if got := withToken(link, "T"); got != want {
			t.Errorf("withToken(%q) = %q, want %q", link, got, want)
		}
	}
}

// TestMailTokenSingleUse: a verification token is spent once, also when
// two spends race, and dies when the user's email changes.
func TestMailTokenSingleUse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rec := &recordingMailer{}
	s, _, _ := testService(t, Config{Mailer: rec})
	env := newApp(t, s).Environment
	if _, err := s.PutMailSettings(ctx, env.AppID, env.Name, testMailUpdate()); err != nil {
		t.Fatal(err)
	}
	db := s.sys
	ada := signedUpUser(t, s, env)
	if err := s.RequestEmailVerification(ctx, env, db, ada.User.ID); err != nil {
		t.Fatal(err)
	}
	if len(rec.sent) != 1 {
		t.Fatalf("%d mails", len(rec.sent))
	}
	tok := rec.sent[0].Body[strings.Index(rec.sent[0].Body, "token=")+len("token="):][:MailTokenLen]
	u, err := s.VerifyEmail(ctx, db, tok)
	if err != nil || !u.EmailVerified {
		t.Fatalf("verify: %+v %v", u, err)
	}
	if _, err := s.VerifyEmail(ctx, db, tok); !errors.Is(err, ErrBadToken) {
		t.Errorf("second use: %v", err)
	}
	if err := s.RequestEmailVerification(ctx, env, db, ada.User.ID); !errors.Is(err, ErrAlreadyVerified) {
		t.Errorf("request when verified: %v", err)
	}
	// Of two racing spends of one token, one wins.
	bob, err := s.Signup(ctx, env, db, "bob@example.com", "a long enough password", nil)
	if err != nil {
		t.Fatal(err)
	}
	bobDoc, err := db.Collection(collUsers).Get(ctx, bob.User.ID)
	if err != nil {
		t.Fatal(err)
	}
	race, err := s.issueMailToken(ctx, db, bobDoc, purposeVerify, VerifyTokenTTL)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := s.VerifyEmail(ctx, db, race)
			errs <- err
		}()
	}
	if e1, e2 := <-errs, <-errs; (e1 == nil) == (e2 == nil) {
		t.Errorf("racing spends: %v, %v; want exactly one success", e1, e2)
	}

	// A reset token stops working once the password changed otherwise.
	users := db.Collection(collUsers)
	doc, err := users.Get(ctx, ada.User.ID)
	if err != nil {
		t.Fatal(err)
	}
	reset, err := s.issueMailToken(ctx, db, doc, purposeReset, ResetTokenTTL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := users.Update(ctx, ada.User.ID, 0, store.Update{Set: map[string]any{fieldPasswordHash: "changed"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.ResetPassword(ctx, db, reset, "a brand new password"); !errors.Is(err, ErrBadToken) {
		t.Errorf("reset after a password change: %v", err)
	}
}

func FuzzWellFormedMailToken(f *testing.F) {
	for _, s := range []string{
		strings.Repeat("A", MailTokenLen), strings.Repeat("_", MailTokenLen), strings.Repeat("A", 42) + "B",
		"", "short", strings.Repeat("A", 44), strings.Repeat("+", MailTokenLen), strings.Repeat("A", 42) + "=",
		"sbr_" + strings.Repeat("a", 39),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ok := WellFormedMailToken(s)
		raw, err := base64.RawURLEncoding.Strict().DecodeString(s)
		want := err == nil && len(raw) == 32 && base64.RawURLEncoding.EncodeToString(raw) == s
		if ok != want {
			t.Fatalf("WellFormedMailToken(%q) = %v, want %v", s, ok, want)
		}
	})
}
