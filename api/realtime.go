package api

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/go-chi/chi/v5"

	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/objectstore"
	"github.com/skybridgehq/skybridge/store"
)

// Realtime limits and timings.
const (
	// realtimeMaxMessage bounds a client message (a filter is at most
	// store.MaxFilterBytes).
	realtimeMaxMessage = 64 << 10
	// realtimeMaxSubs bounds the subscriptions of one connection.
	realtimeMaxSubs = 100
	// realtimeBuffer bounds the events waiting for one connection; a
	// client that lets it fill is a slow consumer and is disconnected.
	realtimeBuffer = 256
	// realtimeAuthTimeout is how long a connection without credentials in
	// its request has to send its auth message.
	realtimeAuthTimeout = 10 * time.Second
	// realtimePingInterval and realtimePongTimeout keep idle connections
	// alive through proxies and find dead peers.
	realtimePingInterval = 30 * time.Second
	realtimePongTimeout  = 15 * time.Second
	// realtimeWriteTimeout bounds one message write.
	realtimeWriteTimeout = 10 * time.Second
	// realtimeReplayPage is the change feed page size of a replay.
	realtimeReplayPage = 500
)

// Close reasons the client sees.
const (
	reasonSlowConsumer   = "slow consumer"
	reasonShutdown       = "server shutting down"
	reasonAuthTimeout    = "authentication timeout"
	reasonPingTimeout    = "ping timeout"
	reasonTokenExpired   = "access token expired"
	reasonSessionRevoked = "session revoked or user disabled"
)

// errNotWebSocket answers a plain HTTP request to the WebSocket route, as
// a 400 naming the Upgrade header.
var errNotWebSocket = fmt.Errorf("%w: GET /v1/realtime speaks WebSocket only (Connection: Upgrade, Upgrade: websocket)", ErrInvalidInput)

// bindRealtime binds GET /v1/realtime, the WebSocket of object events.
// It sits outside the app-key middleware: browsers cannot set headers on a
// WebSocket handshake, so the key may also come as a query parameter or
// in the first message.
func (a *API) bindRealtime(v1 chi.Router, spec *apiSpec) {
	if a.deps.Events == nil {
		return // no bus, no events: the route does not exist
	}
	describeRealtime(spec)
	v1.Get("/realtime", a.realtime)
}

// rtCredentials are what a client presents.
type rtCredentials struct {
	key, token, serverKey string
	hasServerKey          bool
}

// rtIdentity is who a connection is.
type rtIdentity struct {
	env  objectstore.Env
	p    objectstore.Principal
	user string
	// expires is when the access token expires (zero without one): the
	// connection ends then, and the client comes back with a fresh token
	// and since.
	expires time.Time
	// session is the access token's session, re-checked every
	// Config.RealtimeSessionCheck (nil without a token): a disabled user
	// or a revoked session ends the connection, and role changes apply.
	session *rtSession
}

// rtSession is what re-checking a connection's session needs.
type rtSession struct {
	db     store.DB
	claims auth.UserClaims
}

// realtime authenticates the request (when it carries credentials),
// upgrades it and runs the connection until either side ends it.
func (a *API) realtime(w http.ResponseWriter, r *http.Request) {
	creds, err := requestCredentials(r)
	if err != nil {
		a.refuseKey(w, r, err)
		return
	}
	var id *rtIdentity
	if creds.key != "" {
		got, err := a.realtimeIdentity(r.Context(), creds)
		if err != nil {
			a.refuseRealtime(w, r, err)
			return
		}
		id = &got
	}
	if err := checkHandshake(r); err != nil {
		if id == nil {
			a.refuseKey(w, r, fmt.Errorf("%w: the %s header (or the key query parameter) is required", ErrUnauthenticated, AppKeyHeader))
			return
		}
		w.Header().Set("Upgrade", "websocket")
		w.Header().Set("Sec-WebSocket-Version", "13")
		a.fail(w, r, err)
		return
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		// Any origin: the API authenticates with keys and tokens the
		// page must hold, never with cookies, so a foreign page gains
		// nothing from opening a socket.
		OriginPatterns: []string{"*"},
	})
	if err != nil {
		a.log.Debug("realtime: upgrade failed", "err", err)
		return // Accept answered the client
	}
	ws.SetReadLimit(realtimeMaxMessage)
	c := newRealtimeConn(a, ws, id)
	c.run(r.Context())
}

