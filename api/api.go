// Package api is Skybridge's HTTP surface: the chi router, its middleware
// (request id, access log, metrics, gzip, panic recovery, CORS, body limit,
// timeout), RFC 9457 problem responses, the operations endpoints (/healthz,
// /readyz, /metrics), the OpenAPI document, the admin API under /admin/api
// and the /v1 app API behind the app-key middleware.
//
// Handlers stay thin: they decode the request, call a domain service and
// encode the answer. Errors become statuses in one place, problemFor.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/skybridgehq/skybridge/analytics"
	"github.com/skybridgehq/skybridge/audit"
	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/cache"
	"github.com/skybridgehq/skybridge/dashboard"
	"github.com/skybridgehq/skybridge/events"
	"github.com/skybridgehq/skybridge/iotbridge"
	"github.com/skybridgehq/skybridge/objectstore"
	"github.com/skybridgehq/skybridge/orchestration/deploy"
	"github.com/skybridgehq/skybridge/push"
	"github.com/skybridgehq/skybridge/ratelimit"
	"github.com/skybridgehq/skybridge/store"
	skysync "github.com/skybridgehq/skybridge/sync"
)

// Check is one component /readyz reports on (the store, the cache, the
// broker ...).
type Check struct {
	// Name keys the component in the /readyz answer, e.g. "store".
	Name string
	// Kind names the implementation, e.g. "sqlite", "memory", "redis".
	Kind string
	// Required makes a failure of this check fail readiness (503);
	// failures of optional checks only make the answer "degraded" (200).
	Required bool
	// Ping reports whether the component answers. It must honour ctx,
	// which carries Config.ReadyTimeout.
	Ping func(ctx context.Context) error
}

// Deps are the services the API serves.
type Deps struct {
	// Auth manages admins, apps, environments and keys. Required.
	Auth *auth.Service
	// Store opens the database of the environment whose key a /v1 request
	// presents. Required.
	Store store.Provider
	// Checks are the /readyz components.
	Checks []Check
	// Logger receives the access log, panics and server errors. Default:
	// slog.Default().
	Logger *slog.Logger
	// Registry holds the metrics /metrics serves; the API registers its
	// HTTP metrics there. Default: a new registry with the Go runtime and
	// process collectors.
	Registry *prometheus.Registry
	// Audit, when set, receives an audit record for every /v1 and
	// /admin/api request and serves GET /admin/api/audit.
	Audit *audit.Service
	// Version is reported in the OpenAPI document.
	Version string
	// Objects, when set, serves the object store: /v1/collections,
	// /v1/batch, /v1/realtime and the admin collection settings.
	Objects *objectstore.Service
	// Sync, when set with Objects, serves the offline sync routes
	// /v1/sync/pull, /push and /check.
	Sync *skysync.Service
	// Events, when set with Objects, serves GET /v1/realtime: the bus the
	// object store's writes are published on (objectstore.Config.OnChange).
	Events *events.Bus
	// RateLimiter holds the /v1 rate limit budgets. Default: an
	// in-process ratelimit.Memory (per node); a ratelimit.Redis shares
	// them between nodes.
	RateLimiter RateLimiter
	// Deployments, when set, serves the flows of the live deployments at
	// /v1/flows/{name} and the flow environments of the admin API:
	// variables, secrets, deployments, promote, rollback and flow test
	// runs (deployments.go, flows.go). Its plans must be
	// *orchestration.Plan.
	Deployments *deploy.Service
	// Cache, when set, caches object GETs of the collections that opt in
	// (their "cache": {"ttl"}) and serves the admin cache purge and stats
	// routes. Writes invalidate through ObjectCacheInvalidator, which the
	// wiring puts on objectstore.Config.OnChange.
	Cache cache.Cache
	// Devices, when set, serves the IoT bridge's device routes under
	// /v1/devices: registry, shadows and commands (devices.go).
	Devices *iotbridge.Service
	// Push, when set, serves /v1/push (installations, sends, status) and
	// the push credentials of the admin API.
	Push *push.Service
	// Analytics, when set, serves POST /v1/analytics/events and the admin
	// analytics query and retention settings (analytics.go).
	Analytics *analytics.Service
	// Dashboard, when set, records every /v1 request of an app
	// environment and serves the admin dashboard (dashboard.go).
	Dashboard *dashboard.Recorder
}

