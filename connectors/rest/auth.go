package rest

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/sync/singleflight"

	"github.com/skybridgehq/skybridge/connectors/internal/confmap"
)

// Auth types of config.auth.type.
const (
	AuthNone              = "none"
	AuthBasic             = "basic"
	AuthBearer            = "bearer"
	AuthAPIKey            = "apiKey"
	AuthClientCredentials = "oauth2-client-credentials"
)

// tokenExpiryMargin: a cached token this close to its expiry is fetched
// anew, so it does not expire on its way to the system.
const tokenExpiryMargin = 10 * time.Second

// authSettings is config.auth, read and checked.
type authSettings struct {
	kind                     string
	username, password       string
	token                    string
	keyHeader, keyQuery, key string
	tokenURL                 string
	clientID, clientSecret   string
	scopes                   []string
	params                   map[string]string
	authStyle                oauth2.AuthStyle
}

// secrets lists the values that must never appear in messages or logs.
func (a authSettings) secrets() []string {
	var s []string
	for _, v := range []string{a.password, a.token, a.key, a.clientSecret} {
		if v != "" {
			s = append(s, v)
		}
	}
	if a.kind == AuthBasic {
		s = append(s, basicCredentials(a.username, a.password))
	}
	return s
}

func readAuth(m confmap.Map) authSettings {
	r := m.Reader()
	a := authSettings{kind: AuthNone}
	defer m.Done()
	if m.Len() == 0 {
		return a
	}
	raw, _ := m.Raw("type")
	if r.Skip(raw) {
		// Which fields belong is unknown until the type is resolved.
		for _, k := range m.Keys() {
			m.Raw(k)
		}
		return a
	}
	kind, ok := m.String("type")
	if !ok {
		r.Errorf(m.Field("type"), "is required: none, basic, bearer, apiKey or oauth2-client-credentials")
		return a
	}
	a.kind = kind
	required := func(key string) string {
		s, _ := m.Required(key)
		return s
	}
	switch kind {
	case AuthNone:
	case AuthBasic:
		a.username = required("username")
		a.password = required("password")
	case AuthBearer:
		a.token = required("token")
	case AuthAPIKey:
		a.key = required("value")
		a.keyHeader, _ = m.String("header")
		a.keyQuery, _ = m.String("query")
		hasHeader, hasQuery := m.Has("header"), m.Has("query")
		switch {
		case hasHeader == hasQuery:
			r.Errorf(m.Field("header"), "exactly one of header or query names where the key goes")
		case a.keyHeader != "" && !validHeaderName(a.keyHeader):
			r.Errorf(m.Field("header"), "is not a valid header name")
		}
	case AuthClientCredentials:
		a.tokenURL = required("tokenURL")
		if a.tokenURL != "" {
			if u, err := url.Parse(a.tokenURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
				r.Errorf(m.Field("tokenURL"), "must be an http or https URL without credentials")
			}
		}
		a.clientID = required("clientId")
		a.clientSecret = required("clientSecret")
		a.scopes = m.StringList("scopes")
		a.params = m.StringMap("endpointParams")
		if style, ok := m.String("authStyle"); ok {
			switch style {
			case "auto":
			case "header":
				a.authStyle = oauth2.AuthStyleInHeader
			case "params":
				a.authStyle = oauth2.AuthStyleInParams
			default:
				r.Errorf(m.Field("authStyle"), "must be auto, header or params")
			}
		}
	default:
		r.Errorf(m.Field("type"), "must be none, basic, bearer, apiKey or oauth2-client-credentials")
	}
	return a
}

func basicCredentials(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
}

// staticHeaders returns the Authorization-like header an auth type sets
// on every call (none for oauth2, whose token changes).
func (a authSettings) staticHeader() (name, value string) {
	switch a.kind {
	case AuthBasic:
		return "Authorization", "Basic " + basicCredentials(a.username, a.password)
	case AuthBearer:
		return "Authorization", "Bearer " + a.token
	case AuthAPIKey:
		if a.keyHeader != "" {
			return a.keyHeader, a.key
		}
	}
	return "", ""
}

