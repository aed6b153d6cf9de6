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

	"github.com/skybridgehq/skybridge/store"
)

// OpenID Connect sign-in (oidc*.go): providers are configured per app
// environment in the system database (this file), discovery documents and
// key sets are cached per issuer and client (oidccache.go), the browser
// flow is an authorization code flow with PKCE whose state travels sealed
// (oidcflow.go, oidcstate.go), and identities link provider subjects to
// users of the environment's pool (oidcaccount.go).

// collOIDCProviders is the system collection of provider configurations,
// _id = appID/env/provider.
const collOIDCProviders = "oidcProviders"

// Fields of provider documents.
const (
	fieldOIDCApp          = "appId"
	fieldOIDCEnv          = "env"
	fieldOIDCName         = "name"
	fieldOIDCIssuer       = "issuer"
	fieldOIDCClientID     = "clientId"
	fieldOIDCSecretSealed = "clientSecretSealed"
	fieldOIDCScopes       = "scopes"
	fieldOIDCRedirectURIs = "redirectUris"
	fieldOIDCCallbackURL  = "callbackUrl"
	fieldOIDCUpdatedAt    = "updatedAt"
)

// Limits of provider configurations.
const (
	MaxOIDCRedirectURIs = 20
	MaxOIDCScopes       = 20
	maxOIDCURLLen       = 2048
	maxOIDCClientIDLen  = 512
	maxOIDCSecretLen    = 4096
)

var oidcProviderNameRe = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)