// Config tunes the API. The zero value means every default.
type Config struct {
	// RequestTimeout is the deadline put on every request's context.
	// Default: 30s.
	RequestTimeout time.Duration
	// MaxBodyBytes bounds request bodies; larger ones get a 413.
	// Default: 2 MiB.
	MaxBodyBytes int64
	// CORSOrigins are the browser origins ("https://app.example.com")
	// allowed to call the API; "*" allows any. Default: none, and no CORS
	// headers at all.
	CORSOrigins []string
	// ReadyTimeout bounds each /readyz check. Default: 2s.
	ReadyTimeout time.Duration
	// LoginFailures is how many failed admin logins one email may have
	// from one address within LoginWindow before further attempts get a
	// 429. Default: 10.
	LoginFailures int
	// LoginWindow is the period LoginFailures counts over. Default: 15m.
	LoginWindow time.Duration
	// RealtimeSessionCheck is how often an open /v1/realtime connection
	// reads its user's session again: a disabled user or revoked session
	// is disconnected within it. Default: 30s.
	RealtimeSessionCheck time.Duration
	// RateLimitEnv limits all /v1 traffic of one app environment; an
	// environment may override it through the admin API. ratelimit.Off
	// (a negative Limit) disables it. Default: 6000 per minute.
	RateLimitEnv ratelimit.Policy
	// RateLimitClient limits the /v1 traffic of one user (with an access
	// token) or else one client address, per environment; overridable
	// and disabled like RateLimitEnv. Default: 600 per minute.
	RateLimitClient ratelimit.Policy
}

// Defaults of Config.
const (
	DefaultRequestTimeout = 30 * time.Second
	DefaultMaxBodyBytes   = 2 << 20
	DefaultReadyTimeout   = 2 * time.Second
	DefaultLoginFailures  = 10
	DefaultLoginWindow    = 15 * time.Minute
)

// Default rate limits of Config.
var (
	DefaultRateLimitEnv    = ratelimit.Policy{Limit: 6000, Period: time.Minute}
	DefaultRateLimitClient = ratelimit.Policy{Limit: 600, Period: time.Minute}
)

func (c Config) withDefaults() Config {
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = DefaultReadyTimeout
	}
	if c.LoginFailures == 0 {
		c.LoginFailures = DefaultLoginFailures
	}
	if c.LoginWindow == 0 {
		c.LoginWindow = DefaultLoginWindow
	}
	if c.RealtimeSessionCheck <= 0 {
		c.RealtimeSessionCheck = 30 * time.Second
	}
	if c.RateLimitEnv.IsZero() {
		c.RateLimitEnv = DefaultRateLimitEnv
	}
	if c.RateLimitClient.IsZero() {
		c.RateLimitClient = DefaultRateLimitClient
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.RequestTimeout < 0:
		return errors.New("api: RequestTimeout is negative")
	case c.MaxBodyBytes < 0:
		return errors.New("api: MaxBodyBytes is negative")
	case c.ReadyTimeout < 0:
		return errors.New("api: ReadyTimeout is negative")
	case c.LoginFailures < 0:
		return errors.New("api: LoginFailures is negative")
	case c.LoginWindow < 0:
		return errors.New("api: LoginWindow is negative")
	}
	if err := c.RateLimitEnv.Validate(); err != nil && !c.RateLimitEnv.IsZero() {
		return fmt.Errorf("api: RateLimitEnv: %w", err)
	}
	if err := c.RateLimitClient.Validate(); err != nil && !c.RateLimitClient.IsZero() {
		return fmt.Errorf("api: RateLimitClient: %w", err)
	}
	return nil
}

// API is Skybridge's HTTP handler. Build it with New.
type API struct {
	deps    Deps
	cfg     Config
	log     *slog.Logger
	reg     *prometheus.Registry
	router  *chi.Mux
	keyed   chi.Router // the /v1 routes behind the app-key middleware
	openapi []byte
	logins  *loginLimiter
	rates   *rateLimits
	loader  *cache.Loader // over Deps.Cache; nil without
}

// New builds the API over deps. Misconfiguration (a missing dependency, a
// malformed CORS origin, a check without a name or Ping ...) is an error
// here rather than on the first request.
func New(deps Deps, cfg Config) (*API, error) {
	if err := checkDeps(deps); err != nil {
		return nil, err
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	a := &API{deps: deps, cfg: cfg, log: deps.Logger, reg: deps.Registry}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.reg == nil {
		a.reg = prometheus.NewRegistry()
		a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	a.logins = newLoginLimiter(cfg.LoginFailures, cfg.LoginWindow, time.Now)
	cors, err := CORS(cfg.CORSOrigins)
	if err != nil {
		return nil, err
	}
	metrics, err := metricsWith(a.reg, deps.Dashboard)
	if err != nil {
		return nil, err
	}
	if a.rates, err = a.newRateLimits(); err != nil {
		return nil, err
	}
	if deps.Cache != nil {
		a.loader = cache.NewLoader(deps.Cache, cache.LoaderConfig{Logger: a.log})
		// Every database the API hands out drops cached session checks on
		// writes to users and sessions (sessioncache.go).
		a.deps.Store = SessionCacheStore(deps.Store, deps.Cache, a.log)
	}
	spec := newSpec(deps.Version)

	r := chi.NewRouter()
	var auditor Auditor
	if deps.Audit != nil {
		auditor = deps.Audit
	}
	r.Use(RequestID, AccessLog(a.log), metrics, Audit(auditor), Compress(), Recoverer(a.log), cors,
		BodyLimit(cfg.MaxBodyBytes), Timeout(cfg.RequestTimeout), middleware.GetHead)
	a.router = r
	r.NotFound(markUnmatched(a.unknownRoute()))
	r.MethodNotAllowed(markUnmatched(http.HandlerFunc(a.methodNotAllowed)))
	a.bindOps(r, spec)
	a.bindV1(r, spec)
	r.Mount("/admin/api", a.adminRouter(spec))
	if err := a.bindAdminPortal(r, spec); err != nil {
		return nil, err
	}

	if a.openapi, err = spec.marshal(); err != nil {
		return nil, err
	}
	return a, nil
}

// unknownRoute answers requests no route matches. An unknown /v1 route
// still asks for a key first: without one the answer is 401, so that the
// route table stays private to key holders.
func (a *API) unknownRoute() http.Handler {
	v1 := a.appKey(http.HandlerFunc(a.notFound))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1" || strings.HasPrefix(r.URL.Path, "/v1/") {
			v1.ServeHTTP(w, r)
			return
		}
		a.notFound(w, r)
	})
}

