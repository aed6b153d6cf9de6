package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/skybridgehq/skybridge/auth"
)

// adminRealm names the admin API in Bearer challenges (RFC 6750).
const adminRealm = "skybridge-admin"

// adminAuth guards the admin API: the request must carry
// "Authorization: Bearer <admin token>" with a token from POST
// /admin/api/login. Missing and invalid tokens get a 401 with a Bearer
// challenge. The token's claims go into the context (AdminFrom).
func (a *API) adminAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		token = strings.TrimSpace(token)
		if !strings.EqualFold(scheme, "Bearer") || token == "" {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf("Bearer realm=%q", adminRealm))
			a.fail(w, r, fmt.Errorf("%w: send Authorization: Bearer <token> from POST /admin/api/login", ErrUnauthenticated))
			return
		}
		claims, err := a.deps.Auth.VerifyAdminToken(r.Context(), token)
		if errors.Is(err, auth.ErrUnauthorized) {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf("Bearer realm=%q, error=\"invalid_token\"", adminRealm))
			a.fail(w, r, fmt.Errorf("%w: the admin token is invalid or expired", ErrUnauthenticated))
			return
		}
		if err != nil {
			a.fail(w, r, fmt.Errorf("verify admin token: %w", err))
			return
		}
		noteAdmin(r.Context(), claims)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), adminKey{}, claims)))
	})
}
