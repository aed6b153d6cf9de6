package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-chi/chi/v5"
)

// adminV1Route is where an admin reaches an environment's /v1 routes.
const adminV1Route = adminEnvRoute + "/v1/*"

// bindAdminV1 binds /admin/api/apps/{id}/environments/{env}/v1/...: the
// environment's object, device and push routes of /v1, called as the
// environment's server (X-Skybridge-Server-Key) by an admin token. The
// admin portal needs them (browse and edit objects, devices, shadows and
// commands, compose a push and follow its delivery) but cannot hold a
// server key: the store keeps only its hash. Rather than a second set of
// handlers, the same ones serve here, bound again on a router of their
// own with a throwaway OpenAPI description (as /v1/batch does).
//
// Viewers may only GET (adminAuth); deploy tokens may not use it at all:
// a CI credential must not gain a server key's reach over app data. The
// calls are audited as the admin's, and are not app traffic on the
// dashboard.
func (a *API) bindAdminV1(g chi.Router, spec *apiSpec) {
	ops := chi.NewRouter()
	ops.NotFound(a.notFound)
	ops.MethodNotAllowed(a.methodNotAllowed)
	throwaway := newSpec("")
	ops.Route("/v1", func(v1 chi.Router) {
		if a.deps.Objects != nil {
			a.bindObjects(v1, throwaway)
		}
		if a.deps.Devices != nil {
			a.bindDevices(v1, throwaway)
		}
		if a.deps.Push != nil {
			a.bindPush(v1, throwaway)
		}
	})
	serve := func(w http.ResponseWriter, r *http.Request) { a.adminV1(ops, w, r) }
	path := strings.TrimPrefix(adminV1Route, "/admin/api")
	for _, m := range adminV1Methods {
		g.MethodFunc(m, path, serve)
	}
	describeAdminV1(spec, adminV1Route)
}

// adminV1 routes one admin call into ops as a server call of the
// environment.
func (a *API) adminV1(ops http.Handler, w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if _, ok := DeployTokenFrom(ctx); ok {
		a.fail(w, r, fmt.Errorf("%w: a deploy token cannot call the environment's /v1 routes; an admin does", ErrForbidden))
		return
	}
	env, err := a.adminEnv(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	noteEnvironment(ctx, env, false)
	db, err := a.deps.Store.DB(ctx, env.DB)
	if err != nil {
		a.fail(w, r, fmt.Errorf("open the database of %s/%s: %w", env.AppID, env.Name, err))
		return
	}
	// The path after .../v1/, as chi routed it: escaped when the request
	// path was.
	target := "/v1/" + chi.URLParam(r, "*")
	if r.URL.RawPath == "" {
		target = (&url.URL{Path: target}).EscapedPath()
	}
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	// Fresh routing state: ops routes from its root, and the access log,
	// metrics and audit keep reading the admin route from the request's.
	sctx := context.WithValue(withKeyedCall(ctx, keyedCall{env: env, db: db, server: true}), chi.RouteCtxKey, chi.NewRouteContext())
	sub, err := http.NewRequestWithContext(sctx, r.Method, target, r.Body)
	if err != nil {
		a.fail(w, r, onField("path", fmt.Errorf("%w: %v", ErrInvalidInput, err)))
		return
	}
	sub.Header = r.Header.Clone()
	for _, h := range []string{"Authorization", AppKeyHeader, ServerKeyHeader} {
		sub.Header.Del(h)
	}
	sub.ContentLength, sub.RemoteAddr, sub.Host = r.ContentLength, r.RemoteAddr, r.Host
	ops.ServeHTTP(w, sub)
}

// adminV1Methods are the methods the /v1 routes use.
var adminV1Methods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// describeAdminV1 documents the route, once per method. Its path ends in
// the router's wildcard: everything after .../v1/ is the /v1 path.
func describeAdminV1(spec *apiSpec, path string) {
	for _, m := range adminV1Methods {
		spec.route(m, path, operation{
			ID: "adminV1" + strings.ToUpper(m[:1]) + strings.ToLower(m[1:]), Tag: "admin", Security: []string{schemeBearer},
			Summary: "The environment's /v1 object, device and push routes (the path after .../v1/ is the /v1 path: collections/..., devices/..., push/...) " +
				"called as the environment's server (as with X-Skybridge-Server-Key), for the admin portal. Answers as the /v1 route does. " +
				"Viewers may only GET; deploy tokens are refused.",
			Responses: []response{{Status: 200, Description: "The /v1 route's answer (its own status)."}},
			Problems:  []int{400, 401, 403, 404},
		})
	}
}
