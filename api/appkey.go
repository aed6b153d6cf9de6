package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/skybridgehq/skybridge/auth"
)

// Key headers of the /v1 API.
const (
	// AppKeyHeader carries the public app key on every /v1 call.
	AppKeyHeader = "X-Skybridge-Key"
	// ServerKeyHeader carries the secret server key of trusted servers.
	ServerKeyHeader = "X-Skybridge-Server-Key"
)

// appKeyChallenge is the WWW-Authenticate challenge of a 401 on /v1.
const appKeyChallenge = `SkybridgeKey realm="skybridge", header="` + AppKeyHeader + `"`

// appKey guards the /v1 API: the request must present an app key
// (X-Skybridge-Key) that resolves to an environment, and may present that
// environment's server key (X-Skybridge-Server-Key), which must then be
// valid. It puts the environment, its database and the server-call flag
// into the context (EnvironmentFrom, DBFrom, IsServerCall): the database of
// the presented key is the only one the request can reach.
func (a *API) appKey(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		key := r.Header.Get(AppKeyHeader)
		if key == "" {
			a.refuseKey(w, r, fmt.Errorf("%w: the %s header is required", ErrUnauthenticated, AppKeyHeader))
			return
		}
		env, err := a.deps.Auth.ResolveAppKey(ctx, key)
		if errors.Is(err, auth.ErrUnauthorized) {
			a.refuseKey(w, r, fmt.Errorf("%w: unknown or expired app key", ErrUnauthenticated))
			return
		}
		if err != nil {
			a.fail(w, r, fmt.Errorf("resolve app key: %w", err))
			return
		}
		if err := auth.CheckAppVersion(env, r.Header.Get(AppVersionHeader)); err != nil {
			if errors.Is(err, auth.ErrInvalid) {
				err = onField(AppVersionHeader, err)
			}
			a.fail(w, r, err)
			return
		}
		server := false
		if vals, ok := r.Header[http.CanonicalHeaderKey(ServerKeyHeader)]; ok {
			if len(vals) != 1 || !a.deps.Auth.CheckServerKey(ctx, env, vals[0]) {
				a.refuseKey(w, r, fmt.Errorf("%w: invalid server key for this environment", ErrUnauthenticated))
				return
			}
			server = true
		}
		db, err := a.deps.Store.DB(ctx, env.DB)
		if err != nil {
			a.fail(w, r, fmt.Errorf("open the database of %s/%s: %w", env.AppID, env.Name, err))
			return
		}
		kctx := withKeyedCall(ctx, keyedCall{env: env, db: db, server: server})
		noteEnvironment(kctx, env, server)
		if kctx != ctx {
			r = r.WithContext(kctx)
		}
		next.ServeHTTP(w, r)
	})
}

func (a *API) refuseKey(w http.ResponseWriter, r *http.Request, err error) {
	w.Header().Set("WWW-Authenticate", appKeyChallenge)
	a.fail(w, r, err)
}
