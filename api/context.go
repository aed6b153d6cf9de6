package api

import (
	"context"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/store"
)

// Context keys. Each is its own type, so no other package can collide with
// them.
type (
	requestKey struct{}
	keyedKey   struct{}
	adminKey   struct{}
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
	// start is when RequestID took the request: the access log, metrics,
	// audit and timeout all time it from there (one clock read, not
	// four).
	start time.Time
	// audited is set by the Audit middleware, which then keeps its note
	// here.
	audited bool
	note    auditNote
	// route is the route pattern routeLabel worked out for routeCtx.
	route    string
	routeCtx *chi.Context
	// keyed is set by the app key middleware of /v1 (hasKeyed), which
	// then needs no context value of its own.
	keyed    keyedCall
	hasKeyed bool
	// w wraps the request's response writer (wrapwriter.go).
	w responseWriter
	// ctx is the request's context (requestctx.go).
	ctx requestCtx
}

// requestStart is when the request began: when RequestID took it, else
// now.
func requestStart(r *http.Request) time.Time {
	if st := requestStateFrom(r.Context()); st != nil {
		return st.start
	}
	return time.Now()
}

func requestStateFrom(ctx context.Context) *requestState {
	st, _ := ctx.Value(requestKey{}).(*requestState)
	return st
}

// EnvironmentFrom returns the app environment whose key the request
// presented; ok is false outside the /v1 key middleware.
func EnvironmentFrom(ctx context.Context) (auth.Environment, bool) {
	k := keyedFrom(ctx)
	if k == nil {
		return auth.Environment{}, false
	}
	return k.env, true
}

// keyedFrom returns what the app key middleware learnt, or nil outside it.
func keyedFrom(ctx context.Context) *keyedCall {
	if st := requestStateFrom(ctx); st != nil && st.hasKeyed {
		return &st.keyed
	}
	k, _ := ctx.Value(keyedKey{}).(*keyedCall)
	return k
}

// keyedCall is what the app key middleware learnt of a /v1 request, in
// one context value (three would cost three allocations and longer
// lookups on every request).
type keyedCall struct {
	env    auth.Environment
	db     store.DB
	server bool
}

// withKeyedCall returns ctx carrying k: in the request's state behind
// RequestID (always, in New), else in a context value of its own.
func withKeyedCall(ctx context.Context, k keyedCall) context.Context {
	if st := requestStateFrom(ctx); st != nil {
		st.keyed, st.hasKeyed = k, true
		return ctx
	}
	kk := k // only this branch puts k on the heap
	return context.WithValue(ctx, keyedKey{}, &kk)
}

// DBFrom returns the database of the request's app environment, or nil
// outside the /v1 key middleware. A request never reaches another one.
func DBFrom(ctx context.Context) store.DB {
	if k := keyedFrom(ctx); k != nil {
		return k.db
	}
	return nil
}

// IsServerCall reports whether the request presented a valid
// X-Skybridge-Server-Key for its environment (a trusted server, which
// bypasses per-object ACLs).
func IsServerCall(ctx context.Context) bool {
	k := keyedFrom(ctx)
	return k != nil && k.server
}

// AdminFrom returns the claims of the admin token the request presented;
// ok is false outside the admin API's bearer middleware.
func AdminFrom(ctx context.Context) (auth.AdminClaims, bool) {
	c, ok := ctx.Value(adminKey{}).(auth.AdminClaims)
	return c, ok
}
