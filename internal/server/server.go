// Package server wires one Skybridge node together: configuration → store,
// cache and key ring → domain services → the HTTP API. cmd/skybridge and
// internal/testenv both build nodes through it, so tests run exactly the
// wiring the binary runs (see docs/decisions/0001-wiring-in-internal-server.md).
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"github.com/skybridgehq/skybridge/analytics"
	"github.com/skybridgehq/skybridge/api"

	"github.com/skybridgehq/skybridge/audit"
	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/cache"
	"github.com/skybridgehq/skybridge/dashboard"
	"github.com/skybridgehq/skybridge/events"
	"github.com/skybridgehq/skybridge/iotbridge"
	"github.com/skybridgehq/skybridge/iotbridge/broker"
	"github.com/skybridgehq/skybridge/keyring"
	"github.com/skybridgehq/skybridge/migrations"
	"github.com/skybridgehq/skybridge/objectstore"
	"github.com/skybridgehq/skybridge/orchestration/deploy"
	"github.com/skybridgehq/skybridge/orchestration/trigger"
	"github.com/skybridgehq/skybridge/push"
	"github.com/skybridgehq/skybridge/ratelimit"
	"github.com/skybridgehq/skybridge/store"
	"github.com/skybridgehq/skybridge/store/mongo"
	"github.com/skybridgehq/skybridge/store/sqlite"
	skysync "github.com/skybridgehq/skybridge/sync"
)

// Version is the build's version, set with -ldflags at release time.
var Version = "dev"

// Node is one running Skybridge process: its clients, services and
// listeners. Build it with Open, then Start, then Shutdown.
type Node struct {
	cfg     Config
	log     *slog.Logger
	Store   store.Provider
	Cache   cache.Cache
	Keys    *keyring.Keyring
	Auth    *auth.Service
	Audit   *audit.Service
	Objects *objectstore.Service
	// Sync serves offline sync over Objects.
	Sync *skysync.Service
	// Events carries object changes to realtime subscribers, across nodes
	// through Redis when SKYBRIDGE_REDIS_URL is set.
	Events *events.Bus
	// Deployments stores flow bundles per environment and keeps their
	// live plans.
	Deployments *deploy.Service
	// Broker is the embedded MQTT broker devices connect to, listening on
	// SKYBRIDGE_MQTT_ADDR once the node starts; nil in cluster mode.
	Broker *broker.Broker
	// External is the client of the external broker in cluster mode
	// (SKYBRIDGE_MQTT_EXTERNAL); nil with the embedded broker.
	External *iotbridge.External
	// Devices is the IoT bridge: device registry, MQTT policy, shadows
	// and commands, plugged into Broker as a hook.
	Devices *iotbridge.Service
	// Push keeps device installations and push credentials and runs the
	// push send queue.
	Push *push.Service
	// Analytics aggregates the apps' custom events.
	Analytics *analytics.Service
	// Dashboard records the node's /v1 traffic and pushes sent per app
	// environment for the admin dashboard, flushing closed minutes to
	// the store.
	Dashboard *dashboard.Recorder
	API       *api.API

	// limiterRedis is the Redis client of the shared rate limits; nil
	// when they live in process.
	limiterRedis redis.UniversalClient
	// eventsRedis is the Redis client of the events fan-out (pub/sub
	// holds a connection of its own); nil without Redis.
	eventsRedis redis.UniversalClient
	// flowLoader caches the answers of flows that declare a cache; nil
	// with Options.FlowBuilder.
	flowLoader *cache.Loader
	// cacheRedis carries the two-level cache's invalidations (pub/sub);
	// nil unless SKYBRIDGE_CACHE_NEAR_TTL is set.
	cacheRedis redis.UniversalClient

	http     *http.Server
	ln       net.Listener
	serveErr chan error
	stopOnce sync.Once
	maint    *maintainer
	// triggers runs the flows of `kind: Trigger` documents; nil with
	// Options.FlowBuilder.
	triggers *trigger.Service
}

