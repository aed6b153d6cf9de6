package iotbridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/skybridgehq/skybridge/store"
)

// Store collections of the bridge. The device index lives in the system
// database (device ids are unique across the server); devices, shadows
// and commands live in their app environment's database, beside (never
// inside) the client collections, which the object store prefixes.
const (
	collIndex    = "deviceIndex"
	collDevices  = "devices"
	collShadows  = "deviceShadows"
	collCommands = "deviceCommands"
)

// Defaults of Config.
const (
	DefaultCommandTimeout    = time.Hour
	DefaultMaxCommandTimeout = 7 * 24 * time.Hour
	DefaultHookTimeout       = 10 * time.Second
)

// Config tunes a Service. The zero value means every default, except
// SecretKey, which is required.
type Config struct {
	// SecretKey keys the HMAC-SHA256 under which device secrets are
	// stored (derive it from the node's key ring). Required, at least 16
	// bytes: changing it invalidates every device secret.
	SecretKey []byte
	// Anonymous lets MQTT clients without credentials connect and use
	// topics outside the reserved $aws/ and skybridge/ namespaces, for
	// local development and interoperability tests. Default: false.
	Anonymous bool
	// ShadowMaxBytes bounds a shadow's state (desired and reported, as
	// JSON, without metadata) and a shadow request. Default: 8 KiB
	// (DefaultShadowMaxBytes).
	ShadowMaxBytes int
	// CommandTimeout is how long a command waits for its reply when the
	// request names no timeoutSec. Default: 1h.
	CommandTimeout time.Duration
	// MaxCommandTimeout bounds a request's timeoutSec. Default: 7 days.
	MaxCommandTimeout time.Duration
	// HookTimeout bounds the store work one broker hook call does (an
	// authentication, a shadow request). Default: 10s.
	HookTimeout time.Duration
	// OnEvent, when set, receives every device event (connected,
	// disconnected, last will, shadow changed, command status), after the
	// change is stored. It runs on the goroutine that made the change and
	// must not block.
	OnEvent func(context.Context, Event)
	// TelemetryMaxBytes bounds one telemetry message. Default: 16 KiB
	// (DefaultTelemetryMaxBytes).
	TelemetryMaxBytes int
	// TelemetryBatch is how many telemetry messages one store write
	// carries at most. Default: 500.
	TelemetryBatch int
	// TelemetryFlushInterval is how long a telemetry message waits at
	// most before it is written. Default: 100ms.
	TelemetryFlushInterval time.Duration
	// TelemetryQueue bounds the telemetry messages waiting for the store;
	// past it messages are dropped and counted. Default: 20000.
	TelemetryQueue int
	// TelemetryRetentionDays is how many days of telemetry an environment
	// keeps unless an admin sets its own. Default: 30.
	TelemetryRetentionDays int
	// TelemetryWriteTimeout bounds one batch write of telemetry; the
	// messages of a batch that fails are dropped and counted. Default:
	// 30s.
	TelemetryWriteTimeout time.Duration
	// Logger receives what cannot be returned. Default: slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.ShadowMaxBytes <= 0 {
		c.ShadowMaxBytes = DefaultShadowMaxBytes
	}
	if c.CommandTimeout <= 0 {
		c.CommandTimeout = DefaultCommandTimeout
	}
	if c.MaxCommandTimeout <= 0 {
		c.MaxCommandTimeout = DefaultMaxCommandTimeout
	}
	if c.HookTimeout <= 0 {
		c.HookTimeout = DefaultHookTimeout
	}
	if c.TelemetryMaxBytes <= 0 {
		c.TelemetryMaxBytes = DefaultTelemetryMaxBytes
	}
	if c.TelemetryBatch <= 0 {
		c.TelemetryBatch = DefaultTelemetryBatch
	}
	if c.TelemetryFlushInterval <= 0 {
		c.TelemetryFlushInterval = DefaultTelemetryFlushInterval
	}
	if c.TelemetryQueue <= 0 {
		c.TelemetryQueue = DefaultTelemetryQueue
	}
	if c.TelemetryRetentionDays <= 0 {
		c.TelemetryRetentionDays = DefaultTelemetryRetentionDays
	}
	if c.TelemetryWriteTimeout <= 0 {
		c.TelemetryWriteTimeout = DefaultTelemetryWriteTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Broker is what the bridge needs of the MQTT transport: server-side
// publishes, dropping a device's connections, and the mochi server to
// look up live subscribers. iotbridge/broker.Broker (the embedded broker)
// and External (a client of an external broker cluster) implement it.
type Broker interface {
	// Publish sends a message from the server to the topic's subscribers.
	Publish(topic string, payload []byte, retain bool, qos byte) error
	// Disconnect drops every connection whose client id is
	// clientIDPrefix or starts with clientIDPrefix + ":".
	Disconnect(clientIDPrefix string)
	// Server is the running mochi server; nil for an external broker,
	// which the bridge cannot ask who subscribes: commands are then
	// published at once and the broker queues them (decision 0014).
	Server() *mqtt.Server
}

// Env is the app environment a device belongs to.
type Env struct {
	AppID string `json:"appId"`
	Name  string `json:"env"`
	// DB is the environment's store database.
	DB string `json:"db"`
}

// Caller is who asks through the API: the server key, a user (with his
// roles), or nobody.
type Caller struct {
	Server bool
	UserID string
	Roles  []string
}

// Service is the device side of the IoT bridge: the registry, device
// authentication and topic policy (Hook), shadows and commands. Build it
// with NewService, add its Hook to the broker before the broker starts,
// and Close it after the broker has stopped.
type Service struct {
	st     store.Provider
	sys    store.DB
	broker Broker
	cfg    Config
	log    *slog.Logger

	// locs caches the device index: device id → environment.
	locMu sync.RWMutex
	locs  map[string]Env

	// trusts caches each environment's trusted device certificates
	// (certs.go), by database.
	trustMu sync.Mutex
	trusts  map[string]*trust

	// conns counts each device's live MQTT connections.
	connMu sync.Mutex
	conns  map[string]int

	// Background work (deliveries after a subscribe, expiry timers,
	// connection bookkeeping), stopped and awaited by Close.
	bgMu   sync.Mutex
	closed bool
	timers map[*time.Timer]struct{}
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc

	// tel batches telemetry into the store; telStored and telDropped
	// count what it stored and what was dropped, by reason.
	tel        *telemetryWriter
	telStored  prometheus.Counter
	telDropped *prometheus.CounterVec
}

// NewService builds the bridge over the store; br may be nil (no MQTT:
// shadows and commands are stored but nothing is published).
func NewService(ctx context.Context, st store.Provider, br Broker, cfg Config) (*Service, error) {
	if st == nil {
		return nil, errors.New("iotbridge: a store is required")
	}
	if len(cfg.SecretKey) < 16 {
		return nil, errors.New("iotbridge: Config.SecretKey must have at least 16 bytes")
	}
	cfg = cfg.withDefaults()
	sys, err := st.DB(ctx, store.SystemDB)
	if err != nil {
		return nil, fmt.Errorf("iotbridge: open the system database: %w", err)
	}
	s := &Service{
		st: st, sys: sys, broker: br, cfg: cfg,
		log:    cfg.Logger.With("component", "iotbridge"),
		locs:   map[string]Env{},
		conns:  map[string]int{},
		timers: map[*time.Timer]struct{}{},
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.telStored = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "skybridge_iot_telemetry_stored_total",
		Help: "Telemetry messages stored.",
	})
	s.telDropped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "skybridge_iot_telemetry_dropped_total",
		Help: "Telemetry messages dropped, by reason (too_large, invalid_json, not_object, invalid_stream, queue_full, store_error, unknown_device).",
	}, []string{"reason"})
	s.tel = newTelemetryWriter(st, cfg, s.log, s.telStored, s.telemetryDropped)
	return s, nil
}

