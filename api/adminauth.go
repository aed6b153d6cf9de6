package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/skybridgehq/skybridge/auth"
)

// adminRealm names the admin API in Bearer challenges (RFC 6750).
const adminRealm = "skybridge-admin"

// Route patterns the permission policy singles out.
const (
	// adminAccountsRoute and everything under it manage admin accounts:
	// owners only.
	adminAccountsRoute = "/admin/api/admins"
	// adminAppRoute is the one route outside an environment a deploy
	// token may read: its own app.
	adminAppRoute = "/admin/api/apps/{id}"
	// adminEnvRoute and everything under it act on one app environment,
	// the scope of a deploy token.
	adminEnvRoute = "/admin/api/apps/{id}/environments/{env}"
	// deployTokensRoute and everything under it manage deploy tokens,
	// which a deploy token never may.
	deployTokensRoute = adminEnvRoute + "/deploy-tokens"
	// deployPromoteRoute promotes a version of one environment into
	// another (the body's "to"): a deploy token may call it on any
	// environment of its app, and the handler requires the target to be
	// the token's own.
	deployPromoteRoute = adminEnvRoute + "/deployments/{version}/promote"
	// flowVariablesRoute and flowSecretsRoute (and below) configure the
	// environment's flows: a deploy token may read them (secret names
	// only), never change them.
	flowVariablesRoute = adminEnvRoute + "/variables"
	flowSecretsRoute   = adminEnvRoute + "/secrets"
	// envAuditRoute and everything under it govern the environment's
	// audit trail (retention), which the actors it records must not.
	envAuditRoute = adminEnvRoute + "/audit"
)

type deployTokenKey struct{}

// DeployTokenFrom returns the deploy token the request authenticated
// with; ok is false outside the admin API or for an admin token.
func DeployTokenFrom(ctx context.Context) (auth.DeployToken, bool) {
	t, ok := ctx.Value(deployTokenKey{}).(auth.DeployToken)
	return t, ok
}

// adminAuth guards the admin API. The request must carry "Authorization:
// Bearer <token>" with an admin token from POST /admin/api/login or a
// deploy token (auth.DeployTokenPrefix). Missing and invalid tokens get a
// 401 with a Bearer challenge; a valid token that the permission policy
// (adminRoleAllows, deployTokenAllows) does not allow on the route gets a
// 403. An admin's claims go into the context (AdminFrom), a deploy token
// into DeployTokenFrom.
//
// It runs as group middleware, which chi applies per endpoint after
// routing: the route pattern and URL parameters are known here, so the
// policy covers every route of the group, including those bound later.
// Unmatched requests (the not-found handler) are only authenticated, then
// get their 404.
func (a *API) adminAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		token = strings.TrimSpace(token)
		if !strings.EqualFold(scheme, "Bearer") || token == "" {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf("Bearer realm=%q", adminRealm))
			a.fail(w, r, fmt.Errorf("%w: send Authorization: Bearer <token> from POST /admin/api/login, or a deploy token", ErrUnauthenticated))
			return
		}
		pattern := chi.RouteContext(r.Context()).RoutePattern()
		var (
			ctx    context.Context
			policy error
			err    error
		)
		if strings.HasPrefix(token, auth.DeployTokenPrefix) {
			var dt auth.DeployToken
			dt, err = a.deps.Auth.VerifyDeployToken(r.Context(), token)
			if err == nil {
				noteDeployToken(r.Context(), dt)
				ctx = context.WithValue(r.Context(), deployTokenKey{}, dt)
				policy = deployTokenAllows(dt, r.Method, pattern, pathParam(r, "id"), pathParam(r, "env"))
			}
		} else {
			var claims auth.AdminClaims
			claims, err = a.deps.Auth.VerifyAdminToken(r.Context(), token)
			if err == nil {
				noteAdmin(r.Context(), claims)
				ctx = context.WithValue(r.Context(), adminKey{}, claims)
				policy = adminRoleAllows(claims.Role, r.Method, pattern)
			}
		}
		if errors.Is(err, auth.ErrUnauthorized) {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf("Bearer realm=%q, error=\"invalid_token\"", adminRealm))
			a.fail(w, r, fmt.Errorf("%w: the token is invalid, expired or revoked", ErrUnauthenticated))
			return
		}
		if err != nil {
			a.fail(w, r, fmt.Errorf("verify admin token: %w", err))
			return
		}
		switch {
		case pattern == "":
			// No route matched (the router's not-found handler): the
			// answer is a 404 whatever the token may do. Answering it here
			// rather than calling next keeps the policy closed should
			// this middleware ever wrap a handler outside a chi route.
			a.notFound(w, r.WithContext(ctx))
		case policy != nil:
			a.fail(w, r, policy)
		default:
			next.ServeHTTP(w, r.WithContext(ctx))
		}
	})
}

// readOnly reports whether method only reads.
func readOnly(method string) bool {
	return method == http.MethodGet || method == http.MethodHead
}

// under reports whether pattern is route or lies below it.
func under(pattern, route string) bool {
	return pattern == route || strings.HasPrefix(pattern, route+"/")
}

// adminRoleAllows is the policy of admin tokens, by role: owners may do
// everything; developers everything but managing admin accounts; viewers
// only read (GET, HEAD), and not the admin accounts either. It returns nil
// or an ErrForbidden that says why.
func adminRoleAllows(role, method, pattern string) error {
	switch {
	case role == auth.RoleOwner:
		return nil
	case under(pattern, adminAccountsRoute):
		return fmt.Errorf("%w: only owners manage admin accounts", ErrForbidden)
	case role == auth.RoleDeveloper:
		return nil
	case role == auth.RoleViewer && readOnly(method):
		return nil
	case role == auth.RoleViewer:
		return fmt.Errorf("%w: viewers may only read (GET)", ErrForbidden)
	}
	return fmt.Errorf("%w: unknown admin role %q", ErrForbidden, role)
}

// deployTokenAllows is the policy of deploy tokens: a token may use the
// routes of its own app environment (under adminEnvRoute, with matching
// {id} and {env}), except deploy token management and the environment's
// audit settings, and changes of flow variables and secrets; promote any
// version of its app (deployPromoteRoute: the handler checks the target);
// and read its app (GET adminAppRoute); nothing else. id and env are the
// request's unescaped URL parameters.
func deployTokenAllows(t auth.DeployToken, method, pattern, id, env string) error {
	ownEnv := id == t.App && env == t.Env
	switch {
	case pattern == adminAppRoute && readOnly(method) && id == t.App:
		return nil
	case under(pattern, deployTokensRoute):
		return fmt.Errorf("%w: a deploy token cannot manage deploy tokens", ErrForbidden)
	case under(pattern, envAuditRoute):
		return fmt.Errorf("%w: a deploy token cannot change the audit trail's settings", ErrForbidden)
	case (under(pattern, flowVariablesRoute) || under(pattern, flowSecretsRoute)) && !readOnly(method):
		return fmt.Errorf("%w: a deploy token cannot change variables or secrets; an admin does", ErrForbidden)
	case pattern == deployPromoteRoute && id == t.App:
		return nil // promoteDeployment checks that the target is the token's
	case pattern == adminEnvRoute && readOnly(method) && ownEnv:
		return nil
	case strings.HasPrefix(pattern, adminEnvRoute+"/") && ownEnv:
		return nil
	}
	return fmt.Errorf("%w: this deploy token is limited to environment %q of app %q", ErrForbidden, t.Env, t.App)
}
