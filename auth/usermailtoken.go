package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/skybridgehq/skybridge/mail"
	"github.com/skybridgehq/skybridge/store"
)

// Mailed tokens (email verification, password reset) live in the
// environment database, in collUserTokens, keyed by the hex SHA-256 of the
// token: the token itself is only ever in the mail. Each is single use
// (a compare-and-swap sets used) and expires.
//
// A new reset request leaves earlier reset links valid until they expire
// or one of them is used: each reset token records a stamp of the password
// hash it was issued under, so that once the password changes — by any
// reset link, or the user changing it — every older reset link stops
// working. A verification token records the email it was sent to and stops
// working when the user's email is no longer that one.
const collUserTokens = "userTokens"

// Token lifetimes.
const (
	// VerifyTokenTTL is how long an email verification link works.
	VerifyTokenTTL = 24 * time.Hour
	// ResetTokenTTL is how long a password reset link works.
	ResetTokenTTL = time.Hour
)

// MailTokenLen is the length of a mailed token: 32 random bytes in
// unpadded base64url.
const MailTokenLen = 43

// Purposes of mailed tokens.
const (
	purposeVerify = "verify"
	purposeReset  = "reset"
)

// Fields of mailed token documents.
const (
	fieldPurpose       = "purpose"
	fieldUsed          = "used"
	fieldPasswordStamp = "passwordStamp"
)

// Sentinel errors of mailed tokens.
var (
	// ErrBadToken: a verification or reset token that is malformed,
	// unknown, used, expired, or no longer matches the user.
	ErrBadToken = errors.New("auth: invalid, used or expired token")
	// ErrAlreadyVerified: the user's email is verified already.
	ErrAlreadyVerified = errors.New("auth: email already verified")
)

// WellFormedMailToken reports whether tok has the shape of a mailed token,
// so that garbage is refused without a lookup.
func WellFormedMailToken(tok string) bool {
	if len(tok) != MailTokenLen {
		return false
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '-' || c == '_') {
			return false
		}
	}
	// 43 characters carry 258 bits: the last one may only hold 4 bits.
	_, err := base64.RawURLEncoding.Strict().DecodeString(tok)
	return err == nil
}

// passwordStamp fingerprints a password hash without storing it again.
func passwordStamp(hash string) string {
	sum := sha256.Sum256([]byte("reset-stamp:" + hash))
	return hex.EncodeToString(sum[:8])
}

// issueMailToken stores a new token of purpose for the user document u
// and returns the token.
func (s *Service) issueMailToken(ctx context.Context, db store.DB, u store.Doc, purpose string, ttl time.Duration) (string, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("mail token: %w", err)
	}
	tok := base64.RawURLEncoding.EncodeToString(raw[:])
	now := s.now()
	d := store.Doc{
		store.FieldID:  hashSecret(tok),
		fieldPurpose:   purpose,
		fieldUserID:    store.DocID(u),
		fieldEmail:     docString(u, fieldEmail),
		fieldUsed:      false,
		fieldCreatedAt: store.FormatTime(now),
		fieldExpiresAt: store.FormatTime(now.Add(ttl)),
	}
	if purpose == purposeReset {
		d[fieldPasswordStamp] = passwordStamp(docString(u, fieldPasswordHash))
	}
	if _, err := db.Collection(collUserTokens).Insert(ctx, d); err != nil {
		return "", fmt.Errorf("store mail token: %w", err)
	}
	return tok, nil
}

// checkMailToken finds a live token of purpose and its user; it does not
// spend it. Every refusal is ErrBadToken.
func (s *Service) checkMailToken(ctx context.Context, db store.DB, tok, purpose string) (token, user store.Doc, err error) {
	if !WellFormedMailToken(tok) {
		return nil, nil, fmt.Errorf("%w: malformed token", ErrBadToken)
	}
	token, err = db.Collection(collUserTokens).Get(ctx, hashSecret(tok))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, fmt.Errorf("%w: unknown token", ErrBadToken)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("check token: %w", err)
	}
	exp, err := parseTime(token[fieldExpiresAt])
	switch {
	case docString(token, fieldPurpose) != purpose:
		return nil, nil, fmt.Errorf("%w: unknown token", ErrBadToken)
	case token[fieldUsed] == true:
		return nil, nil, fmt.Errorf("%w: the token was used already", ErrBadToken)
	case err != nil || !s.now().Before(exp):
		return nil, nil, fmt.Errorf("%w: the token expired", ErrBadToken)
	}
	user, err = db.Collection(collUsers).Get(ctx, docString(token, fieldUserID))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, fmt.Errorf("%w: the user is gone", ErrBadToken)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("check token: %w", err)
	}
	switch {
	case user[fieldDisabled] == true:
		return nil, nil, fmt.Errorf("%w: the user is disabled", ErrBadToken)
	case docString(user, fieldEmail) != docString(token, fieldEmail):
		return nil, nil, fmt.Errorf("%w: the user's email changed since", ErrBadToken)
	case purpose == purposeReset && passwordStamp(docString(user, fieldPasswordHash)) != docString(token, fieldPasswordStamp):
		return nil, nil, fmt.Errorf("%w: the password changed since", ErrBadToken)
	}
	return token, user, nil
}

