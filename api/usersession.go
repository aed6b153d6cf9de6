package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/skybridgehq/skybridge/auth"
)

// userRealm names the realm of app user access tokens in challenges.
const userRealm = "skybridge-user"

type userKey struct{}

// sessionlessPaths are the /v1 routes where userSession does not look at
// Authorization.
var sessionlessPaths = map[string]bool{
	"/v1/auth/signup":    true,
	"/v1/auth/login":     true,
	"/v1/auth/anonymous": true,
	"/v1/auth/refresh":   true,
	// Email verification and password reset (usermail.go) prove
	// themselves with the mailed token.
	"/v1/auth/verify":          true,
	"/v1/auth/password/forgot": true,
	"/v1/auth/password/reset":  true,
}

// sessionlessPrefixes are the /v1 route prefixes where userSession does not
// look at Authorization: OpenID sign-in (oidc.go) starts sessions.
var sessionlessPrefixes = []string{"/v1/auth/oidc/"}

// sessionless reports whether userSession ignores Authorization on path.
func sessionless(path string) bool {
	if sessionlessPaths[path] {
		return true
	}
	for _, p := range sessionlessPrefixes {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// userContext is what the UserSession middleware puts in the context.
type userContext struct {
	user   auth.User
	claims auth.UserClaims
}

// UserFrom returns the app user whose access token the request presented;
// ok is false when it presented none.
func UserFrom(ctx context.Context) (auth.User, bool) {
	u, ok := ctx.Value(userKey{}).(userContext)
	return u.user, ok
}

// UserClaimsFrom returns the verified claims of the request's access
// token; ok is false when it presented none.
func UserClaimsFrom(ctx context.Context) (auth.UserClaims, bool) {
	u, ok := ctx.Value(userKey{}).(userContext)
	return u.claims, ok
}

// userSession runs inside the app-key middleware. When a request carries
// Authorization: Bearer, the token must be an access token of the
// request's environment whose user is not disabled and whose session is
// not revoked (checked in the store on every request, so that a logout or
// a reuse detection bites on the very next one); otherwise the answer is a
// 401. The user goes into the context (UserFrom). Requests without the
// header pass through anonymous; routes that need a user use requireUser.
//
// The routes that start or renew a session (sessionlessPaths) ignore the
// header: clients commonly send their expired access token along with the
// refresh call that is meant to replace it.
func (a *API) userSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		if h == "" || sessionless(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		ctx := r.Context()
		env, ok := EnvironmentFrom(ctx)
		db := DBFrom(ctx)
		if !ok || db == nil {
			a.fail(w, r, errors.New("userSession outside the app-key middleware"))
			return
		}
		scheme, token, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			a.refuseUser(w, r, fmt.Errorf("%w: Authorization must be Bearer <access token>", ErrUnauthenticated))
			return
		}
		claims, err := a.deps.Auth.VerifyUserToken(ctx, env, strings.TrimSpace(token))
		if err == nil {
			var u auth.User
			u, err = a.checkSession(ctx, env, db, claims)
			if err == nil {
				ctx = context.WithValue(ctx, userKey{}, userContext{user: u, claims: claims})
				noteUser(ctx, u)
				next.ServeHTTP(w, r.WithContext(ctx))
				return
			}
		}
		if errors.Is(err, auth.ErrUnauthorized) {
			a.refuseUser(w, r, fmt.Errorf("%w: invalid, expired or revoked access token", ErrUnauthenticated))
			return
		}
		a.fail(w, r, err)
	})
}

// requireUser refuses requests that carry no access token.
func (a *API) requireUser(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, ok := UserFrom(r.Context()); !ok {
			a.refuseUser(w, r, fmt.Errorf("%w: this route needs Authorization: Bearer <access token>", ErrUnauthenticated))
			return
		}
		next(w, r)
	}
}

func (a *API) refuseUser(w http.ResponseWriter, r *http.Request, err error) {
	w.Header().Set("WWW-Authenticate", fmt.Sprintf("Bearer realm=%q", userRealm))
	a.fail(w, r, err)
}