// staticQuery returns the query text an apiKey in the query adds.
func (a authSettings) staticQuery() string {
	if a.kind == AuthAPIKey && a.keyQuery != "" {
		return url.QueryEscape(a.keyQuery) + "=" + url.QueryEscape(a.key)
	}
	return ""
}

// tokenSource caches one OAuth2 client-credentials token per connector:
// fetched on first use, reused until tokenExpiryMargin before its expiry,
// dropped when the system answers 401. Concurrent callers that find no
// usable token share one fetch.
type tokenSource struct {
	cfg     clientcredentials.Config
	client  *http.Client // the connector's transport: its TLS settings apply
	timeout time.Duration
	now     func() time.Time

	group singleflight.Group
	mu    sync.Mutex
	value string // "Bearer <token>"
	until time.Time
}

func newTokenSource(a authSettings, client *http.Client, timeout time.Duration, now func() time.Time) *tokenSource {
	params := url.Values{}
	for k, v := range a.params {
		params.Set(k, v)
	}
	return &tokenSource{
		cfg: clientcredentials.Config{
			ClientID: a.clientID, ClientSecret: a.clientSecret, TokenURL: a.tokenURL,
			Scopes: a.scopes, EndpointParams: params, AuthStyle: a.authStyle,
		},
		client: client, timeout: timeout, now: now,
	}
}

// errToken is the cause of token endpoint failures.
var errToken = errors.New("token endpoint")

// header returns the Authorization value for a call.
func (ts *tokenSource) header(ctx context.Context) (string, error) {
	ts.mu.Lock()
	if ts.value != "" && (ts.until.IsZero() || ts.now().Before(ts.until)) {
		v := ts.value
		ts.mu.Unlock()
		return v, nil
	}
	ts.mu.Unlock()
	// The fetch outlives any one caller's cancellation: others may be
	// waiting for it. It is bounded by the connector's timeout.
	ch := ts.group.DoChan("token", func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ts.timeout)
		defer cancel()
		return ts.fetch(fctx)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return "", res.Err
		}
		return res.Val.(string), nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (ts *tokenSource) fetch(ctx context.Context) (string, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, ts.client)
	started := ts.now()
	tok, err := ts.cfg.Token(ctx)
	if err != nil {
		return "", tokenError(ctx, err)
	}
	value := tok.Type() + " " + tok.AccessToken
	var until time.Time
	if !tok.Expiry.IsZero() {
		// The library stamps Expiry with the wall clock; carry the
		// lifetime over to ours.
		until = started.Add(time.Until(tok.Expiry)).Add(-tokenExpiryMargin)
	}
	ts.mu.Lock()
	ts.value, ts.until = value, until
	ts.mu.Unlock()
	return value, nil
}

// invalidate drops value if it is still the cached one (the system
// refused it).
func (ts *tokenSource) invalidate(value string) {
	ts.mu.Lock()
	if ts.value == value {
		ts.value = ""
	}
	ts.mu.Unlock()
}

// tokenFailure carries a token endpoint failure to Call's classifier
// without the library's text, which can quote the endpoint's answer.
type tokenFailure struct {
	status int    // the endpoint's HTTP status, 0 when it was not reached
	code   string // OAuth2 error code ("invalid_client")
	cause  error  // transport cause when status is 0
}

func (e *tokenFailure) Error() string {
	if e.status != 0 {
		msg := fmt.Sprintf("token endpoint answered status %d", e.status)
		if e.code != "" {
			msg += " (" + e.code + ")"
		}
		return msg
	}
	return "token endpoint not reached"
}

func (e *tokenFailure) Unwrap() []error { return []error{errToken, e.cause} }

func tokenError(ctx context.Context, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		return &tokenFailure{status: re.Response.StatusCode, code: safeCode(re.ErrorCode)}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if ctx.Err() != nil {
		err = errors.Join(ctx.Err(), err)
	}
	return &tokenFailure{cause: err}
}

// safeCode keeps an OAuth2 error code only when it is the short token
// the spec defines, not arbitrary text.
func safeCode(code string) string {
	if len(code) > 40 {
		return ""
	}
	for i := 0; i < len(code); i++ {
		if c := code[i]; !(c >= 'a' && c <= 'z' || c == '_') {
			return ""
		}
	}
	return code
}