// Options adjust a node beyond its Config; tests use them.
type Options struct {
	// Auth overrides the auth service configuration (e.g. cheaper password
	// hashing in tests).
	Auth auth.Config
	// DisableAudit builds the node without the audit trail. Only the
	// benchmarks use it, to measure what auditing costs; no configuration
	// key reaches it.
	DisableAudit bool
	// FlowBuilder compiles flow bundles. Default: the orchestration
	// engine with every connector type and the node's cache; tests of the
	// deployments alone pass a builder of their own.
	FlowBuilder deploy.Builder
}

// Open connects the store and cache, runs the migrations, creates the first
// admin when configured, and builds the services. It listens on nothing
// yet. On error everything it opened is closed again.
func Open(ctx context.Context, cfg Config, log *slog.Logger, opts Options) (_ *Node, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := &Node{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			n.closeClients()
		}
	}()
	if n.Keys, err = OpenKeyring(cfg, log); err != nil {
		return nil, err
	}
	if n.Store, err = OpenStore(ctx, cfg, log); err != nil {
		return nil, err
	}
	if n.Cache, err = n.openCache(ctx, cfg, log); err != nil {
		return nil, err
	}
	var limiter api.RateLimiter // nil: api.New keeps the budgets in process
	if cfg.RedisURL != "" {
		if n.limiterRedis, err = openRedis(cfg.RedisURL); err != nil {
			return nil, err
		}
		limiter = ratelimit.NewRedis(n.limiterRedis, ratelimit.RedisConfig{})
	}
	sys, err := n.Store.DB(ctx, store.SystemDB)
	if err != nil {
		return nil, fmt.Errorf("open system database: %w", err)
	}
	if _, err := migrations.Run(ctx, sys, migrations.System(), log); err != nil {
		return nil, err
	}
	authCfg := opts.Auth
	if authCfg.Logger == nil {
		authCfg.Logger = log
	}
	n.Auth = auth.NewService(sys, n.Keys, authCfg)
	if cfg.AdminEmail != "" {
		created, err := n.Auth.BootstrapAdmin(ctx, cfg.AdminEmail, cfg.AdminPassword)
		if err != nil {
			return nil, fmt.Errorf("create the first admin from SKYBRIDGE_ADMIN_EMAIL: %w", err)
		}
		if created {
			log.Info("first admin created", "email", cfg.AdminEmail)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	dropped := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "skybridge_audit_dropped_total",
		Help: "Audit records lost because the audit queue was full.",
	})
	reg.MustRegister(dropped)
	auditKey, err := AuditKey(cfg, n.Keys)
	if err != nil {
		return nil, err
	}
	if !opts.DisableAudit {
		n.Audit, err = audit.NewService(sys, audit.Config{
			Sync:      cfg.AuditSync,
			Key:       auditKey,
			Retention: cfg.AuditRetention,
			Logger:    log,
			Dropped:   dropped,
		})
		if err != nil {
			return nil, fmt.Errorf("audit trail: %w", err)
		}
		n.Audit.Start()
	}
	eventsCfg := events.Config{Logger: log}
	if cfg.RedisURL != "" {
		if n.eventsRedis, err = openRedis(cfg.RedisURL); err != nil {
			return nil, err
		}
		eventsCfg.Redis = n.eventsRedis
	}
	n.Events = events.New(eventsCfg)
	if err := n.Events.Start(ctx); err != nil {
		return nil, fmt.Errorf("start the events fan-out over Redis (SKYBRIDGE_REDIS_URL): %w", err)
	}
	invalidate := api.ObjectCacheInvalidator(n.Cache, log)
	n.Objects = objectstore.NewService(n.Store, objectstore.Config{Logger: log, OnChange: func(ctx context.Context, ch objectstore.Change) {
		invalidate(ctx, ch) // first: a realtime subscriber that reads back must not get the cached old object
		n.Events.Publish(ctx, ch)
	}})
	n.Sync = skysync.NewService(n.Objects, n.Store, skysync.Config{TombstoneRetention: cfg.SyncTombstoneRetention, ClockSkew: cfg.SyncClockSkew})
	n.Dashboard = dashboard.New(sys, dashboard.Config{Logger: log.With("component", "dashboard")})
	if n.Push, err = newPush(cfg, sys, n.Store, n.Keys, reg, log, n.Dashboard); err != nil {
		return nil, err
	}
	builder := opts.FlowBuilder
	if builder == nil {
		n.flowLoader = cache.NewLoader(n.Cache, cache.LoaderConfig{Logger: log})
		builder = &flowBuilder{engine: NewFlowEngine(log, reg), loader: n.flowLoader, push: n.Push}
	}
	n.Deployments = deploy.NewService(sys, n.Keys, builder, deploy.Config{Logger: log})
	if err := n.openDevices(ctx, cfg, log, reg); err != nil {
		return nil, err
	}
	if err := n.openMQTTTransport(cfg); err != nil {
		return nil, err
	}
	n.Analytics = analytics.NewService(n.Store, analytics.Config{RetentionDays: cfg.AnalyticsRetentionDays})
	n.API, err = api.New(api.Deps{
		Objects:  n.Objects,
		Sync:     n.Sync,
		Events:   n.Events,
		Auth:     n.Auth,
		Audit:    n.Audit, // nil when disabled
		Registry: reg,
		Store:    n.Store,
		Logger:   log,
		Version:  Version,
		// With Redis the rate limit budgets are shared by every node; when
		// Redis fails, requests pass unlimited (see api's rateLimit).
		RateLimiter: limiter,
		Cache:       n.Cache,
		Deployments: n.Deployments, // nil without a flow builder
		Devices:     n.Devices,
		Push:        n.Push,
		Analytics:   n.Analytics,
		Dashboard:   n.Dashboard,
		Checks: []api.Check{
			{Name: "store", Kind: n.Store.Kind(), Required: true, Ping: n.Store.Ping},
			{Name: "cache", Kind: n.Cache.Kind(), Required: false, Ping: n.Cache.Ping},
			n.brokerCheck(),
		},
	}, api.Config{
		RequestTimeout:  cfg.RequestTimeout,
		MaxBodyBytes:    cfg.MaxBodyBytes,
		CORSOrigins:     cfg.CORSOrigins,
		RateLimitEnv:    cfg.RateLimitEnv,
		RateLimitClient: cfg.RateLimitClient,
	})
	if err != nil {
		return nil, fmt.Errorf("build the HTTP API: %w", err)
	}
	if opts.FlowBuilder == nil {
		n.triggers = newTriggers(cfg, sys, n.Store, n.Deployments, n.Auth, n.Events, reg, log)
	}
	n.maint = newMaintainer(sys, n.Store, n.Auth, n.Audit, log, cfg.MaintenanceInterval)
	n.maint.compact = n.Sync.CompactEnv
	n.maint.pruneSync = n.Sync.PruneEnv
	n.maint.analytics = n.Analytics.Maintain
	n.maint.telemetry = n.Devices.PruneTelemetry
	return n, nil
}