// checkHandshake refuses, as a problem naming the header, what
// websocket.Accept would refuse in plain text: a request that is not a
// version 13 WebSocket handshake.
func checkHandshake(r *http.Request) error {
	switch {
	case !isUpgrade(r) || !strings.EqualFold(r.Header.Get("Upgrade"), "websocket"):
		return onField("Upgrade", errNotWebSocket)
	case r.Header.Get("Sec-WebSocket-Version") != "13":
		return onField("Sec-WebSocket-Version", fmt.Errorf("%w: only WebSocket version 13 is supported", ErrInvalidInput))
	}
	key, err := base64.StdEncoding.DecodeString(r.Header.Get("Sec-WebSocket-Key"))
	if err != nil || len(key) != 16 {
		return onField("Sec-WebSocket-Key", fmt.Errorf("%w: a base64 nonce of 16 bytes is required", ErrInvalidInput))
	}
	return nil
}

// refuseRealtime answers a failed handshake authentication.
func (a *API) refuseRealtime(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, ErrUnauthenticated) {
		a.refuseKey(w, r, err)
		return
	}
	a.fail(w, r, err)
}

// requestCredentials reads the key and token of the handshake: headers
// first, then the query parameters key and access_token. The server key
// comes in its header only (query strings end up in logs).
func requestCredentials(r *http.Request) (rtCredentials, error) {
	q := r.URL.Query()
	c := rtCredentials{key: r.Header.Get(AppKeyHeader)}
	if c.key == "" {
		c.key = q.Get("key")
	}
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			return c, fmt.Errorf("%w: Authorization must be Bearer <access token>", ErrUnauthenticated)
		}
		c.token = strings.TrimSpace(token)
	} else {
		c.token = q.Get("access_token")
	}
	if vals, ok := r.Header[http.CanonicalHeaderKey(ServerKeyHeader)]; ok {
		if len(vals) != 1 {
			return c, fmt.Errorf("%w: one %s header at most", ErrUnauthenticated, ServerKeyHeader)
		}
		c.serverKey, c.hasServerKey = vals[0], true
	}
	if (c.token != "" || c.hasServerKey) && c.key == "" {
		return c, fmt.Errorf("%w: the %s header (or the key query parameter) is required", ErrUnauthenticated, AppKeyHeader)
	}
	return c, nil
}

// realtimeIdentity resolves credentials as the app-key and user-session
// middleware do, and notes the environment and user for the audit record.
func (a *API) realtimeIdentity(ctx context.Context, c rtCredentials) (rtIdentity, error) {
	env, err := a.deps.Auth.ResolveAppKey(ctx, c.key)
	if errors.Is(err, auth.ErrUnauthorized) {
		return rtIdentity{}, fmt.Errorf("%w: unknown or expired app key", ErrUnauthenticated)
	}
	if err != nil {
		return rtIdentity{}, fmt.Errorf("resolve app key: %w", err)
	}
	server := false
	if c.hasServerKey {
		if !a.deps.Auth.CheckServerKey(ctx, env, c.serverKey) {
			return rtIdentity{}, fmt.Errorf("%w: invalid server key for this environment", ErrUnauthenticated)
		}
		server = true
	}
	noteEnvironment(ctx, env, server)
	id := rtIdentity{env: objectstore.Env{DB: env.DB}, p: objectstore.Principal{Server: server}}
	if c.token == "" {
		return id, nil
	}
	db, err := a.deps.Store.DB(ctx, env.DB)
	if err != nil {
		return rtIdentity{}, fmt.Errorf("open the database of %s/%s: %w", env.AppID, env.Name, err)
	}
	claims, err := a.deps.Auth.VerifyUserToken(ctx, env, c.token)
	if err == nil {
		var u auth.User
		if u, err = a.deps.Auth.CheckSession(ctx, db, claims); err == nil {
			noteUser(ctx, u)
			id.p.UserID, id.p.Roles, id.user = u.ID, u.Roles, u.ID
			id.expires = claims.ExpiresAt
			id.session = &rtSession{db: db, claims: claims}
			return id, nil
		}
	}
	if errors.Is(err, auth.ErrUnauthorized) {
		return rtIdentity{}, fmt.Errorf("%w: invalid, expired or revoked access token", ErrUnauthenticated)
	}
	return rtIdentity{}, err
}
