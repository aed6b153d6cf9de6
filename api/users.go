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
)

// userLoginIPFactor multiplies Config.LoginFailures into the number of
// failed user logins one client address may have per window, over all
// accounts: a shared NAT holds many honest users.
const userLoginIPFactor = 10

// userRoutes serves /v1/auth: app users' sign-up, login and sessions in
// the user pool of the request's environment.
type userRoutes struct {
	a          *API
	perAccount *loginLimiter // key: environment db | email
	perAddress *loginLimiter // key: environment db | client address
}

// bindUsers binds /v1/auth into the keyed /v1 group and puts the
// UserSession middleware in front of every /v1 route family: it must be
// the first family bound there, since chi takes middleware only before
// routes.
func (a *API) bindUsers(keyed chi.Router, spec *apiSpec) {
	u := &userRoutes{
		a:          a,
		perAccount: newLoginLimiter(a.cfg.LoginFailures, a.cfg.LoginWindow, time.Now),
		perAddress: newLoginLimiter(a.cfg.LoginFailures*userLoginIPFactor, a.cfg.LoginWindow, time.Now),
	}
	keyed.Use(a.userSession, a.rateLimit)
	keyed.Route("/auth", func(r chi.Router) {
		r.Use(NoStore)
		r.Post("/signup", u.signup)
		r.Post("/login", u.login)
		r.Post("/anonymous", u.anonymous)
		r.Post("/refresh", u.refresh)
		r.Post("/logout", a.requireUser(u.logout))
		r.Post("/link", a.requireUser(u.link))
		r.Post("/password", a.requireUser(u.password))
		r.Get("/me", a.requireUser(u.me))
		a.bindOIDC(r, spec)
		a.bindUserMail(r, spec)
	})
	describeUsers(spec)
}

// credentialsRequest is the body of signup, login and link.
type credentialsRequest struct {
	Email    string         `json:"email"`
	Password string         `json:"password"`
	Profile  map[string]any `json:"profile,omitempty"`
}

type anonymousRequest struct {
	DeviceID string `json:"deviceId"`
}

type refreshRequest struct {
	RefreshToken string `json:"refreshToken"`
}

type passwordRequest struct {
	CurrentPassword string `json:"currentPassword"`
	NewPassword     string `json:"newPassword"`
}

// sessionJSON is the answer of signup, login, anonymous, refresh and link.
type sessionJSON struct {
	User         auth.User `json:"user"`
	AccessToken  string    `json:"accessToken"`
	RefreshToken string    `json:"refreshToken,omitempty"`
	ExpiresIn    int64     `json:"expiresIn"` // seconds
}

func toSessionJSON(s auth.UserSession) sessionJSON {
	s.User.CreatedAt = s.User.CreatedAt.UTC()
	return sessionJSON{User: s.User, AccessToken: s.AccessToken, RefreshToken: s.RefreshToken, ExpiresIn: int64(s.ExpiresIn / time.Second)}
}

// userFieldErr names the field an auth error is about.
func userFieldErr(err error, emailField, passwordField string) error {
	switch {
	case errors.Is(err, auth.ErrWeakPassword):
		return onField(passwordField, err)
	case errors.Is(err, auth.ErrInvalid) && strings.Contains(err.Error(), "password"):
		return onField(passwordField, err)
	case errors.Is(err, auth.ErrInvalid) && strings.Contains(err.Error(), "profile"):
		return onField("profile", err)
	case errors.Is(err, auth.ErrInvalid) && strings.Contains(err.Error(), "deviceId"):
		return onField("deviceId", err)
	case errors.Is(err, auth.ErrInvalid), errors.Is(err, auth.ErrExists):
		return onField(emailField, err)
	}
	return err
}

// credentials decodes an {email, password, profile?} body and checks the
// first two are there; on failure it has answered.
func (u *userRoutes) credentials(w http.ResponseWriter, r *http.Request) (credentialsRequest, bool) {
	var req credentialsRequest
	if err := decodeJSON(r, &req); err != nil {
		u.a.fail(w, r, err)
		return req, false
	}
	if err := errors.Join(required("email", req.Email), required("password", req.Password)); err != nil {
		u.a.fail(w, r, err)
		return req, false
	}
	return req, true
}

func (u *userRoutes) signup(w http.ResponseWriter, r *http.Request) {
	req, ok := u.credentials(w, r)
	if !ok {
		return
	}
	env, _ := EnvironmentFrom(r.Context())
	s, err := u.a.deps.Auth.Signup(r.Context(), env, DBFrom(r.Context()), req.Email, req.Password, req.Profile)
	if err != nil {
		u.a.fail(w, r, userFieldErr(err, "email", "password"))
		return
	}
	u.a.respond(w, r, http.StatusCreated, toSessionJSON(noteSession(r, s)))
}