// Maintain runs one maintenance pass now (expired sessions and refresh
// tokens, audit records past their retention), unless another node holds
// the maintenance lease. Started nodes also run it every hour.
func (n *Node) Maintain(ctx context.Context) (MaintenanceReport, error) { return n.maint.run(ctx) }

// OpenStore opens the store the configuration selects: MongoDB when
// MongoURI is set, else SQLite under DataDir.
func OpenStore(ctx context.Context, cfg Config, log *slog.Logger) (store.Provider, error) {
	if cfg.MongoURI != "" {
		p, err := mongo.Open(ctx, mongo.Options{URI: cfg.MongoURI, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("open MongoDB store (SKYBRIDGE_MONGO_URI): %w", err)
		}
		return p, nil
	}
	p, err := sqlite.Open(sqlite.Options{Dir: cfg.DataDir})
	if err != nil {
		return nil, fmt.Errorf("open SQLite store in %s (SKYBRIDGE_DATA_DIR): %w", cfg.DataDir, err)
	}
	return p, nil
}

// openCache builds the in-process cache, or with SKYBRIDGE_REDIS_URL the
// Redis cache with the in-process one behind its circuit breaker, and in
// front of it with SKYBRIDGE_CACHE_NEAR_TTL.
func (n *Node) openCache(ctx context.Context, cfg Config, log *slog.Logger) (cache.Cache, error) {
	mem := cache.NewMemory(cache.MemoryConfig{MaxBytes: cfg.CacheMaxBytes})
	if cfg.RedisURL == "" {
		return mem, nil
	}
	c, err := cache.NewRedis(cache.RedisConfig{URL: cfg.RedisURL, Timeout: cfg.CacheRedisTimeout})
	if err != nil {
		_ = mem.Close()
		return nil, fmt.Errorf("SKYBRIDGE_REDIS_URL: %w", err)
	}
	fb := cache.NewFallback(c, mem, cache.FallbackConfig{Logger: log, Timeout: 2 * max(cfg.CacheRedisTimeout, cache.DefaultRedisTimeout)})
	if cfg.CacheNearTTL <= 0 {
		return fb, nil
	}
	// Pub/sub holds a connection of its own, with the default timeouts.
	if n.cacheRedis, err = openRedis(cfg.RedisURL); err != nil {
		_ = fb.Close()
		return nil, err
	}
	near := cache.NewMemory(cache.MemoryConfig{MaxBytes: max(cfg.CacheMaxBytes/8, 1<<20)})
	return cache.NewTwoLevel(ctx, fb, near, n.cacheRedis, cache.TwoLevelConfig{NearTTL: cfg.CacheNearTTL, Logger: log})
}

// openRedis builds the client of the shared rate limits from
// SKYBRIDGE_REDIS_URL. It does not dial.
func openRedis(url string) (redis.UniversalClient, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("SKYBRIDGE_REDIS_URL: %w", err)
	}
	return redis.NewClient(opts), nil
}

