package api

import (
	"context"

	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/store"
)

// Context keys. Each is its own type, so no other package can collide with
// them.
type (
	requestIDKey   struct{}
	environmentKey struct{}
	dbKey          struct{}
	serverCallKey  struct{}
	adminKey       struct{}
)

// RequestIDFrom returns the id the RequestID middleware gave the request,
// or "" outside of one.
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
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
