package api

import (
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/skybridgehq/skybridge/auth"
)

// OpenID Connect sign-in. The browser legs (start, callback) carry no key
// header, so they sit outside the app-key middleware: start names the app
// key in its query, and the callback finds its environment in the sealed
// state. The app ends the browser flow at one of its registered redirect
// URIs with a one-time code, which it exchanges (keyed) for a session;
// native apps post an ID token from the provider's SDK instead.

// bindOIDC binds the keyed OpenID sign-in routes under /v1/auth.
func (a *API) bindOIDC(r chi.Router, spec *apiSpec) {
	r.Post("/oidc/exchange", a.oidcExchange)
	r.Post("/oidc/{provider}/token", a.oidcToken)
	describeOIDC(spec)
}

// bindOIDCBrowser binds the browser legs of OpenID sign-in (start,
// callback) on /v1, outside the app-key middleware.
func (a *API) bindOIDCBrowser(v1 chi.Router, spec *apiSpec) {
	v1.With(NoStore).Get("/auth/oidc/{provider}/start", a.oidcStart)
	v1.With(NoStore).Get("/auth/oidc/{provider}/callback", a.oidcCallback)
	describeOIDCBrowser(spec)
}

// bindOIDCAdmin binds the admin routes that configure OpenID providers.
func (a *API) bindOIDCAdmin(g chi.Router, spec *apiSpec) {
	const base = "/apps/{id}/environments/{env}/oidc/providers"
	g.Get(base, a.listOIDCProviders)
	g.Put(base+"/{provider}", a.putOIDCProvider)
	g.Delete(base+"/{provider}", a.deleteOIDCProvider)
	describeOIDCAdmin(spec)
}

// oidcProviderRequest is the body of PUT .../oidc/providers/{provider}.
// An absent clientSecret keeps the stored one; "" removes it.
type oidcProviderRequest struct {
	Issuer       string   `json:"issuer"`
	ClientID     string   `json:"clientId"`
	ClientSecret *string  `json:"clientSecret"`
	Scopes       []string `json:"scopes"`
	RedirectURIs []string `json:"redirectUris"`
	CallbackURL  string   `json:"callbackUrl"`
}

// oidcExchangeRequest is the body of POST /v1/auth/oidc/exchange.
type oidcExchangeRequest struct {
	Code string `json:"code"`
	// CodeVerifier is the app's PKCE verifier, required when the start
	// sent a code_challenge.
	CodeVerifier string `json:"codeVerifier,omitempty"`
}

// oidcTokenRequest is the body of POST /v1/auth/oidc/{provider}/token.
type oidcTokenRequest struct {
	IDToken string `json:"idToken"`
	Nonce   string `json:"nonce"`
}

// check refuses an exchange body without a code.
func (req oidcExchangeRequest) check() error { return required("code", req.Code) }

// check refuses a native sign-in body with missing or oversized fields.
func (req oidcTokenRequest) check() error {
	errs := []error{required("idToken", req.IDToken), required("nonce", req.Nonce)}
	if len(req.IDToken) > auth.MaxIDTokenBytes {
		errs = append(errs, onField("idToken", fmt.Errorf("%w: at most %d bytes", ErrInvalidInput, auth.MaxIDTokenBytes)))
	}
	if len(req.Nonce) > auth.MaxOIDCNonceLen {
		errs = append(errs, onField("nonce", fmt.Errorf("%w: at most %d bytes", ErrInvalidInput, auth.MaxOIDCNonceLen)))
	}
	return errors.Join(errs...)
}

func (a *API) oidcExchange(w http.ResponseWriter, r *http.Request) {
	var req oidcExchangeRequest
	if err := decodeJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	if err := req.check(); err != nil {
		a.fail(w, r, err)
		return
	}
	env, _ := EnvironmentFrom(r.Context())
	s, err := a.deps.Auth.ExchangeOIDCCode(r.Context(), env, DBFrom(r.Context()), req.Code, req.CodeVerifier)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.respond(w, r, http.StatusOK, toSessionJSON(noteSession(r, s)))
}

func (a *API) oidcToken(w http.ResponseWriter, r *http.Request) {
	var req oidcTokenRequest
	if err := decodeJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	if err := req.check(); err != nil {
		a.fail(w, r, err)
		return
	}
	env, _ := EnvironmentFrom(r.Context())
	s, err := a.deps.Auth.SignInWithIDToken(r.Context(), env, DBFrom(r.Context()), pathParam(r, "provider"), req.IDToken, req.Nonce)
	if err != nil {
		if errors.Is(err, auth.ErrInvalid) {
			err = onField("nonce", err)
		}
		a.fail(w, r, providerNotFound(err))
		return
	}
	a.respond(w, r, http.StatusOK, toSessionJSON(noteSession(r, s)))
}