// AuditKey is the key that signs audit checkpoints: derived from
// SKYBRIDGE_AUDIT_KEY when set, else from the master key kr.
func AuditKey(cfg Config, kr *keyring.Keyring) ([]byte, error) {
	if cfg.AuditKey == "" {
		return kr.Derive(audit.KeyPurpose), nil
	}
	k, err := keyring.Parse(cfg.AuditKey)
	if err != nil {
		return nil, fmt.Errorf("SKYBRIDGE_AUDIT_KEY: %w", err)
	}
	return k.Derive(audit.KeyPurpose), nil
}

// OpenKeyring reads SKYBRIDGE_SECRET_KEY, or with the SQLite default loads
// or generates the key file in the data directory.
func OpenKeyring(cfg Config, log *slog.Logger) (*keyring.Keyring, error) {
	if cfg.SecretKey != "" {
		k, err := keyring.Parse(cfg.SecretKey)
		if err != nil {
			return nil, fmt.Errorf("SKYBRIDGE_SECRET_KEY: %w", err)
		}
		return k, nil
	}
	if cfg.MongoURI != "" {
		return nil, errors.New("SKYBRIDGE_SECRET_KEY is required with SKYBRIDGE_MONGO_URI: every node must share it")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory (SKYBRIDGE_DATA_DIR): %w", err)
	}
	path := filepath.Join(cfg.DataDir, "secret.key")
	k, created, err := keyring.LoadOrCreate(path)
	if err != nil {
		return nil, fmt.Errorf("secret key file %s: %w", path, err)
	}
	if created {
		log.Warn("generated a new secret key; back it up with the data directory", "path", path)
	}
	return k, nil
}

// Start listens on the configured HTTP address and serves in the
// background. Use Addr for the bound address.
func (n *Node) Start() error {
	ln, err := net.Listen("tcp", n.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s (SKYBRIDGE_HTTP_ADDR): %w", n.cfg.HTTPAddr, err)
	}
	n.ln = ln
	n.http = &http.Server{
		Handler:           n.withMQTTWebSocket(n.API),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelWarn),
	}
	// The broker first: once HTTP answers, devices can connect.
	if err := n.startMQTT(); err != nil {
		_ = ln.Close()
		return err
	}
	n.serveErr = make(chan error, 1)
	go func() { n.serveErr <- n.http.Serve(ln) }()
	n.maint.start()
	if n.triggers != nil {
		n.triggers.Start()
	}
	if err := n.Push.Start(context.Background()); err != nil {
		return err
	}
	if err := n.Dashboard.Start(context.Background()); err != nil {
		return err
	}
	n.log.Info("listening", "http", ln.Addr().String(), "mqtt", n.MQTTAddr(), "store", n.Store.Kind(), "cache", n.Cache.Kind())
	return nil
}

// Addr is the bound HTTP address, valid after Start.
func (n *Node) Addr() string { return n.ln.Addr().String() }

