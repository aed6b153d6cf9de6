package api

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/mail"
)

// Limits of the routes that send mail. Every call counts (not only
// failures), per node, in a fixed window: they protect mailboxes from
// being flooded and the SMTP account from being burnt.
const (
	mailLimitWindow = 15 * time.Minute
	// forgotPerEmail is how many reset mails one email may be sent per
	// window (counted whether or not it has an account).
	forgotPerEmail = 5
	// forgotPerAddress is how many forgot calls one client address may
	// make per window, over all emails.
	forgotPerAddress = 30
	// verifyPerUser is how many verification mails one user may request
	// per window.
	verifyPerUser = 5
)

// userMailRoutes serves email verification and password reset under
// /v1/auth, in the user pool of the request's environment.
//
// Decisions: requesting verification for a verified email is a 409
// (already-verified); a malformed, unknown, used or expired token is a 400
// naming token (invalid-token); an environment without mail settings is
// a 409 (mail-not-configured), checked before any account is looked at;
// forgot answers 202 for every well-formed email and sends in the
// background (see auth.Service.ForgotPassword).
type userMailRoutes struct {
	a          *API
	perEmail   *loginLimiter // key: environment db | email (forgot)
	perAddress *loginLimiter // key: environment db | client address (forgot)
	perUser    *loginLimiter // key: environment db | user id (verify/request)
}

// bindUserMail binds email verification and password reset under /v1/auth.
func (a *API) bindUserMail(r chi.Router, spec *apiSpec) {
	m := &userMailRoutes{
		a:          a,
		perEmail:   newLoginLimiter(forgotPerEmail, mailLimitWindow, time.Now),
		perAddress: newLoginLimiter(forgotPerAddress, mailLimitWindow, time.Now),
		perUser:    newLoginLimiter(verifyPerUser, mailLimitWindow, time.Now),
	}
	r.Post("/verify/request", a.requireUser(m.requestVerification))
	r.Post("/verify", m.verify)
	r.Post("/password/forgot", m.forgot)
	r.Post("/password/reset", m.reset)
	describeUserMail(spec)
}

// tokenRequest is the body of POST /v1/auth/verify.
type tokenRequest struct {
	Token string `json:"token"`
}

// forgotRequest is the body of POST /v1/auth/password/forgot.
type forgotRequest struct {
	Email string `json:"email"`
}

// resetRequest is the body of POST /v1/auth/password/reset.
type resetRequest struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

// limited answers 429 (with Retry-After) when any limiter is over its
// limit for its key; otherwise it counts this call against every one.
func (m *userMailRoutes) limited(w http.ResponseWriter, r *http.Request, what string, keys map[*loginLimiter]string) bool {
	var wait time.Duration
	for l, k := range keys {
		wait = max(wait, l.wait(k))
	}
	if wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		m.a.fail(w, r, fmt.Errorf("%w: too many %s; retry in %s", ErrTooManyRequests, what, wait.Round(time.Second)))
		return true
	}
	for l, k := range keys {
		l.failed(k)
	}
	return false
}