// spendMailToken marks a checked token used; of two concurrent spends at
// most one succeeds.
func spendMailToken(ctx context.Context, db store.DB, token store.Doc) error {
	_, err := db.Collection(collUserTokens).Update(ctx, store.DocID(token), store.DocVersion(token), store.Update{Set: map[string]any{fieldUsed: true}})
	if errors.Is(err, store.ErrVersionConflict) || errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: the token was used already", ErrBadToken)
	}
	if err != nil {
		return fmt.Errorf("spend token: %w", err)
	}
	return nil
}

// RequestEmailVerification mails the user a verification link. A user
// without email is ErrInvalid; a verified one ErrAlreadyVerified; an
// environment without mail settings ErrMailNotConfigured; an SMTP failure
// wraps mail.ErrDelivery.
func (s *Service) RequestEmailVerification(ctx context.Context, env Environment, db store.DB, userID string) error {
	ms, srv, err := s.mailConfig(ctx, env.AppID, env.Name)
	if err != nil {
		return err
	}
	u, err := db.Collection(collUsers).Get(ctx, userID)
	if err != nil {
		return fmt.Errorf("request verification: %w", notFound(err))
	}
	switch {
	case docString(u, fieldEmail) == "":
		return fmt.Errorf("%w: the user has no email address", ErrInvalid)
	case u[fieldEmailVerified] == true:
		return fmt.Errorf("%w: %s", ErrAlreadyVerified, docString(u, fieldEmail))
	}
	tok, err := s.issueMailToken(ctx, db, u, purposeVerify, VerifyTokenTTL)
	if err != nil {
		return err
	}
	return s.mailer().Send(ctx, srv, mail.Message{
		From: ms.From, To: docString(u, fieldEmail), Subject: "Verify your email address",
		Body: "Please confirm your email address by opening this link:\n\n" + withToken(ms.VerifyURL, tok) +
			"\n\nThe link works once and expires in 24 hours. If you did not create an account, ignore this message.\n",
	})
}

// VerifyEmail spends a verification token and marks the user's email
// verified. Refusals are ErrBadToken.
func (s *Service) VerifyEmail(ctx context.Context, db store.DB, token string) (User, error) {
	tk, u, err := s.checkMailToken(ctx, db, token, purposeVerify)
	if err != nil {
		return User{}, err
	}
	if err := spendMailToken(ctx, db, tk); err != nil {
		return User{}, err
	}
	nd, err := db.Collection(collUsers).Update(ctx, store.DocID(u), 0, store.Update{Set: map[string]any{fieldEmailVerified: true}})
	if err != nil {
		return User{}, fmt.Errorf("verify email: %w", notFound(err))
	}
	s.log.InfoContext(ctx, "email verified", "environment", db.Name(), "user", store.DocID(u))
	return userFromDoc(nd)
}

// ResetPassword spends a reset token and sets the user's new password
// (the app user password policy applies, checked before the token is
// spent), marks the email verified (the user proved the mailbox) and
// revokes every session of the user. Token refusals are ErrBadToken.
func (s *Service) ResetPassword(ctx context.Context, db store.DB, token, password string) error {
	tk, u, err := s.checkMailToken(ctx, db, token, purposeReset)
	if err != nil {
		return err
	}
	if err := checkUserPassword(password, docString(u, fieldEmail)); err != nil {
		return err
	}
	hash, err := s.hashPassword(ctx, password)
	if err != nil {
		return fmt.Errorf("reset password: %w", err)
	}
	if err := spendMailToken(ctx, db, tk); err != nil {
		return err
	}
	_, err = db.Collection(collUsers).Update(ctx, store.DocID(u), store.DocVersion(u), store.Update{Set: map[string]any{
		fieldPasswordHash: hash, fieldEmailVerified: true,
	}})
	if errors.Is(err, store.ErrVersionConflict) {
		return fmt.Errorf("%w: the user changed meanwhile; request a new link", ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("reset password: %w", err)
	}
	if err := s.revokeUserSessions(ctx, db, store.DocID(u), ""); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "password reset", "environment", db.Name(), "user", store.DocID(u))
	return nil
}

