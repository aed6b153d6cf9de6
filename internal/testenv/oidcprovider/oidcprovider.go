// Package oidcprovider is a small OpenID Connect provider for tests, served
// by httptest on 127.0.0.1. It speaks the real protocol: a discovery
// document, a JWKS, an authorization endpoint that approves the configured
// test user at once and redirects back with code and state, and a token
// endpoint that authenticates the client, checks the code, its redirect URI
// and the PKCE verifier (S256), and answers with an RS256 ID token carrying
// the nonce. Signing keys can be rotated, and ID tokens minted directly for
// native sign-in tests (including forged ones: unsigned, unknown key).
package oidcprovider

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Config sets up a Provider. Zero fields take the defaults.
type Config struct {
	// ClientID is the one registered client. Default: "test-client".
	ClientID string
	// ClientSecret authenticates the client at the token endpoint (HTTP
	// Basic or client_secret_post). Default: "test-secret".
	ClientSecret string
	// User is who the authorization endpoint signs in. Default: subject
	// "user-1", email "user1@example.com", verified.
	User User
	// TokenTTL is the lifetime of the ID tokens issued. Default: 5m.
	TokenTTL time.Duration
}

// User is the end user the provider vouches for.
type User struct {
	Subject       string
	Email         string
	EmailVerified bool
}

// Provider is a running test OpenID provider.
type Provider struct {
	t   testing.TB
	srv *httptest.Server
	cfg Config

	mu     sync.Mutex
	keys   []signingKey // published in the JWKS
	signer signingKey   // signs new tokens
	user   User
	deny   string // when set, /authorize answers with this error
	grants map[string]grant
	tokens int // tokens issued at the token endpoint
	jwksN  int // key set requests served
}

type signingKey struct {
	kid string
	key *rsa.PrivateKey
}

// grant is an authorization code waiting for the token endpoint.
type grant struct {
	redirectURI string
	nonce       string
	challenge   string
	user        User
	expires     time.Time
}

// New starts a provider, stopped when the test ends.
func New(t testing.TB, cfg Config) *Provider {
	t.Helper()
	if cfg.ClientID == "" {
		cfg.ClientID = "test-client"
	}
	if cfg.ClientSecret == "" {
		cfg.ClientSecret = "test-secret"
	}
	if cfg.User.Subject == "" {
		cfg.User = User{Subject: "user-1", Email: "user1@example.com", EmailVerified: true}
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = 5 * time.Minute
	}
	p := &Provider{t: t, cfg: cfg, user: cfg.User, grants: map[string]grant{}}
	k := newKey(t)
	p.keys, p.signer = []signingKey{k}, k
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /jwks", p.jwks)
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func newKey(t testing.TB) signingKey {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("oidcprovider: generate key: %v", err)
	}
	return signingKey{kid: randomString(8), key: key}
}

// Issuer is the provider's issuer URL (http://127.0.0.1:port).
func (p *Provider) Issuer() string { return p.srv.URL }

// ClientID is the registered client's id.
func (p *Provider) ClientID() string { return p.cfg.ClientID }

// ClientSecret is the registered client's secret.
func (p *Provider) ClientSecret() string { return p.cfg.ClientSecret }

// SetUser changes who the authorization endpoint signs in next.
func (p *Provider) SetUser(u User) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.user = u
}

// Deny makes the authorization endpoint refuse with the given OAuth error
// code (e.g. "access_denied"); "" approves again.
func (p *Provider) Deny(code string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.deny = code
}

// TokensIssued counts the successful token endpoint calls.
func (p *Provider) TokensIssued() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tokens
}

// KeySetFetches counts the requests the key set (JWKS) endpoint served.
func (p *Provider) KeySetFetches() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.jwksN
}

// RotateKey makes a new signing key current and returns its kid. With
// keepOld the previous keys stay in the JWKS (tokens they signed still
// verify); without, the JWKS holds the new key only.
func (p *Provider) RotateKey(keepOld bool) string {
	k := newKey(p.t)
	p.mu.Lock()
	defer p.mu.Unlock()
	if keepOld {
		p.keys = append(p.keys, k)
	} else {
		p.keys = []signingKey{k}
	}
	p.signer = k
	return k.kid
}

// CurrentKeyID is the kid new tokens are signed with.
func (p *Provider) CurrentKeyID() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.signer.kid
}

// Claims returns the standard claims of an ID token for u: iss, sub, aud,
// iat, exp, email and email_verified. Callers add or override fields.
func (p *Provider) Claims(u User) map[string]any {
	now := time.Now()
	c := map[string]any{
		"iss": p.Issuer(),
		"sub": u.Subject,
		"aud": p.cfg.ClientID,
		"iat": now.Unix(),
		"exp": now.Add(p.cfg.TokenTTL).Unix(),
	}
	if u.Email != "" {
		c["email"] = u.Email
		c["email_verified"] = u.EmailVerified
	}
	return c
}