// providerNotFound names the provider path parameter in a 404.
func providerNotFound(err error) error {
	if errors.Is(err, auth.ErrNotFound) {
		return onField("provider", err)
	}
	return err
}

// oidcStart resolves the app key of the query, then sends the browser to
// the provider.
func (a *API) oidcStart(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	key := q.Get("key")
	if key == "" {
		a.fail(w, r, onField("key", fmt.Errorf("%w: the key query parameter (the app key) is required", ErrUnauthenticated)))
		return
	}
	env, err := a.deps.Auth.ResolveAppKey(ctx, key)
	if errors.Is(err, auth.ErrUnauthorized) {
		a.fail(w, r, onField("key", fmt.Errorf("%w: unknown or expired app key", ErrUnauthenticated)))
		return
	}
	if err != nil {
		a.fail(w, r, fmt.Errorf("resolve app key: %w", err))
		return
	}
	noteEnvironment(ctx, env, false)
	provider := pathParam(r, "provider")
	callback := externalBase(r) + "/v1/auth/oidc/" + url.PathEscape(provider) + "/callback"
	if m := q.Get("code_challenge_method"); q.Has("code_challenge") && m != "S256" {
		a.fail(w, r, onField("code_challenge_method", fmt.Errorf("%w: must be S256 when code_challenge is sent", ErrInvalidInput)))
		return
	}
	target, err := a.deps.Auth.StartOIDC(ctx, env, auth.OIDCStart{
		Provider: provider, RedirectURI: q.Get("redirect_uri"), Callback: callback,
		AppState: q.Get("state"), CodeChallenge: q.Get("code_challenge"),
	})
	if err != nil {
		a.fail(w, r, providerNotFound(oidcFieldErrs(err)))
		return
	}
	a.redirect(w, r, target)
}

// oidcCallback finishes the provider's leg and sends the browser to the
// app: with ?code= on success, ?error= on failure. A state that cannot be
// opened leaves nowhere safe to redirect to: that is a problem response.
func (a *API) oidcCallback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	cb, err := a.deps.Auth.OpenOIDCCallback(ctx, pathParam(r, "provider"), q.Get("state"))
	if err != nil {
		if errors.Is(err, auth.ErrInvalid) {
			err = onField("state", err)
		}
		a.fail(w, r, err)
		return
	}
	noteEnvironment(ctx, cb.Env, false)
	if perr := q.Get("error"); perr != "" {
		a.redirect(w, r, cb.OIDCRedirect(url.Values{"error": {oauthErrorCode(perr)}}))
		return
	}
	db, err := a.deps.Store.DB(ctx, cb.Env.DB)
	if err == nil {
		var code string
		code, err = a.deps.Auth.CompleteOIDC(ctx, cb, db, q.Get("code"))
		if err == nil {
			a.redirect(w, r, cb.OIDCRedirect(url.Values{"code": {code}}))
			return
		}
	}
	level := slog.LevelInfo
	if problemFor(err).Status >= 500 {
		level = slog.LevelError
	}
	a.log.LogAttrs(ctx, level, "OpenID sign-in failed", slog.String("requestId", RequestIDFrom(ctx)),
		slog.String("app", cb.Env.AppID), slog.String("env", cb.Env.Name), slog.String("error", err.Error()))
	a.redirect(w, r, cb.OIDCRedirect(url.Values{"error": {oidcErrorCode(err)}}))
}

// redirect answers 302 Found to target or, for clients that drive the
// flow themselves and ask for JSON, 200 {"location": target}.
func (a *API) redirect(w http.ResponseWriter, r *http.Request, target string) {
	if wantsJSON(r) {
		a.respond(w, r, http.StatusOK, map[string]string{"location": target})
		return
	}
	http.Redirect(w, r, target, http.StatusFound)
}

// wantsJSON reports whether the first type the Accept header lists is
// application/json.
func wantsJSON(r *http.Request) bool {
	first, _, _ := strings.Cut(r.Header.Get("Accept"), ",")
	mt, _, err := mime.ParseMediaType(strings.TrimSpace(first))
	return err == nil && mt == "application/json"
}

