package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/skybridgehq/skybridge/mail"
	"github.com/skybridgehq/skybridge/store"
)

// Mail settings of an environment live in the system database, one
// document per environment (its _id the environment's database name), the
// SMTP password sealed with the keyring (AAD binding app and environment)
// so that a copied document cannot be opened for another environment.
const collMailSettings = "mailSettings"

// Fields of mail settings documents.
const (
	fieldMailHost     = "host"
	fieldMailPort     = "port"
	fieldMailUsername = "username"
	fieldMailPassword = "passwordSealed" // base64 of keyring.Seal
	fieldMailFrom     = "from"
	fieldMailSecurity = "security"
	fieldVerifyURL    = "verifyURL"
	fieldResetURL     = "resetURL"
	fieldUpdatedAt    = "updatedAt"
)

// ErrMailNotConfigured: the environment has no mail settings, so no
// verification or reset mail can go out.
var ErrMailNotConfigured = errors.New("auth: mail is not configured for this environment")

// Mailer sends one message through an SMTP server; *mail.Sender is the
// implementation.
type Mailer interface {
	Send(ctx context.Context, srv mail.Server, msg mail.Message) error
}

var _ Mailer = (*mail.Sender)(nil)

// MailSettings is how an environment sends its users mail: the SMTP
// server, the sender address and the app's link templates, to which the
// token is appended as the token query parameter. The password is never
// returned; HasPassword says whether one is stored.
type MailSettings struct {
	Host     string        `json:"host"`
	Port     int           `json:"port"`
	Username string        `json:"username"`
	From     string        `json:"from"`
	Security mail.Security `json:"security"`
	// VerifyURL is the link of verification mails, e.g.
	// https://app.example.com/verify or a universal or custom-scheme link.
	VerifyURL string `json:"verifyURL"`
	// ResetURL is the link of password reset mails.
	ResetURL    string    `json:"resetURL"`
	HasPassword bool      `json:"hasPassword"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

// MailSettingsUpdate is the whole new mail configuration of an
// environment. Password nil keeps the stored password, "" removes it.
type MailSettingsUpdate struct {
	Host, Username, From string
	Port                 int
	Password             *string
	Security             mail.Security
	VerifyURL, ResetURL  string
}

// MailFieldError is a refused mail setting; Field names it as the admin
// API does (host, port, username, password, from, security, verifyURL,
// resetURL). It wraps ErrInvalid.
type MailFieldError struct {
	Field string
	Err   error
}

func (e *MailFieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *MailFieldError) Unwrap() error { return e.Err }

func mailFieldErr(field string, err error) error {
	return &MailFieldError{Field: field, Err: fmt.Errorf("%w: %w", ErrInvalid, err)}
}

// maxLinkLen bounds the link templates, so that a link with its token
// fits one mail line.
const maxLinkLen = 900

var schemeRe = regexp.MustCompile(`^[a-z][a-z0-9+.-]*$`)

// validLink checks a link template: an absolute URL without fragment,
// http(s) with a host or an app's own scheme (universal and custom-scheme
// links), never a scheme that runs code in a mail client.
func validLink(s string) error {
	if s == "" || len(s) > maxLinkLen {
		return fmt.Errorf("must be an absolute URL of at most %d bytes", maxLinkLen)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return errors.New("must not hold spaces or control characters")
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("must be an absolute URL: %v", err)
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case !schemeRe.MatchString(scheme):
		return errors.New("must be an absolute URL with a scheme")
	case scheme == "javascript" || scheme == "data" || scheme == "vbscript" || scheme == "file":
		return fmt.Errorf("scheme %q is not allowed", scheme)
	case (scheme == "http" || scheme == "https") && u.Host == "":
		return errors.New("an http(s) link needs a host")
	case u.Fragment != "" || strings.Contains(s, "#"):
		return errors.New("must not have a fragment (the token goes into the query)")
	case u.Query().Has("token"):
		return errors.New("must not have a token parameter already")
	}
	return nil
}

// withToken appends the token to a link template as ?token= (or &token=).
func withToken(link, token string) string {
	u, err := url.Parse(link)
	if err != nil { // validated when stored
		return link
	}
	q := u.Query()
	q.Set("token", token)
	u.RawQuery = q.Encode()
	return u.String()
}

// Validate checks every field and returns the MailFieldErrors of all
// refused ones, joined. A username with no password to keep is checked
// by PutMailSettings, which knows the stored one.
func (up MailSettingsUpdate) Validate() error {
	var errs []error
	srv := mail.Server{Host: up.Host, Port: up.Port, Username: up.Username, Security: up.Security}
	if up.Password != nil {
		srv.Password = *up.Password
	}
	// Server.Validate names the field first in its message; check field by
	// field so that each error is attributed to its own.
	probe := mail.Server{Host: "localhost", Port: 25, Security: mail.NoTLS}
	check := func(field string, s mail.Server) {
		if err := s.Validate(); err != nil {
			errs = append(errs, mailFieldErr(field, mailReason(err)))
		}
	}
	p := probe
	p.Host = up.Host
	check("host", p)
	p = probe
	p.Port = up.Port
	check("port", p)
	p = probe
	p.Username = up.Username
	check("username", p)
	p = probe
	p.Password = srv.Password
	check("password", p)
	if errors.Join(errs...) == nil {
		p = srv
		p.Password = ""
		check("security", p)
	}
	if _, err := mail.ParseAddress(up.From); err != nil {
		errs = append(errs, mailFieldErr("from", mailReason(err)))
	}
	if err := validLink(up.VerifyURL); err != nil {
		errs = append(errs, mailFieldErr("verifyURL", err))
	}
	if err := validLink(up.ResetURL); err != nil {
		errs = append(errs, mailFieldErr("resetURL", err))
	}
	return errors.Join(errs...)
}

// mailReason is what a mail package refusal says, without its sentinel's
// text (mailFieldErr adds this package's).
func mailReason(err error) error {
	return errors.New(strings.TrimPrefix(err.Error(), mail.ErrInvalid.Error()+": "))
}

func mailAAD(appID, env string) []byte {
	return []byte("mail-settings:" + appID + "/" + env)
}

// PutMailSettings replaces the mail settings of environment env of app
// appID (ErrNotFound when there is no such environment). Refused fields
// are MailFieldErrors, all of them joined.
func (s *Service) PutMailSettings(ctx context.Context, appID, env string, up MailSettingsUpdate) (MailSettings, error) {
	e, err := s.GetEnvironment(ctx, appID, env)
	if err != nil {
		return MailSettings{}, err
	}
	if err := up.Validate(); err != nil {
		return MailSettings{}, err
	}
	coll := s.sys.Collection(collMailSettings)
	old, err := coll.Get(ctx, e.DB)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return MailSettings{}, fmt.Errorf("put mail settings: %w", err)
	}
	sealed := docString(old, fieldMailPassword)
	if up.Password != nil {
		sealed = ""
		if *up.Password != "" {
			b, err := s.kr.Seal([]byte(*up.Password), mailAAD(appID, env))
			if err != nil {
				return MailSettings{}, fmt.Errorf("put mail settings: %w", err)
			}
			sealed = base64.StdEncoding.EncodeToString(b)
		}
	}
	if up.Username != "" && sealed == "" {
		return MailSettings{}, mailFieldErr("password", errors.New("is required when a username is set"))
	}
	d := store.Doc{
		store.FieldID:     e.DB,
		fieldAppID:        appID,
		fieldName:         env,
		fieldMailHost:     up.Host,
		fieldMailPort:     int64(up.Port),
		fieldMailUsername: up.Username,
		fieldMailFrom:     up.From,
		fieldMailSecurity: string(up.Security),
		fieldVerifyURL:    up.VerifyURL,
		fieldResetURL:     up.ResetURL,
		fieldUpdatedAt:    store.FormatTime(s.now()),
	}
	if sealed != "" {
		d[fieldMailPassword] = sealed
	}
	if old == nil {
		_, err = coll.Insert(ctx, d)
	} else {
		_, err = coll.Replace(ctx, e.DB, store.DocVersion(old), d)
	}
	if errors.Is(err, store.ErrDuplicate) || errors.Is(err, store.ErrVersionConflict) {
		return MailSettings{}, fmt.Errorf("%w: the mail settings changed meanwhile; retry", ErrConflict)
	}
	if err != nil {
		return MailSettings{}, fmt.Errorf("put mail settings: %w", err)
	}
	s.log.InfoContext(ctx, "mail settings updated", "app", appID, "environment", env, "host", up.Host)
	return mailSettingsFromDoc(d)
}

// GetMailSettings returns the mail settings of an environment, without
// the password; ErrNotFound when the environment does not exist,
// ErrMailNotConfigured when it has none.
func (s *Service) GetMailSettings(ctx context.Context, appID, env string) (MailSettings, error) {
	ms, _, err := s.mailConfig(ctx, appID, env)
	return ms, err
}

// mailConfig returns the settings and the SMTP server with its password
// opened.
func (s *Service) mailConfig(ctx context.Context, appID, env string) (MailSettings, mail.Server, error) {
	e, err := s.GetEnvironment(ctx, appID, env)
	if err != nil {
		return MailSettings{}, mail.Server{}, err
	}
	d, err := s.sys.Collection(collMailSettings).Get(ctx, e.DB)
	if errors.Is(err, store.ErrNotFound) {
		return MailSettings{}, mail.Server{}, fmt.Errorf("%w (%s/%s)", ErrMailNotConfigured, appID, env)
	}
	if err != nil {
		return MailSettings{}, mail.Server{}, fmt.Errorf("mail settings: %w", err)
	}
	ms, err := mailSettingsFromDoc(d)
	if err != nil {
		return MailSettings{}, mail.Server{}, err
	}
	srv := mail.Server{Host: ms.Host, Port: ms.Port, Username: ms.Username, Security: ms.Security}
	if sealed := docString(d, fieldMailPassword); sealed != "" {
		b, err := base64.StdEncoding.DecodeString(sealed)
		if err == nil {
			b, err = s.kr.Open(b, mailAAD(appID, env))
		}
		if err != nil {
			return MailSettings{}, mail.Server{}, fmt.Errorf("mail settings of %s/%s: open the password: %w", appID, env, err)
		}
		srv.Password = string(b)
	}
	return ms, srv, nil
}

func mailSettingsFromDoc(d store.Doc) (MailSettings, error) {
	ms := MailSettings{
		Host:        docString(d, fieldMailHost),
		Username:    docString(d, fieldMailUsername),
		From:        docString(d, fieldMailFrom),
		Security:    mail.Security(docString(d, fieldMailSecurity)),
		VerifyURL:   docString(d, fieldVerifyURL),
		ResetURL:    docString(d, fieldResetURL),
		HasPassword: docString(d, fieldMailPassword) != "",
	}
	port, _ := d[fieldMailPort].(int64)
	ms.Port = int(port)
	t, err := parseTime(d[fieldUpdatedAt])
	if err != nil {
		return MailSettings{}, fmt.Errorf("mail settings %q: %w", store.DocID(d), err)
	}
	ms.UpdatedAt = t
	return ms, nil
}

// SendTestMail sends a short message to to through the environment's mail
// settings. A refused address is ErrInvalid; an SMTP failure wraps
// mail.ErrDelivery with what the server said.
func (s *Service) SendTestMail(ctx context.Context, appID, env, to string) error {
	ms, srv, err := s.mailConfig(ctx, appID, env)
	if err != nil {
		return err
	}
	if _, err := mail.ParseAddress(to); err != nil {
		return fmt.Errorf("%w: to: %w", ErrInvalid, err)
	}
	return s.mailer().Send(ctx, srv, mail.Message{
		From:    ms.From,
		To:      to,
		Subject: "Skybridge test message",
		Body: "This is a test message from Skybridge for the " + env + " environment.\n" +
			"The mail settings of this environment work.\n",
	})
}

// mailer is Config.Mailer, or a mail.Sender with its defaults (it holds
// no state, so a new one per call costs nothing).
func (s *Service) mailer() Mailer {
	if s.cfg.Mailer != nil {
		return s.cfg.Mailer
	}
	return mail.NewSender(mail.Config{})
}