// MintIDToken signs claims as an ID token with the current key (RS256).
func (p *Provider) MintIDToken(claims map[string]any) string {
	p.mu.Lock()
	k := p.signer
	p.mu.Unlock()
	return sign(p.t, k, claims)
}

// MintWithStrayKey signs claims with a fresh key that the JWKS never
// publishes, under an unknown kid.
func (p *Provider) MintWithStrayKey(claims map[string]any) string {
	return sign(p.t, newKey(p.t), claims)
}

// MintUnsigned returns claims as an unsecured JWT (alg "none").
func (p *Provider) MintUnsigned(claims map[string]any) string {
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	body, err := json.Marshal(claims)
	if err != nil {
		p.t.Fatalf("oidcprovider: marshal claims: %v", err)
	}
	return header + "." + base64.RawURLEncoding.EncodeToString(body) + "."
}

func sign(t testing.TB, k signingKey, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: k.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", k.kid))
	if err != nil {
		t.Fatalf("oidcprovider: signer: %v", err)
	}
	body, err := json.Marshal(claims)
	if err != nil {
		t.Fatalf("oidcprovider: marshal claims: %v", err)
	}
	jws, err := signer.Sign(body)
	if err != nil {
		t.Fatalf("oidcprovider: sign: %v", err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatalf("oidcprovider: serialize: %v", err)
	}
	return out
}

func (p *Provider) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                p.Issuer(),
		"authorization_endpoint":                p.Issuer() + "/authorize",
		"token_endpoint":                        p.Issuer() + "/token",
		"jwks_uri":                              p.Issuer() + "/jwks",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"scopes_supported":                      []string{"openid", "email", "profile"},
	})
}

func (p *Provider) jwks(w http.ResponseWriter, _ *http.Request) {
	p.mu.Lock()
	p.jwksN++
	set := jose.JSONWebKeySet{}
	for _, k := range p.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.key.PublicKey, KeyID: k.kid, Algorithm: "RS256", Use: "sig"})
	}
	p.mu.Unlock()
	writeJSON(w, http.StatusOK, set)
}

// authorize approves the configured user at once. Errors about the client
// or redirect URI are shown here (never redirected, as RFC 6749 says);
// others go back to the redirect URI.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != p.cfg.ClientID {
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	}
	back, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || !back.IsAbs() {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	reply := back.Query()
	reply.Set("state", q.Get("state"))
	p.mu.Lock()
	deny, user := p.deny, p.user
	p.mu.Unlock()
	switch {
	case deny != "":
		reply.Set("error", deny)
	case q.Get("response_type") != "code":
		reply.Set("error", "unsupported_response_type")
	case !hasScope(q.Get("scope"), "openid"):
		reply.Set("error", "invalid_scope")
	case q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "":
		reply.Set("error", "invalid_request")
		reply.Set("error_description", "PKCE with S256 is required")
	default:
		code := randomString(16)
		p.mu.Lock()
		p.grants[code] = grant{
			redirectURI: back.String(), nonce: q.Get("nonce"), challenge: q.Get("code_challenge"),
			user: user, expires: time.Now().Add(time.Minute),
		}
		p.mu.Unlock()
		reply.Set("code", code)
	}
	back.RawQuery = reply.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// token redeems an authorization code (once).
func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	id, secret, basic := r.BasicAuth()
	if basic {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != p.cfg.ClientID || subtle.ConstantTimeCompare([]byte(secret), []byte(p.cfg.ClientSecret)) != 1 {
		tokenError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	if r.PostForm.Get("grant_type") != "authorization_code" {
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type")
		return
	}
	code := r.PostForm.Get("code")
	p.mu.Lock()
	g, ok := p.grants[code]
	delete(p.grants, code)
	p.mu.Unlock()
	if !ok || time.Now().After(g.expires) || r.PostForm.Get("redirect_uri") != g.redirectURI {
		tokenError(w, http.StatusBadRequest, "invalid_grant")
		return
	}
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	if base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
		tokenError(w, http.StatusBadRequest, "invalid_grant")
		return
	}
	claims := p.Claims(g.user)
	if g.nonce != "" {
		claims["nonce"] = g.nonce
	}
	idToken := p.MintIDToken(claims)
	p.mu.Lock()
	p.tokens++
	p.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": randomString(16),
		"token_type":   "Bearer",
		"expires_in":   int(p.cfg.TokenTTL / time.Second),
		"id_token":     idToken,
	})
}

func tokenError(w http.ResponseWriter, status int, code string) {
	writeJSON(w, status, map[string]string{"error": code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func hasScope(scopes, want string) bool {
	for _, s := range strings.Fields(scopes) {
		if s == want {
			return true
		}
	}
	return false
}

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("oidcprovider: random: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