// externalBase is the scheme and host the client reached this server at,
// for the default callback URL. Providers check the callback against the
// URIs registered with them, so a forged Host or X-Forwarded-Proto only
// breaks the forger's own sign-in; deployments behind proxies set the
// provider's callbackUrl instead.
func externalBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// oauthErrorCode passes a provider's error code on when it looks like one
// (RFC 6749 codes are a-z and _), else says access_denied.
func oauthErrorCode(code string) string {
	if len(code) > 64 {
		return "access_denied"
	}
	for i := 0; i < len(code); i++ {
		if c := code[i]; !(c >= 'a' && c <= 'z' || c == '_') {
			return "access_denied"
		}
	}
	return code
}

// oidcErrorCode is the error code the app gets for a failed callback.
func oidcErrorCode(err error) string {
	switch {
	case errors.Is(err, auth.ErrUnauthorized):
		return "access_denied"
	case errors.Is(err, auth.ErrOIDCProvider):
		return "temporarily_unavailable"
	case errors.Is(err, auth.ErrInvalid), errors.Is(err, auth.ErrNotFound):
		return "invalid_request"
	}
	return "server_error"
}

// oidcFieldErrs turns the auth package's field errors into the api's, so
// that problems name the fields.
func oidcFieldErrs(err error) error {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range joined.Unwrap() {
			out = append(out, oidcFieldErrs(e))
		}
		return errors.Join(out...)
	}
	var fe *auth.OIDCFieldError
	if errors.As(err, &fe) {
		return onField(fe.Field, fe.Err)
	}
	return err
}

// oidcProviderJSON is a provider as the admin API shows it: never with
// the client secret.
func oidcProviderJSON(p auth.OIDCProvider) auth.OIDCProvider {
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return p
}

