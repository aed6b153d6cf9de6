package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/skybridgehq/skybridge/store"
)

// The browser flow: StartOIDC seals the flow's state and returns the
// provider's authorization URL (code flow, PKCE S256, nonce); at the
// callback, OpenOIDCCallback opens the state and CompleteOIDC trades the
// code at the token endpoint, verifies the ID token, signs the user in and
// issues a one-time code for the app, which ExchangeOIDCCode trades for a
// session. SignInWithIDToken is the native flow: the app got an ID token
// from the provider's SDK.

// collOIDCCodes holds the one-time codes of an environment, _id = hex
// SHA-256 of the code.
const collOIDCCodes = "oidcCodes"

// OIDCCodeTTL is how long the app has to exchange a one-time code.
const OIDCCodeTTL = 2 * time.Minute

// OIDCCodePrefix starts every one-time code.
const OIDCCodePrefix = "sbo_"

// Limits of OpenID input.
const (
	// MaxIDTokenBytes bounds an ID token given to SignInWithIDToken.
	MaxIDTokenBytes = 16 << 10
	// MaxOIDCNonceLen bounds a nonce.
	MaxOIDCNonceLen = 512
	// MaxOIDCAppStateLen bounds the app's own state passed through.
	MaxOIDCAppStateLen = 512
	oidcCodeBytes      = 32
)

// Fields of one-time code documents.
const (
	fieldOIDCCodeUser      = "userId"
	fieldOIDCCodeExpires   = "expiresAt"
	fieldOIDCCodeChallenge = "challenge" // the app's PKCE challenge, if it sent one
)

// OIDCStart is a browser sign-in to begin.
type OIDCStart struct {
	// Provider names the configured provider.
	Provider string
	// RedirectURI is where the flow ends: one of the provider's registered
	// app URIs, else an *OIDCFieldError on "redirect_uri".
	RedirectURI string
	// Callback is Skybridge's own callback URL, used unless the provider's
	// configuration names one.
	Callback string
	// AppState is given back to the app with the code (optional).
	AppState string
	// CodeChallenge, when set, is the app's own PKCE challenge (S256,
	// base64url of 32 bytes): the one-time code is then exchanged only
	// with its verifier, so an app that intercepts the redirect URI (a
	// custom scheme is anyone's to claim) cannot use the code.
	CodeChallenge string
}

// StartOIDC begins a browser sign-in in env and returns the provider's
// authorization URL to redirect to (code flow, PKCE S256, nonce).
func (s *Service) StartOIDC(ctx context.Context, env Environment, in OIDCStart) (string, error) {
	cfg, err := s.oidcConfigFor(ctx, env, in.Provider)
	if err != nil {
		return "", err
	}
	if in.RedirectURI == "" || !contains(cfg.RedirectURIs, in.RedirectURI) {
		return "", &OIDCFieldError{Field: "redirect_uri", Err: fmt.Errorf("%w: not a redirect URI registered for provider %q", ErrInvalid, in.Provider)}
	}
	if len(in.AppState) > MaxOIDCAppStateLen || !printable(in.AppState) {
		return "", &OIDCFieldError{Field: "state", Err: fmt.Errorf("%w: at most %d printable characters", ErrInvalid, MaxOIDCAppStateLen)}
	}
	if in.CodeChallenge != "" {
		if b, err := base64.RawURLEncoding.DecodeString(in.CodeChallenge); err != nil || len(b) != sha256.Size {
			return "", &OIDCFieldError{Field: "code_challenge", Err: fmt.Errorf("%w: must be the base64url SHA-256 of the verifier (S256)", ErrInvalid)}
		}
	}
	callback := in.Callback
	if cfg.CallbackURL != "" {
		callback = cfg.CallbackURL
	}
	p, err := s.oidcProvider(ctx, cfg)
	if err != nil {
		return "", err
	}
	nonce, err := randomToken(24)
	if err != nil {
		return "", err
	}
	st := oidcState{
		App: env.AppID, Env: env.Name, Provider: in.Provider, RedirectURI: in.RedirectURI, Callback: callback,
		Nonce: nonce, Verifier: oauth2.GenerateVerifier(), AppState: in.AppState, AppChallenge: in.CodeChallenge,
		Expires: s.now().Add(OIDCStateTTL).Unix(),
	}
	state, err := s.sealOIDCState(st)
	if err != nil {
		return "", err
	}
	return s.oauth2Config(cfg, p, callback).AuthCodeURL(state,
		oauth2.S256ChallengeOption(st.Verifier), oauth2.SetAuthURLParam("nonce", nonce)), nil
}