// OIDCProvider is an OpenID provider configured for one app environment.
// It never carries the client secret in clear: HasClientSecret says whether
// one is stored.
type OIDCProvider struct {
	// Name names the provider in routes: [a-z0-9-]{1,32}, e.g. "google".
	Name string `json:"name"`
	// Issuer is the provider's issuer URL; discovery is read from
	// Issuer + "/.well-known/openid-configuration".
	Issuer string `json:"issuer"`
	// ClientID is Skybridge's client id at the provider: the audience of
	// the ID tokens it accepts.
	ClientID        string `json:"clientId"`
	HasClientSecret bool   `json:"hasClientSecret"`
	// Scopes are requested in the browser flow; "openid" is always among
	// them.
	Scopes []string `json:"scopes"`
	// RedirectURIs are the app's URIs the browser flow may end at.
	RedirectURIs []string `json:"redirectUris"`
	// CallbackURL, when set, is the redirect URI Skybridge registers at
	// the provider (its own .../callback route); else it is derived from
	// the start request.
	CallbackURL string    `json:"callbackUrl,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

// OIDCProviderInput is what an admin sets on a provider. A nil
// ClientSecret keeps the stored one (the admin API never shows it, so a
// replace cannot repeat it); a pointer to "" removes it.
type OIDCProviderInput struct {
	Issuer       string
	ClientID     string
	ClientSecret *string
	Scopes       []string
	RedirectURIs []string
	CallbackURL  string
}

// oidcProviderID is the _id of a provider document.
func oidcProviderID(appID, env, name string) string { return appID + "/" + env + "/" + name }

// oidcSecretAAD binds a sealed client secret to its provider, so that a
// sealed value copied into another provider's document does not open.
func oidcSecretAAD(appID, env, name string) []byte {
	return []byte("oidc-client-secret/" + oidcProviderID(appID, env, name))
}

// ValidOIDCProviderName checks a provider name: [a-z0-9-]{1,32}.
func ValidOIDCProviderName(name string) error {
	if !oidcProviderNameRe.MatchString(name) {
		return fmt.Errorf("%w: provider name must be 1 to 32 of a-z 0-9 -", ErrInvalid)
	}
	return nil
}

// OIDCFieldError is an ErrInvalid about one field of a provider
// configuration; Field names it as the admin API does.
type OIDCFieldError struct {
	Field string
	Err   error
}

func (e *OIDCFieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *OIDCFieldError) Unwrap() error { return e.Err }

func oidcFieldErr(field, format string, args ...any) error {
	return &OIDCFieldError{Field: field, Err: fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)}
}

// validate checks the input and returns it normalised (scopes with
// "openid", no duplicates), with every bad field reported.
func (in OIDCProviderInput) validate() (OIDCProviderInput, error) {
	var errs []error
	if err := validIssuer(in.Issuer); err != nil {
		errs = append(errs, oidcFieldErr("issuer", "%v", err))
	}
	in.Issuer = strings.TrimSuffix(in.Issuer, "/")
	switch {
	case strings.TrimSpace(in.ClientID) == "":
		errs = append(errs, oidcFieldErr("clientId", "is required"))
	case len(in.ClientID) > maxOIDCClientIDLen || !printable(in.ClientID):
		errs = append(errs, oidcFieldErr("clientId", "must be at most %d printable characters", maxOIDCClientIDLen))
	}
	if in.ClientSecret != nil && (len(*in.ClientSecret) > maxOIDCSecretLen || !printable(*in.ClientSecret)) {
		errs = append(errs, oidcFieldErr("clientSecret", "must be at most %d printable characters", maxOIDCSecretLen))
	}
	scopes := []string{"openid"}
	if len(in.Scopes) > MaxOIDCScopes {
		errs = append(errs, oidcFieldErr("scopes", "at most %d", MaxOIDCScopes))
	}
	for i, sc := range in.Scopes {
		if sc == "" || len(sc) > 128 || strings.ContainsAny(sc, " \"\\") || !printable(sc) {
			errs = append(errs, oidcFieldErr(fmt.Sprintf("scopes[%d]", i), "a scope is 1 to 128 printable characters without spaces, quotes or backslashes"))
			continue
		}
		if !contains(scopes, sc) {
			scopes = append(scopes, sc)
		}
	}
	in.Scopes = scopes
	if len(in.RedirectURIs) > MaxOIDCRedirectURIs {
		errs = append(errs, oidcFieldErr("redirectUris", "at most %d", MaxOIDCRedirectURIs))
	}
	var uris []string
	for i, u := range in.RedirectURIs {
		if err := validRedirectURI(u); err != nil {
			errs = append(errs, oidcFieldErr(fmt.Sprintf("redirectUris[%d]", i), "%v", err))
			continue
		}
		if !contains(uris, u) {
			uris = append(uris, u)
		}
	}
	in.RedirectURIs = uris
	if in.RedirectURIs == nil {
		in.RedirectURIs = []string{}
	}
	if in.CallbackURL != "" {
		if err := validCallbackURL(in.CallbackURL); err != nil {
			errs = append(errs, oidcFieldErr("callbackUrl", "%v", err))
		}
	}
	return in, errors.Join(errs...)
}

// validIssuer accepts https URLs, and http on the loopback host (tests,
// local development), without query or fragment.
func validIssuer(s string) error {
	if s == "" {
		return errors.New("is required")
	}
	u, err := url.Parse(s)
	if err != nil || len(s) > maxOIDCURLLen {
		return errors.New("must be a URL")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Host == "" {
		return errors.New("must be a URL with a host and without user info, query or fragment")
	}
	if u.Scheme == "https" || u.Scheme == "http" && isLoopback(u.Hostname()) {
		return nil
	}
	return errors.New("must be an https URL (http only on 127.0.0.1 or localhost)")
}

func isLoopback(host string) bool { return host == "127.0.0.1" || host == "localhost" || host == "::1" }

// validRedirectURI accepts absolute URIs: https (http on loopback), or an
// app's custom scheme (com.example.app:/callback). Schemes that run code
// or read files in a browser are refused, and so are fragments, which the
// redirect could not carry.
func validRedirectURI(s string) error {
	if len(s) > maxOIDCURLLen || !printable(s) {
		return fmt.Errorf("must be a URI of at most %d printable characters", maxOIDCURLLen)
	}
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() {
		return errors.New("must be an absolute URI")
	}
	if u.Fragment != "" || strings.Contains(s, "#") {
		return errors.New("must not have a fragment")
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return errors.New("http is allowed only on 127.0.0.1 or localhost")
		}
	case "javascript", "data", "file", "vbscript", "blob", "about":
		return fmt.Errorf("scheme %q is not allowed", u.Scheme)
	default:
		if u.Opaque == "" && u.Path == "" && u.Host == "" {
			return errors.New("must have a path or host after the scheme")
		}
		return nil
	}
	if u.Host == "" {
		return errors.New("must have a host")
	}
	return nil
}

func validCallbackURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || len(s) > maxOIDCURLLen || !u.IsAbs() || u.Host == "" || u.Fragment != "" {
		return errors.New("must be an absolute http(s) URL without fragment")
	}
	if u.Scheme == "https" || u.Scheme == "http" && isLoopback(u.Hostname()) {
		return nil
	}
	return errors.New("must be an https URL (http only on 127.0.0.1 or localhost)")
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// PutOIDCProvider creates or replaces provider name of environment env of
// app appID. Bad fields are ErrInvalid (as *OIDCFieldError, joined); an
// unknown app or environment ErrNotFound.
func (s *Service) PutOIDCProvider(ctx context.Context, appID, env, name string, in OIDCProviderInput) (OIDCProvider, error) {
	if err := ValidOIDCProviderName(name); err != nil {
		return OIDCProvider{}, &OIDCFieldError{Field: "provider", Err: err}
	}
	in, err := in.validate()
	if err != nil {
		return OIDCProvider{}, err
	}
	if _, err := s.environment(ctx, appID, env); err != nil {
		return OIDCProvider{}, err
	}
	id := oidcProviderID(appID, env, name)
	coll := s.sys.Collection(collOIDCProviders)
	old, err := coll.Get(ctx, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return OIDCProvider{}, fmt.Errorf("put OpenID provider: %w", err)
	}
	now := s.now()
	d := store.Doc{
		store.FieldID:         id,
		fieldOIDCApp:          appID,
		fieldOIDCEnv:          env,
		fieldOIDCName:         name,
		fieldOIDCIssuer:       in.Issuer,
		fieldOIDCClientID:     in.ClientID,
		fieldOIDCScopes:       anyStrings(in.Scopes),
		fieldOIDCRedirectURIs: anyStrings(in.RedirectURIs),
		fieldCreatedAt:        store.FormatTime(now),
		fieldOIDCUpdatedAt:    store.FormatTime(now),
	}
	if in.CallbackURL != "" {
		d[fieldOIDCCallbackURL] = in.CallbackURL
	}
	switch {
	case in.ClientSecret != nil && *in.ClientSecret != "":
		sealed, err := s.kr.Seal([]byte(*in.ClientSecret), oidcSecretAAD(appID, env, name))
		if err != nil {
			return OIDCProvider{}, fmt.Errorf("put OpenID provider: %w", err)
		}
		d[fieldOIDCSecretSealed] = base64.StdEncoding.EncodeToString(sealed)
	case in.ClientSecret == nil && old != nil && old[fieldOIDCSecretSealed] != nil:
		d[fieldOIDCSecretSealed] = old[fieldOIDCSecretSealed]
	}
	if old == nil {
		_, err = coll.Insert(ctx, d)
	} else {
		d[fieldCreatedAt] = old[fieldCreatedAt]
		_, err = coll.Replace(ctx, id, store.DocVersion(old), d)
	}
	switch {
	case errors.Is(err, store.ErrDuplicate), errors.Is(err, store.ErrVersionConflict):
		return OIDCProvider{}, fmt.Errorf("%w: the provider changed meanwhile; retry", ErrConflict)
	case err != nil:
		return OIDCProvider{}, fmt.Errorf("put OpenID provider: %w", err)
	}
	if old != nil {
		s.oidc.forget(docString(old, fieldOIDCIssuer), docString(old, fieldOIDCClientID))
	}
	return oidcProviderFromDoc(d)
}

// ListOIDCProviders returns the providers of an environment by name
// (ErrNotFound for an unknown app or environment).
func (s *Service) ListOIDCProviders(ctx context.Context, appID, env string) ([]OIDCProvider, error) {
	if _, err := s.environment(ctx, appID, env); err != nil {
		return nil, err
	}
	docs, err := findAll(ctx, s.sys.Collection(collOIDCProviders), store.Query{
		Filter: store.And{Filters: []store.Filter{
			store.Compare{Path: fieldOIDCApp, Op: store.OpEq, Value: appID},
			store.Compare{Path: fieldOIDCEnv, Op: store.OpEq, Value: env},
		}},
		Sort: []store.SortKey{{Path: fieldOIDCName}},
	})
	if err != nil {
		return nil, fmt.Errorf("list OpenID providers: %w", err)
	}
	out := make([]OIDCProvider, 0, len(docs))
	for _, d := range docs {
		p, err := oidcProviderFromDoc(d)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// DeleteOIDCProvider removes a provider (ErrNotFound). Identities made
// through it stay, so that configuring it again finds the same users.
func (s *Service) DeleteOIDCProvider(ctx context.Context, appID, env, name string) error {
	if ValidOIDCProviderName(name) != nil {
		return fmt.Errorf("%w: OpenID provider %q", ErrNotFound, name)
	}
	coll := s.sys.Collection(collOIDCProviders)
	d, err := coll.Get(ctx, oidcProviderID(appID, env, name))
	if err != nil {
		return fmt.Errorf("delete OpenID provider %q: %w", name, notFound(err))
	}
	if err := coll.Delete(ctx, store.DocID(d), store.DocVersion(d)); err != nil {
		return fmt.Errorf("delete OpenID provider %q: %w", name, notFound(err))
	}
	s.oidc.forget(docString(d, fieldOIDCIssuer), docString(d, fieldOIDCClientID))
	return nil
}

// oidcConfig is a provider configuration with its client secret opened,
// for the flows.
type oidcConfig struct {
	OIDCProvider
	appID, env   string
	clientSecret string
}

// oidcConfigFor reads the configuration of provider name in env
// (ErrNotFound when there is none).
func (s *Service) oidcConfigFor(ctx context.Context, env Environment, name string) (oidcConfig, error) {
	if ValidOIDCProviderName(name) != nil {
		return oidcConfig{}, fmt.Errorf("%w: OpenID provider %q", ErrNotFound, name)
	}
	d, err := s.sys.Collection(collOIDCProviders).Get(ctx, oidcProviderID(env.AppID, env.Name, name))
	if err != nil {
		return oidcConfig{}, fmt.Errorf("OpenID provider %q: %w", name, notFound(err))
	}
	p, err := oidcProviderFromDoc(d)
	if err != nil {
		return oidcConfig{}, err
	}
	c := oidcConfig{OIDCProvider: p, appID: env.AppID, env: env.Name}
	if sealed := docString(d, fieldOIDCSecretSealed); sealed != "" {
		raw, err := base64.StdEncoding.DecodeString(sealed)
		if err != nil {
			return oidcConfig{}, fmt.Errorf("OpenID provider %q: client secret: %w", name, err)
		}
		secret, err := s.kr.Open(raw, oidcSecretAAD(env.AppID, env.Name, name))
		if err != nil {
			return oidcConfig{}, fmt.Errorf("OpenID provider %q: client secret: %w", name, err)
		}
		c.clientSecret = string(secret)
	}
	return c, nil
}

func oidcProviderFromDoc(d store.Doc) (OIDCProvider, error) {
	p := OIDCProvider{
		Name:            docString(d, fieldOIDCName),
		Issuer:          docString(d, fieldOIDCIssuer),
		ClientID:        docString(d, fieldOIDCClientID),
		HasClientSecret: docString(d, fieldOIDCSecretSealed) != "",
		Scopes:          docStrings(d, fieldOIDCScopes),
		RedirectURIs:    docStrings(d, fieldOIDCRedirectURIs),
		CallbackURL:     docString(d, fieldOIDCCallbackURL),
	}
	var err error
	if p.CreatedAt, err = parseTime(d[fieldCreatedAt]); err != nil {
		return OIDCProvider{}, fmt.Errorf("OpenID provider %q: %w", store.DocID(d), err)
	}
	if p.UpdatedAt, err = parseTime(d[fieldOIDCUpdatedAt]); err != nil {
		return OIDCProvider{}, fmt.Errorf("OpenID provider %q: %w", store.DocID(d), err)
	}
	return p, nil
}

// environment reads environment env of app appID (ErrNotFound).
func (s *Service) environment(ctx context.Context, appID, env string) (Environment, error) {
	id := store.EnvDBName(appID, env)
	if store.ValidDBName(id) != nil {
		return Environment{}, fmt.Errorf("%w: environment %q of app %q", ErrNotFound, env, appID)
	}
	d, err := s.sys.Collection(collEnvironments).Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Environment{}, fmt.Errorf("%w: environment %q of app %q", ErrNotFound, env, appID)
	}
	if err != nil {
		return Environment{}, fmt.Errorf("get environment %q: %w", id, err)
	}
	r, err := envFromDoc(d)
	if err != nil {
		return Environment{}, err
	}
	if r.appID != appID || r.name != env {
		return Environment{}, fmt.Errorf("%w: environment %q of app %q", ErrNotFound, env, appID)
	}
	return r.public(), nil
}

func anyStrings(list []string) []any {
	out := make([]any, len(list))
	for i, v := range list {
		out[i] = v
	}
	return out
}

func docStrings(d store.Doc, field string) []string {
	list, _ := d[field].([]any)
	out := make([]string, 0, len(list))
	for _, v := range list {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