// Collectors are the service's metrics, for the node's registry.
func (s *Service) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.telStored, s.telDropped}
}

// Close writes the queued telemetry, stops the background work and waits
// for it. Close the broker first: hooks still running after Close find
// the store work cancelled and their telemetry refused.
func (s *Service) Close() {
	s.tel.close()
	s.bgMu.Lock()
	s.closed = true
	for t := range s.timers {
		t.Stop()
	}
	s.timers = nil
	s.bgMu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// goBackground runs f on a goroutine Close waits for; after Close it
// does nothing.
func (s *Service) goBackground(f func(ctx context.Context)) {
	s.bgMu.Lock()
	defer s.bgMu.Unlock()
	if s.closed {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.HookTimeout)
		defer cancel()
		f(ctx)
	}()
}

// after runs f once d has passed, unless Close comes first.
func (s *Service) after(d time.Duration, f func(ctx context.Context)) {
	s.bgMu.Lock()
	defer s.bgMu.Unlock()
	if s.closed {
		return
	}
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		s.bgMu.Lock()
		if s.timers != nil {
			delete(s.timers, t)
		}
		s.bgMu.Unlock()
		s.goBackground(f)
	})
	s.timers[t] = struct{}{}
}

// hookContext bounds the store work of one hook call.
func (s *Service) hookContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.ctx, s.cfg.HookTimeout)
}

// now is the clock's time, in UTC.
func (s *Service) now() time.Time { return s.cfg.Now().UTC() }

// envDB opens the database of env.
func (s *Service) envDB(ctx context.Context, env Env) (store.DB, error) {
	db, err := s.st.DB(ctx, env.DB)
	if err != nil {
		return nil, fmt.Errorf("iotbridge: open database %q: %w", env.DB, err)
	}
	return db, nil
}

// publish sends a server message, logging failures (a broker shutting
// down); without a broker it does nothing.
func (s *Service) publish(topic string, payload []byte, qos byte) {
	if s.broker == nil {
		return
	}
	if err := s.broker.Publish(topic, payload, false, qos); err != nil {
		s.log.Warn("publish", "topic", topic, "err", err)
	}
}

// emit hands ev to Config.OnEvent.
func (s *Service) emit(ctx context.Context, ev Event) {
	if s.cfg.OnEvent != nil {
		if ev.Time.IsZero() {
			ev.Time = s.now()
		}
		s.cfg.OnEvent(ctx, ev)
	}
}

// Online reports how many live MQTT connections device id holds.
func (s *Service) Online(id string) int {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	return s.conns[id]
}

// locate finds the environment of device id through the index (cached).
func (s *Service) locate(ctx context.Context, id string) (Env, error) {
	s.locMu.RLock()
	env, ok := s.locs[id]
	s.locMu.RUnlock()
	if ok {
		return env, nil
	}
	d, err := s.sys.Collection(collIndex).Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Env{}, fmt.Errorf("device %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Env{}, fmt.Errorf("iotbridge: read the device index: %w", err)
	}
	env = Env{AppID: str(d["appId"]), Name: str(d["env"]), DB: str(d["db"])}
	s.locMu.Lock()
	s.locs[id] = env
	s.locMu.Unlock()
	return env, nil
}

// forget drops device id from the index cache.
func (s *Service) forget(id string) {
	s.locMu.Lock()
	delete(s.locs, id)
	s.locMu.Unlock()
}

func str(v any) string { x, _ := v.(string); return x }