func (s *Service) oauth2Config(cfg oidcConfig, p *oidcEntry, callback string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: cfg.ClientID, ClientSecret: cfg.clientSecret,
		Endpoint: p.provider.Endpoint(), RedirectURL: callback, Scopes: cfg.Scopes,
	}
}

// OIDCCallback is an opened callback state: where the flow ends and in
// which environment.
type OIDCCallback struct {
	// Env is the environment the sign-in started in.
	Env Environment
	// RedirectURI is the app's URI to send the browser back to.
	RedirectURI string
	// AppState is the app's own state, to give back unchanged.
	AppState string
	st       oidcState
}

// OpenOIDCCallback opens the state parameter of a callback to provider.
// A forged, altered, expired or foreign state is ErrInvalid; an
// environment that no longer exists ErrNotFound.
func (s *Service) OpenOIDCCallback(ctx context.Context, provider, state string) (OIDCCallback, error) {
	st, err := s.openOIDCState(state, provider)
	if err != nil {
		return OIDCCallback{}, err
	}
	env, err := s.environment(ctx, st.App, st.Env)
	if err != nil {
		return OIDCCallback{}, err
	}
	return OIDCCallback{Env: env, RedirectURI: st.RedirectURI, AppState: st.AppState, st: st}, nil
}

// CompleteOIDC trades the provider's authorization code at its token
// endpoint (with the PKCE verifier), verifies the ID token (signature,
// issuer, audience, expiry, nonce), finds or creates the user in db (the
// pool of cb.Env) and returns a one-time code for ExchangeOIDCCode. A
// refused code or token is ErrUnauthorized; an unreachable provider
// ErrOIDCProvider; a disabled user ErrUnauthorized.
func (s *Service) CompleteOIDC(ctx context.Context, cb OIDCCallback, db store.DB, code string) (string, error) {
	cfg, err := s.oidcConfigFor(ctx, cb.Env, cb.st.Provider)
	if err != nil {
		return "", err
	}
	if !contains(cfg.RedirectURIs, cb.st.RedirectURI) {
		return "", fmt.Errorf("%w: the redirect URI was unregistered during the sign-in", ErrUnauthorized)
	}
	if code == "" || len(code) > maxOIDCURLLen {
		return "", fmt.Errorf("%w: the provider sent no code", ErrUnauthorized)
	}
	p, err := s.oidcProvider(ctx, cfg)
	if err != nil {
		return "", err
	}
	tok, err := s.oauth2Config(cfg, p, cb.st.Callback).Exchange(s.oidc.httpContext(ctx), code, oauth2.VerifierOption(cb.st.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
			return "", fmt.Errorf("%w: the provider refused the code (%s)", ErrUnauthorized, re.ErrorCode)
		}
		return "", fmt.Errorf("%w: token endpoint: %v", ErrOIDCProvider, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return "", fmt.Errorf("%w: the token endpoint sent no id_token", ErrOIDCProvider)
	}
	claims, err := s.verifyIDToken(ctx, p, raw)
	if err != nil {
		return "", err
	}
	if subtle.ConstantTimeCompare([]byte(claims.Nonce), []byte(cb.st.Nonce)) != 1 {
		return "", fmt.Errorf("%w: ID token nonce does not match", ErrUnauthorized)
	}
	u, err := s.oidcUser(ctx, db, cb.st.Provider, claims)
	if err != nil {
		return "", err
	}
	return s.issueOIDCCode(ctx, db, u, cb.st.AppChallenge)
}

// SignInWithIDToken signs in with an ID token the app got from provider's
// SDK. The token must verify (signature by the provider's keys, issuer,
// audience = client id, expiry) and its nonce claim must be nonce or the
// hex SHA-256 of nonce (as Sign in with Apple does). Failures are
// ErrUnauthorized; an unknown provider ErrNotFound.
func (s *Service) SignInWithIDToken(ctx context.Context, env Environment, db store.DB, provider, idToken, nonce string) (UserSession, error) {
	if len(idToken) > MaxIDTokenBytes {
		return UserSession{}, fmt.Errorf("%w: idToken is larger than %d bytes", ErrInvalid, MaxIDTokenBytes)
	}
	if nonce == "" || len(nonce) > MaxOIDCNonceLen {
		return UserSession{}, fmt.Errorf("%w: nonce must have 1 to %d characters", ErrInvalid, MaxOIDCNonceLen)
	}
	cfg, err := s.oidcConfigFor(ctx, env, provider)
	if err != nil {
		return UserSession{}, err
	}
	p, err := s.oidcProvider(ctx, cfg)
	if err != nil {
		return UserSession{}, err
	}
	claims, err := s.verifyIDToken(ctx, p, idToken)
	if err != nil {
		return UserSession{}, err
	}
	sum := sha256.Sum256([]byte(nonce))
	if subtle.ConstantTimeCompare([]byte(claims.Nonce), []byte(nonce)) != 1 &&
		subtle.ConstantTimeCompare([]byte(claims.Nonce), []byte(hex.EncodeToString(sum[:]))) != 1 {
		return UserSession{}, fmt.Errorf("%w: ID token nonce does not match", ErrUnauthorized)
	}
	u, err := s.oidcUser(ctx, db, provider, claims)
	if err != nil {
		return UserSession{}, err
	}
	return s.startSession(ctx, env, db, u)
}

// idClaims are the ID token claims sign-in uses.
type idClaims struct {
	Subject       string
	Nonce         string
	Email         string
	EmailVerified bool
}

// verifyIDToken checks raw with go-oidc: signature by the provider's JWKS
// (refetched on an unknown key id), algorithm among the provider's, issuer,
// audience and expiry.
func (s *Service) verifyIDToken(ctx context.Context, p *oidcEntry, raw string) (idClaims, error) {
	tok, err := p.verifier.Verify(s.oidc.httpContext(ctx), raw)
	if err != nil {
		if ctx.Err() != nil {
			return idClaims{}, ctx.Err()
		}
		return idClaims{}, fmt.Errorf("%w: ID token: %v", ErrUnauthorized, err)
	}
	var c struct {
		Email         string          `json:"email"`
		EmailVerified json.RawMessage `json:"email_verified"`
	}
	if err := tok.Claims(&c); err != nil {
		return idClaims{}, fmt.Errorf("%w: ID token claims: %v", ErrUnauthorized, err)
	}
	if tok.Subject == "" || len(tok.Subject) > 255 {
		return idClaims{}, fmt.Errorf("%w: ID token has no usable subject", ErrUnauthorized)
	}
	// Some providers (Apple) send email_verified as the string "true".
	verified := string(c.EmailVerified) == "true" || string(c.EmailVerified) == `"true"`
	return idClaims{Subject: tok.Subject, Nonce: tok.Nonce, Email: c.Email, EmailVerified: verified}, nil
}

// issueOIDCCode stores a one-time code for u and returns it. Expired codes
// left behind by apps that never exchanged them are swept a few at a time.
func (s *Service) issueOIDCCode(ctx context.Context, db store.DB, u User, challenge string) (string, error) {
	secret, err := randomToken(oidcCodeBytes)
	if err != nil {
		return "", err
	}
	code := OIDCCodePrefix + secret
	now := s.now()
	coll := db.Collection(collOIDCCodes)
	d := store.Doc{
		store.FieldID:        hashSecret(code),
		fieldOIDCCodeUser:    u.ID,
		fieldOIDCCodeExpires: store.FormatTime(now.Add(OIDCCodeTTL)),
	}
	if challenge != "" {
		d[fieldOIDCCodeChallenge] = challenge
	}
	_, err = coll.Insert(ctx, d)
	if err != nil {
		return "", fmt.Errorf("issue one-time code: %w", err)
	}
	return code, nil
}

// ExchangeOIDCCode trades a one-time code from the browser flow for a
// session. A code is good once, for OIDCCodeTTL, in the environment whose
// flow issued it, and, when the app sent a code challenge at the start,
// only with its verifier; anything else is ErrUnauthorized, as is a user
// disabled meanwhile.
func (s *Service) ExchangeOIDCCode(ctx context.Context, env Environment, db store.DB, code, verifier string) (UserSession, error) {
	if !strings.HasPrefix(code, OIDCCodePrefix) || len(code) > len(OIDCCodePrefix)+64 {
		return UserSession{}, fmt.Errorf("%w: malformed code", ErrUnauthorized)
	}
	coll := db.Collection(collOIDCCodes)
	d, err := coll.Get(ctx, hashSecret(code))
	if errors.Is(err, store.ErrNotFound) {
		return UserSession{}, fmt.Errorf("%w: unknown or used code", ErrUnauthorized)
	}
	if err != nil {
		return UserSession{}, fmt.Errorf("exchange code: %w", err)
	}
	// Deleting under the version read makes the code single use: of two
	// racing exchanges, one deletes and the other finds it gone.
	if err := coll.Delete(ctx, store.DocID(d), store.DocVersion(d)); err != nil {
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrVersionConflict) {
			return UserSession{}, fmt.Errorf("%w: unknown or used code", ErrUnauthorized)
		}
		return UserSession{}, fmt.Errorf("exchange code: %w", err)
	}
	expires, err := parseTime(d[fieldOIDCCodeExpires])
	if err != nil || s.now().After(expires) {
		return UserSession{}, fmt.Errorf("%w: expired code", ErrUnauthorized)
	}
	if challenge := docString(d, fieldOIDCCodeChallenge); challenge != "" {
		sum := sha256.Sum256([]byte(verifier))
		if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) != 1 {
			return UserSession{}, fmt.Errorf("%w: the code verifier does not match the code challenge", ErrUnauthorized)
		}
	}
	doc, err := db.Collection(collUsers).Get(ctx, docString(d, fieldOIDCCodeUser))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return UserSession{}, fmt.Errorf("%w: the user is gone", ErrUnauthorized)
		}
		return UserSession{}, fmt.Errorf("exchange code: %w", err)
	}
	if doc[fieldDisabled] == true {
		return UserSession{}, fmt.Errorf("%w: user disabled", ErrUnauthorized)
	}
	u, err := userFromDoc(doc)
	if err != nil {
		return UserSession{}, fmt.Errorf("exchange code: %w", err)
	}
	return s.startSession(ctx, env, db, u)
}

// appRedirect builds the app's redirect URI with params added to its
// query (kept for custom-scheme URIs too).
func appRedirect(redirectURI string, params url.Values) string {
	u, err := url.Parse(redirectURI)
	if err != nil {
		return redirectURI
	}
	q := u.Query()
	for k, vs := range params {
		for _, v := range vs {
			q.Set(k, v)
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// OIDCRedirect is the app's redirect URI of cb with params added to its
// query: code (and state) on success, error (and state) on failure.
func (cb OIDCCallback) OIDCRedirect(params url.Values) string {
	if cb.AppState != "" {
		params.Set("state", cb.AppState)
	}
	return appRedirect(cb.RedirectURI, params)
}