// MQTTAddr is the bound MQTT address, valid after Start.
func (n *Node) MQTTAddr() string {
	if n.External != nil {
		return n.External.Addr()
	}
	if a := n.Broker.Addr(); a != nil {
		return a.String()
	}
	return ""
}

// Done delivers the HTTP server's error if it stops on its own.
func (n *Node) Done() <-chan error { return n.serveErr }

// Shutdown stops accepting connections, lets in-flight requests finish
// within the configured grace period (or ctx, whichever ends first), then
// closes the cache and the store. It is safe to call more than once.
func (n *Node) Shutdown(ctx context.Context) error {
	var err error
	n.stopOnce.Do(func() {
		if n.http != nil {
			sctx, cancel := context.WithTimeout(ctx, n.cfg.ShutdownGrace)
			defer cancel()
			if e := n.http.Shutdown(sctx); e != nil {
				err = fmt.Errorf("drain in-flight requests: %w", e)
				_ = n.http.Close()
			}
		}
		// After the HTTP drain (no new shadow writes or commands from the
		// API), before the store closes: devices are disconnected and the
		// hooks stop.
		n.stopMQTT(ctx)
		if n.maint != nil {
			n.maint.shutdown()
		}
		if n.triggers != nil {
			// After the HTTP drain, before the plans and the store close:
			// running firings finish within the grace or go back to pending.
			tctx, cancel := context.WithTimeout(ctx, n.cfg.ShutdownGrace)
			if e := n.triggers.Shutdown(tctx); e != nil {
				n.log.Warn("trigger firings released at shutdown", "err", e)
			}
			cancel()
		}
		if n.Push != nil {
			// Sends in flight finish and are recorded; unfinished
			// batches go back to pending for another node.
			pctx, cancel := context.WithTimeout(ctx, n.cfg.ShutdownGrace)
			if e := n.Push.Shutdown(pctx); e != nil {
				n.log.Warn("push sends still in flight at shutdown", "err", e)
			}
			cancel()
		}
		if n.Dashboard != nil {
			// After the HTTP drain and the push sends, before the store
			// closes: the open minute is written, so no count is lost.
			dctx, cancel := context.WithTimeout(ctx, n.cfg.ShutdownGrace)
			if e := n.Dashboard.Shutdown(dctx); e != nil {
				n.log.Warn("dashboard minutes not written at shutdown", "err", e)
			}
			cancel()
		}
		if n.Auth != nil {
			// Password-reset mails still going out in the background.
			mctx, cancel := context.WithTimeout(ctx, n.cfg.ShutdownGrace)
			if e := n.Auth.WaitMail(mctx); e != nil {
				n.log.Warn("mails still in flight at shutdown", "err", e)
			}
			cancel()
		}
		n.closeClients()
		n.log.Info("stopped")
	})
	return err
}

func (n *Node) closeClients() {
	if n.Broker != nil {
		// Closes the broker's state file when Open failed after it was
		// opened; after Shutdown it does nothing more.
		_ = n.Broker.Shutdown(context.Background())
	}
	if n.Devices != nil {
		// Background deliveries and command expiry timers; the broker is
		// stopped already (or never started).
		n.Devices.Close()
	}
	if n.Deployments != nil {
		// After the HTTP drain: plans still leased close on release.
		if err := n.Deployments.Close(); err != nil {
			n.log.Warn("close live flow plans", "err", err)
		}
	}
	if n.flowLoader != nil {
		n.flowLoader.Close() // waits for background revalidations
	}
	if n.Events != nil {
		// Ends the realtime connections (hijacked: the HTTP drain does
		// not wait for them) and sends what is still queued for Redis.
		_ = n.Events.Close()
	}
	if n.eventsRedis != nil {
		_ = n.eventsRedis.Close()
	}
	if n.Audit != nil {
		// Flush what the drained requests recorded before the store closes.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := n.Audit.Close(ctx); err != nil {
			n.log.Error("flush the audit trail", "err", err)
		}
		cancel()
	}
	if n.Cache != nil {
		_ = n.Cache.Close()
	}
	if n.cacheRedis != nil {
		_ = n.cacheRedis.Close()
	}
	if n.limiterRedis != nil {
		_ = n.limiterRedis.Close()
	}
	if n.Store != nil {
		_ = n.Store.Close()
	}
}