func (a *API) listOIDCProviders(w http.ResponseWriter, r *http.Request) {
	list, err := a.deps.Auth.ListOIDCProviders(r.Context(), pathParam(r, "id"), pathParam(r, "env"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	items := make([]auth.OIDCProvider, 0, len(list))
	for _, p := range list {
		items = append(items, oidcProviderJSON(p))
	}
	a.respond(w, r, http.StatusOK, map[string]any{"items": items})
}

func (a *API) putOIDCProvider(w http.ResponseWriter, r *http.Request) {
	var req oidcProviderRequest
	if err := decodeJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	p, err := a.deps.Auth.PutOIDCProvider(r.Context(), pathParam(r, "id"), pathParam(r, "env"), pathParam(r, "provider"), auth.OIDCProviderInput{
		Issuer: req.Issuer, ClientID: req.ClientID, ClientSecret: req.ClientSecret,
		Scopes: req.Scopes, RedirectURIs: req.RedirectURIs, CallbackURL: req.CallbackURL,
	})
	if err != nil {
		a.fail(w, r, oidcFieldErrs(err))
		return
	}
	a.respond(w, r, http.StatusOK, oidcProviderJSON(p))
}

func (a *API) deleteOIDCProvider(w http.ResponseWriter, r *http.Request) {
	if err := a.deps.Auth.DeleteOIDCProvider(r.Context(), pathParam(r, "id"), pathParam(r, "env"), pathParam(r, "provider")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// describeOIDC registers the keyed OpenID routes in the OpenAPI document.
func describeOIDC(spec *apiSpec) {
	spec.schema("OIDCExchangeRequest", strictObject(map[string]any{
		"code":         str("The one-time code the browser flow gave the app's redirect URI (single use, 2 minutes)."),
		"codeVerifier": str("The app's PKCE verifier; required when the start sent code_challenge."),
	}, "code"))
	spec.schema("OIDCTokenRequest", strictObject(map[string]any{
		"idToken": str("An ID token from the provider's SDK, issued to the provider's configured client id."),
		"nonce":   str("The nonce the app gave the SDK; the token's nonce claim must be it or its hex SHA-256."),
	}, "idToken", "nonce"))
	key := []string{schemeAppKey}
	session := []response{{Status: 200, Description: "Signed in.", Schema: "UserSession"}}
	spec.route(http.MethodPost, "/v1/auth/oidc/exchange", operation{
		ID: "oidcExchange", Tag: "auth", Summary: "Trade the one-time code of the OpenID browser flow for a session.", Security: key,
		Request: "OIDCExchangeRequest", Responses: session, Problems: []int{400, 401},
	})
	spec.route(http.MethodPost, "/v1/auth/oidc/{provider}/token", operation{
		ID: "oidcToken", Tag: "auth", Summary: "Sign in with an ID token from the provider's native SDK; first sign-ins create or link the user.", Security: key,
		Request: "OIDCTokenRequest", Responses: session, Problems: []int{400, 401, 404, 502},
	})
}

// describeOIDCBrowser registers the browser legs in the OpenAPI document.
func describeOIDCBrowser(spec *apiSpec) {
	spec.schema("Redirect", object(map[string]any{
		"location": str("Where the browser would have been redirected."),
	}, "location"))
	redirect := func(desc string) []response {
		return []response{
			{Status: 302, Description: desc, Headers: []string{"Location"}},
			{Status: 200, Description: "The same, for clients that send Accept: application/json.", Schema: "Redirect"},
		}
	}
	spec.route(http.MethodGet, "/v1/auth/oidc/{provider}/start", operation{
		ID: "oidcStart", Tag: "auth",
		Summary:   "Start a browser sign-in: query key (the app key), redirect_uri (one of the provider's registered app URIs), optional state (given back) and optional code_challenge with code_challenge_method=S256 (the app's PKCE for the exchange); redirects to the provider.",
		Responses: redirect("To the provider's authorization endpoint (code flow, PKCE S256, nonce)."),
		Problems:  []int{400, 401, 404, 502},
	})
	spec.route(http.MethodGet, "/v1/auth/oidc/{provider}/callback", operation{
		ID: "oidcCallback", Tag: "auth",
		Summary:   "The provider's redirect back (query code and state): redirects to the app's redirect_uri with ?code= (for POST /v1/auth/oidc/exchange) or ?error=, plus the app's state.",
		Responses: redirect("To the app's redirect URI."),
		Problems:  []int{400, 404},
	})
}

// describeOIDCAdmin registers the provider configuration routes.
func describeOIDCAdmin(spec *apiSpec) {
	spec.schema("OIDCProvider", object(map[string]any{
		"name":            str("The provider name in routes: [a-z0-9-]{1,32}."),
		"issuer":          str("The issuer URL; discovery is read from it."),
		"clientId":        str("The client id at the provider: the audience of accepted ID tokens."),
		"hasClientSecret": boolean("Whether a client secret is stored; it is never shown."),
		"scopes":          arrayOf(str("A scope; openid is always included.")),
		"redirectUris":    arrayOf(str("An app URI the browser flow may end at.")),
		"callbackUrl":     str("Skybridge's callback URL registered at the provider; absent: derived from the start request."),
		"createdAt":       dateTime("When the provider was first configured."),
		"updatedAt":       dateTime("When the configuration last changed."),
	}, "name", "issuer", "clientId", "hasClientSecret", "scopes", "redirectUris", "createdAt", "updatedAt"))
	spec.schema("OIDCProviderList", object(map[string]any{
		"items": arrayOf(ref("OIDCProvider")),
	}, "items"))
	spec.schema("OIDCProviderRequest", strictObject(map[string]any{
		"issuer":       str("https URL (http only on 127.0.0.1 or localhost)."),
		"clientId":     str("The client id."),
		"clientSecret": str("The client secret, stored sealed; absent keeps the stored one, empty removes it."),
		"scopes":       arrayOf(str("A scope to request besides openid, e.g. email, profile.")),
		"redirectUris": arrayOf(str("An absolute URI of the app: https, or a custom scheme such as com.example.app:/callback.")),
		"callbackUrl":  str("Optional: Skybridge's callback URL as registered at the provider (https)."),
	}, "issuer", "clientId"))
	admin := []string{schemeBearer}
	const base = "/admin/api/apps/{id}/environments/{env}/oidc/providers"
	spec.route(http.MethodGet, base, operation{
		ID: "listOIDCProviders", Tag: "admin", Summary: "List the OpenID providers of an environment.", Security: admin,
		Responses: []response{{Status: 200, Description: "The providers.", Schema: "OIDCProviderList"}},
		Problems:  []int{401, 404},
	})
	spec.route(http.MethodPut, base+"/{provider}", operation{
		ID: "putOIDCProvider", Tag: "admin", Summary: "Create or replace an OpenID provider of an environment.", Security: admin,
		Request:   "OIDCProviderRequest",
		Responses: []response{{Status: 200, Description: "Stored.", Schema: "OIDCProvider"}},
		Problems:  []int{400, 401, 404, 409},
	})
	spec.route(http.MethodDelete, base+"/{provider}", operation{
		ID: "deleteOIDCProvider", Tag: "admin", Summary: "Remove an OpenID provider; its users and their identities stay.", Security: admin,
		Responses: []response{{Status: 204, Description: "Removed."}},
		Problems:  []int{401, 404},
	})
}