// bindV1 binds the app API into the root router r: everything under /v1
// needs an app key, except the OpenAPI document. Route families bind into
// the keyed group. The routes go into r's own tree under the /v1 prefix
// (prefixRouter), not into a mounted sub-router: every app call is
// matched once.
func (a *API) bindV1(r chi.Router, spec *apiSpec) {
	v1 := prefixRouter{r, "/v1"}
	a.bindOpenAPI(v1, spec)
	// Browser legs of OpenID sign-in: no key header can ride a redirect.
	a.bindOIDCBrowser(v1, spec)
	if a.deps.Objects != nil {
		// The WebSocket takes its key from a header, the query or the
		// first message: browsers cannot set headers on an upgrade.
		a.bindRealtime(v1, spec)
	}
	v1.Group(func(keyed chi.Router) {
		keyed.Use(a.appKey)
		a.keyed = keyed
		a.bindUsers(keyed, spec) // first: it adds the user session middleware
		if a.deps.Objects != nil {
			a.bindObjects(keyed, spec)
			a.bindBatch(keyed, spec)
			if a.deps.Sync != nil {
				a.bindSync(keyed, spec)
			}
		}
		if a.deps.Deployments != nil {
			a.bindFlows(keyed, spec)
		}
		if a.deps.Devices != nil {
			a.bindDevices(keyed, spec)
		}
		if a.deps.Push != nil {
			a.bindPush(keyed, spec)
		}
		if a.deps.Analytics != nil {
			a.bindAnalytics(keyed, spec)
		}
		// Route families (objects, sync, flows, push, devices ...) bind
		// here, one call each.
	})
}

func checkDeps(deps Deps) error {
	if deps.Auth == nil {
		return errors.New("api: Deps.Auth is required")
	}
	if deps.Store == nil {
		return errors.New("api: Deps.Store is required")
	}
	seen := map[string]bool{}
	for i, c := range deps.Checks {
		switch {
		case c.Name == "":
			return fmt.Errorf("api: Deps.Checks[%d] has no name", i)
		case seen[c.Name]:
			return fmt.Errorf("api: two checks are named %q", c.Name)
		case c.Ping == nil:
			return fmt.Errorf("api: check %q has no Ping", c.Name)
		}
		seen[c.Name] = true
	}
	return nil
}

// ServeHTTP serves one request.
//
// It makes the request's state (requestState) before routing, with the
// router's routing context inside: chi then finds that context already
// there and skips making its own, which would cost a context value and
// another copy of the request on every call. RequestID, the outermost
// middleware, takes the state over.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := newRequestState(w, r.Context())
	rctx := routeContexts.Get().(*chi.Context)
	rctx.Reset()
	rctx.Routes = a.router
	st.ctx.route = rctx
	defer func() {
		st.ctx.release()
		routeContexts.Put(rctx)
	}()
	a.router.ServeHTTP(&st.w, r.WithContext(&st.ctx))
}

// routeContexts are the routing contexts API.ServeHTTP lends its
// requests, as chi pools its own.
var routeContexts = sync.Pool{New: func() any { return chi.NewRouteContext() }}

// Routes is the route table, for chi.Walk.
func (a *API) Routes() chi.Routes { return a.router }

// fail answers with the problem for err (see problemFor), logging server
// errors.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	writeError(w, r, a.log, err)
}

// respond sends v as JSON with the given status.
func (a *API) respond(w http.ResponseWriter, r *http.Request, status int, v any) {
	if err := writeJSON(w, status, v); err != nil {
		a.fail(w, r, err)
	}
}
