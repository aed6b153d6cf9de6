package api

import (
	"context"

	"github.com/go-chi/chi/v5"

	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/store"
)

// Context keys. Each is its own type, so no other package can collide with
// them.
type (
	requestKey     struct{}
	environmentKey struct{}
	dbKey          struct{}
	serverCallKey  struct{}
	adminKey       struct{}
)

// RequestIDFrom returns the id the RequestID middleware gave the request,
// or "" outside of one.
func RequestIDFrom(ctx context.Context) string {
	if st := requestStateFrom(ctx); st != nil {
		return st.id
	}
	return ""
}

// requestState is what the outermost middleware, RequestID, puts in a
// request's context for the ones inside: the request id, and the note the
// Audit middleware collects. One value holds both, so that an audited
// request pays for one context value and one request copy, not two.
type requestState struct {
	id string
	// audited is set by the Audit middleware, which then keeps its note
	// here.
	audited bool
	note    auditNote
	// route is the route pattern routeLabel worked out for routeCtx.
	route    string
	routeCtx *chi.Context
}

func requestStateFrom(ctx context.Context) *requestState {
	st, _ := ctx.Value(requestKey{}).(*requestState)
	return st
}

// EnvironmentFrom returns the app environment whose key the request
// presented; ok is false outside the /v1 key middleware.
func EnvironmentFrom(ctx context.Context) (auth.Environment, bool) {
	env, ok := ctx.Value(environmentKey{}).(auth.Environment)
	return env, ok
}

// DBFrom returns the database of the request's app environment, or nil
// outside the /v1 key middleware. A request never reaches another one.
func DBFrom(ctx context.Context) store.DB {
	db, _ := ctx.Value(dbKey{}).(store.DB)
	return db
}

// IsServerCall reports whether the request presented a valid
// X-Skybridge-Server-Key for its environment (a trusted server, which
// bypasses per-object ACLs).
func IsServerCall(ctx context.Context) bool {
	ok, _ := ctx.Value(serverCallKey{}).(bool)
	return ok
}

// AdminFrom returns the claims of the admin token the request presented;
// ok is false outside the admin API's bearer middleware.
func AdminFrom(ctx context.Context) (auth.AdminClaims, bool) {
	c, ok := ctx.Value(adminKey{}).(auth.AdminClaims)
	return c, ok
}