func (m *userMailRoutes) requestVerification(w http.ResponseWriter, r *http.Request) {
	env, _ := EnvironmentFrom(r.Context())
	user, _ := UserFrom(r.Context())
	if m.limited(w, r, "verification mails", map[*loginLimiter]string{m.perUser: env.DB + "|" + user.ID}) {
		return
	}
	err := m.a.deps.Auth.RequestEmailVerification(r.Context(), env, DBFrom(r.Context()), user.ID)
	if errors.Is(err, auth.ErrInvalid) {
		err = onField("email", err)
	}
	if err != nil {
		m.a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (m *userMailRoutes) verify(w http.ResponseWriter, r *http.Request) {
	var req tokenRequest
	if err := decodeJSON(r, &req); err != nil {
		m.a.fail(w, r, err)
		return
	}
	if err := required("token", req.Token); err != nil {
		m.a.fail(w, r, err)
		return
	}
	u, err := m.a.deps.Auth.VerifyEmail(r.Context(), DBFrom(r.Context()), req.Token)
	if err != nil {
		m.a.fail(w, r, tokenFieldErr(err))
		return
	}
	noteUser(r.Context(), u)
	u.CreatedAt = u.CreatedAt.UTC()
	m.a.respond(w, r, http.StatusOK, u)
}

func (m *userMailRoutes) forgot(w http.ResponseWriter, r *http.Request) {
	var req forgotRequest
	if err := decodeJSON(r, &req); err != nil {
		m.a.fail(w, r, err)
		return
	}
	if err := required("email", req.Email); err != nil {
		m.a.fail(w, r, err)
		return
	}
	env, _ := EnvironmentFrom(r.Context())
	keys := map[*loginLimiter]string{
		m.perEmail:   env.DB + "|" + strings.ToLower(strings.TrimSpace(req.Email)),
		m.perAddress: env.DB + "|" + clientHost(r),
	}
	if m.limited(w, r, "password reset requests", keys) {
		return
	}
	err := m.a.deps.Auth.ForgotPassword(r.Context(), env, DBFrom(r.Context()), req.Email)
	if errors.Is(err, auth.ErrInvalid) {
		err = onField("email", err)
	}
	if err != nil {
		m.a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (m *userMailRoutes) reset(w http.ResponseWriter, r *http.Request) {
	var req resetRequest
	if err := decodeJSON(r, &req); err != nil {
		m.a.fail(w, r, err)
		return
	}
	if err := errors.Join(required("token", req.Token), required("password", req.Password)); err != nil {
		m.a.fail(w, r, err)
		return
	}
	err := m.a.deps.Auth.ResetPassword(r.Context(), DBFrom(r.Context()), req.Token, req.Password)
	if err != nil {
		m.a.fail(w, r, userFieldErr(tokenFieldErr(err), "password", "password"))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// tokenFieldErr names the token field of a refused mailed token.
func tokenFieldErr(err error) error {
	if errors.Is(err, auth.ErrBadToken) {
		return onField("token", err)
	}
	return err
}

// bindMailAdmin binds the admin routes of per-environment mail settings
// and the admin-initiated password reset.
func (a *API) bindMailAdmin(g chi.Router, spec *apiSpec) {
	const base = "/apps/{id}/environments/{env}"
	g.Get(base+"/mail", a.getMailSettings)
	g.Put(base+"/mail", a.putMailSettings)
	g.Post(base+"/mail/test", a.testMail)
	g.Post(base+"/users/{uid}/password-reset", a.adminPasswordReset)
	describeMailAdmin(spec, "/admin/api"+base)
}

// mailSettingsRequest is the body of PUT .../mail. An absent password
// keeps the stored one; "" removes it.
type mailSettingsRequest struct {
	Host      string  `json:"host"`
	Port      int     `json:"port"`
	Username  string  `json:"username"`
	Password  *string `json:"password"`
	From      string  `json:"from"`
	Security  string  `json:"security"`
	VerifyURL string  `json:"verifyURL"`
	ResetURL  string  `json:"resetURL"`
}

// mailTestRequest is the body of POST .../mail/test.
type mailTestRequest struct {
	To string `json:"to"`
}

// noteAdminEnvironment records the environment of an admin route in the
// audit note, once the route has resolved it.
func (a *API) noteAdminEnvironment(r *http.Request) (auth.Environment, bool) {
	env, err := a.auditedAdminEnv(r)
	if err != nil {
		return auth.Environment{}, false
	}
	return env, true
}

func (a *API) getMailSettings(w http.ResponseWriter, r *http.Request) {
	a.noteAdminEnvironment(r)
	ms, err := a.deps.Auth.GetMailSettings(r.Context(), pathParam(r, "id"), pathParam(r, "env"))
	if errors.Is(err, auth.ErrMailNotConfigured) {
		err = fmt.Errorf("%w: %w", auth.ErrNotFound, err)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ms.UpdatedAt = ms.UpdatedAt.UTC()
	a.respond(w, r, http.StatusOK, ms)
}

func (a *API) putMailSettings(w http.ResponseWriter, r *http.Request) {
	var req mailSettingsRequest
	if err := decodeJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	a.noteAdminEnvironment(r)
	ms, err := a.deps.Auth.PutMailSettings(r.Context(), pathParam(r, "id"), pathParam(r, "env"), auth.MailSettingsUpdate{
		Host: req.Host, Port: req.Port, Username: req.Username, Password: req.Password, From: req.From,
		Security: mail.Security(req.Security), VerifyURL: req.VerifyURL, ResetURL: req.ResetURL,
	})
	if err != nil {
		a.fail(w, r, mailFieldErrs(err))
		return
	}
	ms.UpdatedAt = ms.UpdatedAt.UTC()
	a.respond(w, r, http.StatusOK, ms)
}

// mailFieldErrs turns auth.MailFieldErrors, joined or not, into field
// errors of the problem.
func mailFieldErrs(err error) error {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		errs := joined.Unwrap()
		out := make([]error, 0, len(errs))
		for _, e := range errs {
			out = append(out, mailFieldErrs(e))
		}
		return errors.Join(out...)
	}
	if fe := (*auth.MailFieldError)(nil); errors.As(err, &fe) {
		return onField(fe.Field, fe.Err)
	}
	return err
}

func (a *API) testMail(w http.ResponseWriter, r *http.Request) {
	var req mailTestRequest
	if err := decodeJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	if err := required("to", req.To); err != nil {
		a.fail(w, r, err)
		return
	}
	a.noteAdminEnvironment(r)
	err := a.deps.Auth.SendTestMail(r.Context(), pathParam(r, "id"), pathParam(r, "env"), req.To)
	if errors.Is(err, auth.ErrInvalid) {
		err = onField("to", err)
	}
	if err != nil {
		a.failMail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) adminPasswordReset(w http.ResponseWriter, r *http.Request) {
	env, db, err := a.adminEnvironment(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	noteEnvironment(r.Context(), env, false)
	err = a.deps.Auth.AdminPasswordReset(r.Context(), env, db, pathParam(r, "uid"))
	if errors.Is(err, auth.ErrInvalid) {
		err = onField("uid", err)
	}
	if err != nil {
		a.failMail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// failMail is fail for admin routes that send mail: a delivery failure is
// a 502 whose detail carries what the SMTP server said (the admin needs it
// to fix the settings; app users never see it).
func (a *API) failMail(w http.ResponseWriter, r *http.Request, err error) {
	if !errors.Is(err, mail.ErrDelivery) {
		a.fail(w, r, err)
		return
	}
	a.log.WarnContext(r.Context(), "mail delivery failed", "requestId", RequestIDFrom(r.Context()), "path", r.URL.Path, "error", err.Error())
	p := problemFor(err)
	p.Detail = strings.ReplaceAll(err.Error(), "\n", "; ")
	writeProblem(w, r, p)
}

// describeUserMail registers the /v1/auth mail routes in the OpenAPI
// document.
func describeUserMail(spec *apiSpec) {
	spec.schema("TokenRequest", strictObject(map[string]any{
		"token": str("The token from the mailed link (its token query parameter)."),
	}, "token"))
	spec.schema("ForgotRequest", strictObject(map[string]any{
		"email": str("The email address of the account."),
	}, "email"))
	spec.schema("ResetRequest", strictObject(map[string]any{
		"token":    str("The token from the mailed reset link."),
		"password": str("The new password, under the signup rules."),
	}, "token", "password"))

	key := []string{schemeAppKey}
	spec.route(http.MethodPost, "/v1/auth/verify/request", operation{
		ID: "userVerifyRequest", Tag: "auth", Security: key,
		Summary:   "Mail the signed-in user a verification link, valid 24 hours (user access token in Authorization: Bearer). 409 when already verified or when the environment has no mail settings.",
		Responses: []response{{Status: 202, Description: "Sent."}},
		Problems:  []int{400, 401, 409, 429, 502},
	})
	spec.route(http.MethodPost, "/v1/auth/verify", operation{
		ID: "userVerify", Tag: "auth", Security: key,
		Summary:   "Spend a verification token: the user's email becomes verified. A malformed, unknown, used or expired token is a 400 naming token.",
		Request:   "TokenRequest",
		Responses: []response{{Status: 200, Description: "Verified.", Schema: "User"}},
		Problems:  []int{400, 401},
	})
	spec.route(http.MethodPost, "/v1/auth/password/forgot", operation{
		ID: "userPasswordForgot", Tag: "auth", Security: key,
		Summary:   "Mail a password reset link, valid 1 hour, if an account has that email. The answer is the same whether or not one has. 409 when the environment has no mail settings.",
		Request:   "ForgotRequest",
		Responses: []response{{Status: 202, Description: "Accepted."}},
		Problems:  []int{400, 401, 409, 429},
	})
	spec.route(http.MethodPost, "/v1/auth/password/reset", operation{
		ID: "userPasswordReset", Tag: "auth", Security: key,
		Summary:   "Spend a reset token and set a new password; every session of the user is revoked and the email counts as verified. A malformed, unknown, used or expired token is a 400 naming token.",
		Request:   "ResetRequest",
		Responses: []response{{Status: 204, Description: "The password is set."}},
		Problems:  []int{400, 401, 409},
	})
}

// describeMailAdmin registers the admin mail routes under base
// (/admin/api/apps/{id}/environments/{env}).
func describeMailAdmin(spec *apiSpec, base string) {
	settings := map[string]any{
		"host":      str("The SMTP server's host name or IP address."),
		"port":      integer("The SMTP port, 1 to 65535 (587 for starttls, 465 for tls)."),
		"username":  str("The SMTP AUTH PLAIN user; empty sends no AUTH."),
		"from":      str(`The sender: "no-reply@example.com" or "Todo <no-reply@example.com>".`),
		"security":  enumOf(string(mail.StartTLS), string(mail.ImplicitTLS), string(mail.NoTLS)),
		"verifyURL": str("The app's verification link; the token is appended as the token query parameter."),
		"resetURL":  str("The app's password reset link; the token is appended as the token query parameter."),
	}
	req := map[string]any{"password": str("The SMTP password, stored sealed and never returned; absent keeps the stored one, empty removes it.")}
	resp := map[string]any{
		"hasPassword": boolean("Whether a password is stored."),
		"updatedAt":   dateTime("When the settings were last changed."),
	}
	for k, v := range settings {
		req[k], resp[k] = v, v
	}
	spec.schema("MailSettingsRequest", strictObject(req, "host", "port", "from", "security", "verifyURL", "resetURL"))
	spec.schema("MailSettings", object(resp, "host", "port", "username", "from", "security", "verifyURL", "resetURL", "hasPassword", "updatedAt"))
	spec.schema("MailTestRequest", strictObject(map[string]any{
		"to": str("Where to send the test message."),
	}, "to"))

	bearer := []string{schemeBearer}
	spec.route(http.MethodGet, base+"/mail", operation{
		ID: "getMailSettings", Tag: "admin", Security: bearer,
		Summary:   "The environment's mail settings, without the password; 404 when none are set.",
		Responses: []response{{Status: 200, Description: "The settings.", Schema: "MailSettings"}},
		Problems:  []int{401, 403, 404},
	})
	spec.route(http.MethodPut, base+"/mail", operation{
		ID: "putMailSettings", Tag: "admin", Security: bearer,
		Summary:   "Set the environment's mail settings (SMTP server, sender, link templates).",
		Request:   "MailSettingsRequest",
		Responses: []response{{Status: 200, Description: "The settings as stored.", Schema: "MailSettings"}},
		Problems:  []int{400, 401, 403, 404, 409},
	})
	spec.route(http.MethodPost, base+"/mail/test", operation{
		ID: "testMail", Tag: "admin", Security: bearer,
		Summary:   "Send a test message with the environment's mail settings; a 502 carries the SMTP error.",
		Request:   "MailTestRequest",
		Responses: []response{{Status: 204, Description: "Sent."}},
		Problems:  []int{400, 401, 403, 404, 409, 502},
	})
	spec.route(http.MethodPost, base+"/users/{uid}/password-reset", operation{
		ID: "adminPasswordReset", Tag: "admin", Security: bearer,
		Summary:   "Mail the user a password reset link, valid 1 hour; a 502 carries the SMTP error.",
		Responses: []response{{Status: 202, Description: "Sent."}},
		Problems:  []int{400, 401, 403, 404, 409, 502},
	})
}