// login is rate limited per account and per client address: past the
// limit of failures in Config.LoginWindow the answer is a 429 with
// Retry-After, before any password is checked.
func (u *userRoutes) login(w http.ResponseWriter, r *http.Request) {
	req, ok := u.credentials(w, r)
	if !ok {
		return
	}
	if req.Profile != nil {
		u.a.fail(w, r, onField("profile", fmt.Errorf("%w: not accepted at login", ErrInvalidInput)))
		return
	}
	env, _ := EnvironmentFrom(r.Context())
	acct := env.DB + "|" + strings.ToLower(strings.TrimSpace(req.Email))
	addr := env.DB + "|" + clientHost(r)
	if wait := max(u.perAccount.wait(acct), u.perAddress.wait(addr)); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		u.a.fail(w, r, fmt.Errorf("%w: too many failed logins; retry in %s", ErrTooManyRequests, wait.Round(time.Second)))
		return
	}
	s, err := u.a.deps.Auth.Login(r.Context(), env, DBFrom(r.Context()), req.Email, req.Password)
	if errors.Is(err, auth.ErrBadCredentials) {
		u.perAccount.failed(acct)
		u.perAddress.failed(addr)
		u.a.refuseUser(w, r, err)
		return
	}
	if err != nil {
		u.a.fail(w, r, err)
		return
	}
	u.perAccount.succeeded(acct)
	u.a.respond(w, r, http.StatusOK, toSessionJSON(noteSession(r, s)))
}

func (u *userRoutes) anonymous(w http.ResponseWriter, r *http.Request) {
	var req anonymousRequest
	if err := decodeJSON(r, &req); err != nil {
		u.a.fail(w, r, err)
		return
	}
	if err := required("deviceId", req.DeviceID); err != nil {
		u.a.fail(w, r, err)
		return
	}
	env, _ := EnvironmentFrom(r.Context())
	s, err := u.a.deps.Auth.SignInAnonymous(r.Context(), env, DBFrom(r.Context()), req.DeviceID)
	if err != nil {
		u.a.fail(w, r, userFieldErr(err, "deviceId", "deviceId"))
		return
	}
	u.a.respond(w, r, http.StatusOK, toSessionJSON(noteSession(r, s)))
}

func (u *userRoutes) refresh(w http.ResponseWriter, r *http.Request) {
	var req refreshRequest
	if err := decodeJSON(r, &req); err != nil {
		u.a.fail(w, r, err)
		return
	}
	if err := required("refreshToken", req.RefreshToken); err != nil {
		u.a.fail(w, r, err)
		return
	}
	env, _ := EnvironmentFrom(r.Context())
	s, err := u.a.deps.Auth.Refresh(r.Context(), env, DBFrom(r.Context()), req.RefreshToken)
	if err != nil {
		u.a.fail(w, r, err)
		return
	}
	u.a.respond(w, r, http.StatusOK, toSessionJSON(noteSession(r, s)))
}

func (u *userRoutes) logout(w http.ResponseWriter, r *http.Request) {
	var req refreshRequest
	if err := decodeJSON(r, &req); err != nil {
		u.a.fail(w, r, err)
		return
	}
	claims, _ := UserClaimsFrom(r.Context())
	if err := u.a.deps.Auth.Logout(r.Context(), DBFrom(r.Context()), claims, req.RefreshToken); err != nil {
		u.a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (u *userRoutes) link(w http.ResponseWriter, r *http.Request) {
	req, ok := u.credentials(w, r)
	if !ok {
		return
	}
	env, _ := EnvironmentFrom(r.Context())
	claims, _ := UserClaimsFrom(r.Context())
	s, err := u.a.deps.Auth.LinkUser(r.Context(), env, DBFrom(r.Context()), claims, req.Email, req.Password)
	if err != nil {
		u.a.fail(w, r, userFieldErr(err, "email", "password"))
		return
	}
	u.a.respond(w, r, http.StatusOK, toSessionJSON(noteSession(r, s)))
}

func (u *userRoutes) password(w http.ResponseWriter, r *http.Request) {
	var req passwordRequest
	if err := decodeJSON(r, &req); err != nil {
		u.a.fail(w, r, err)
		return
	}
	if err := errors.Join(required("currentPassword", req.CurrentPassword), required("newPassword", req.NewPassword)); err != nil {
		u.a.fail(w, r, err)
		return
	}
	claims, _ := UserClaimsFrom(r.Context())
	err := u.a.deps.Auth.ChangePassword(r.Context(), DBFrom(r.Context()), claims, req.CurrentPassword, req.NewPassword)
	if errors.Is(err, auth.ErrBadCredentials) {
		err = onField("currentPassword", err)
	}
	if err != nil {
		u.a.fail(w, r, userFieldErr(err, "newPassword", "newPassword"))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (u *userRoutes) me(w http.ResponseWriter, r *http.Request) {
	user, _ := UserFrom(r.Context())
	user.CreatedAt = user.CreatedAt.UTC()
	u.a.respond(w, r, http.StatusOK, user)
}