// sendResetMail issues a reset token for user u and mails it.
func (s *Service) sendResetMail(ctx context.Context, db store.DB, ms MailSettings, srv mail.Server, u store.Doc) error {
	tok, err := s.issueMailToken(ctx, db, u, purposeReset, ResetTokenTTL)
	if err != nil {
		return err
	}
	return s.mailer().Send(ctx, srv, mail.Message{
		From: ms.From, To: docString(u, fieldEmail), Subject: "Reset your password",
		Body: "To choose a new password for your account, open this link:\n\n" + withToken(ms.ResetURL, tok) +
			"\n\nThe link works once and expires in 1 hour. If you did not ask for this, ignore this message: your password stays as it is.\n",
	})
}

// ForgotPassword mails a reset link to the user with that email, if there
// is one. So that the answer says nothing about which emails have
// accounts, the lookup and the mail happen in the background, after it
// returned, for known and unknown emails alike; WaitMail waits for them.
// Only a malformed email (ErrInvalid) and an environment without mail
// settings (ErrMailNotConfigured) are reported.
func (s *Service) ForgotPassword(ctx context.Context, env Environment, db store.DB, email string) error {
	email, err := NormalizeEmail(email)
	if err != nil {
		return err
	}
	ms, srv, err := s.mailConfig(ctx, env.AppID, env.Name)
	if err != nil {
		return err
	}
	s.mailJobs.run(ctx, s, func(ctx context.Context) {
		u, err := findOne(ctx, db.Collection(collUsers), fieldEmail, email)
		if errors.Is(err, ErrNotFound) || err == nil && u[fieldDisabled] == true {
			return
		}
		if err == nil {
			err = s.sendResetMail(ctx, db, ms, srv, u)
		}
		if err != nil {
			s.log.ErrorContext(ctx, "password reset mail", "environment", env.DB, "err", err)
		}
	})
	return nil
}

// AdminPasswordReset mails the user a reset link on an admin's behalf.
// Unknown users are ErrNotFound, users without email ErrInvalid; SMTP
// failures wrap mail.ErrDelivery.
func (s *Service) AdminPasswordReset(ctx context.Context, env Environment, db store.DB, userID string) error {
	ms, srv, err := s.mailConfig(ctx, env.AppID, env.Name)
	if err != nil {
		return err
	}
	u, err := db.Collection(collUsers).Get(ctx, userID)
	if errors.Is(err, store.ErrInvalid) {
		err = store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("password reset: %w", notFound(err))
	}
	if docString(u, fieldEmail) == "" {
		return fmt.Errorf("%w: the user has no email address", ErrInvalid)
	}
	return s.sendResetMail(ctx, db, ms, srv, u)
}

// WaitMail waits until the background mails (ForgotPassword) have been
// sent or have failed, or ctx ends. Call it on shutdown.
func (s *Service) WaitMail(ctx context.Context) error {
	return s.mailJobs.wait(ctx)
}

// maxMailJobs bounds the background mails in flight; past it, requests
// are dropped with a warning (forgot is rate limited per email and
// address in the API, so this only bites under a flood).
const maxMailJobs = 64

// mailJobTimeout bounds one background mail, lookup included.
const mailJobTimeout = 2 * time.Minute

// mailJobs tracks the background mails; its zero value is ready.
type mailJobs struct {
	wg       sync.WaitGroup
	inFlight atomic.Int32
}

// run starts job in the background with a context that outlives the
// request but keeps its values.
func (j *mailJobs) run(ctx context.Context, s *Service, job func(context.Context)) {
	if j.inFlight.Add(1) > maxMailJobs {
		j.inFlight.Add(-1)
		s.log.WarnContext(ctx, "too many background mails in flight; password reset mail dropped")
		return
	}
	j.wg.Add(1)
	go func() {
		defer j.wg.Done()
		defer j.inFlight.Add(-1)
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), mailJobTimeout)
		defer cancel()
		job(ctx)
	}()
}

func (j *mailJobs) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		j.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
