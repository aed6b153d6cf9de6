package orchestration

import (
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skybridgehq/skybridge/connectors"
)

// EngineConfig configures an Engine. The zero value is usable: no
// connector types (bundles with Connector documents fail validation), the
// default logger, no metrics.
type EngineConfig struct {
	// Connectors maps connector type names ("rest") to their types.
	Connectors map[string]connectors.Type
	// Logger receives structured logs: steps at debug, failures at warn.
	// Secret values never appear in them. Default: slog.Default().
	Logger *slog.Logger
	// Registerer, when set, receives the step and flow duration
	// histograms. Default: nil (no metrics).
	Registerer prometheus.Registerer
	// FlowTimeout bounds a flow run that declares no `timeout`.
	// Default: 30s.
	FlowTimeout time.Duration
	// MaxFlowTimeout caps any flow's or step's declared timeout.
	// Default: 5m.
	MaxFlowTimeout time.Duration
	// ForeachConcurrency is a foreach step's concurrency when it declares
	// none. Default: 4.
	ForeachConcurrency int
	// MaxRetryAttempts caps a step's `retry.attempts`. Default: 10.
	MaxRetryAttempts int
	// MaxFlowDepth bounds nested `flow` steps at run time (cycles are
	// rejected at load; this bounds deep but acyclic chains). Default: 16.
	MaxFlowDepth int
}

// Defaults of EngineConfig.
const (
	DefaultFlowTimeout        = 30 * time.Second
	DefaultMaxFlowTimeout     = 5 * time.Minute
	DefaultForeachConcurrency = 4
	DefaultMaxRetryAttempts   = 10
	DefaultMaxFlowDepth       = 16
)

func (c EngineConfig) withDefaults() EngineConfig {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.FlowTimeout <= 0 {
		c.FlowTimeout = DefaultFlowTimeout
	}
	if c.MaxFlowTimeout <= 0 {
		c.MaxFlowTimeout = DefaultMaxFlowTimeout
	}
	if c.ForeachConcurrency <= 0 {
		c.ForeachConcurrency = DefaultForeachConcurrency
	}
	if c.MaxRetryAttempts <= 0 {
		c.MaxRetryAttempts = DefaultMaxRetryAttempts
	}
	if c.MaxFlowDepth <= 0 {
		c.MaxFlowDepth = DefaultMaxFlowDepth
	}
	return c
}

// Engine loads bundles and builds them into runnable Plans. It is safe for
// concurrent use.
type Engine struct {
	cfg     EngineConfig
	metrics *metrics
}

// NewEngine returns an Engine. Its histograms are registered on
// cfg.Registerer once; an Engine built again on the same Registerer shares
// the already registered ones.
func NewEngine(cfg EngineConfig) *Engine {
	cfg = cfg.withDefaults()
	return &Engine{cfg: cfg, metrics: newMetrics(cfg.Registerer, cfg.Logger)}
}

// metrics are the engine's histograms; nil fields when metrics are off.
type metrics struct {
	steps *prometheus.HistogramVec
	flows *prometheus.HistogramVec
}

// Step outcomes, the `outcome` label of the histograms.
const (
	outcomeOK       = "ok"
	outcomeError    = "error"
	outcomeFallback = "fallback"
	outcomeContinue = "continued"
	outcomeHit      = "hit"
	outcomeStale    = "stale"
)

func newMetrics(reg prometheus.Registerer, log *slog.Logger) *metrics {
	if reg == nil {
		return &metrics{}
	}
	steps := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "skybridge",
		Subsystem: "flow",
		Name:      "step_duration_seconds",
		Help:      "Duration of flow steps, by flow, step and outcome (ok, error, fallback, continued).",
		Buckets:   prometheus.ExponentialBuckets(0.0005, 2.5, 12),
	}, []string{"flow", "step", "outcome"})
	flows := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "skybridge",
		Subsystem: "flow",
		Name:      "duration_seconds",
		Help:      "Duration of flow runs, by flow and outcome (ok, error, hit, stale).",
		Buckets:   prometheus.ExponentialBuckets(0.0005, 2.5, 12),
	}, []string{"flow", "outcome"})
	return &metrics{steps: register(reg, steps, log), flows: register(reg, flows, log)}
}

// register registers h on reg, or returns the one registered before.
func register(reg prometheus.Registerer, h *prometheus.HistogramVec, log *slog.Logger) *prometheus.HistogramVec {
	err := reg.Register(h)
	if err == nil {
		return h
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(*prometheus.HistogramVec); ok {
			return existing
		}
	}
	log.Warn("orchestration: metrics not registered", "error", err.Error())
	return nil
}

// observers holds a step's histogram children, looked up once per Build.
type observers [4]prometheus.Observer // ok, error, fallback, continued

func (m *metrics) stepObservers(flow, step string) *observers {
	if m.steps == nil {
		return nil
	}
	return &observers{
		m.steps.WithLabelValues(flow, step, outcomeOK),
		m.steps.WithLabelValues(flow, step, outcomeError),
		m.steps.WithLabelValues(flow, step, outcomeFallback),
		m.steps.WithLabelValues(flow, step, outcomeContinue),
	}
}

func (m *metrics) flowObservers(flow string) *observers {
	if m.flows == nil {
		return nil
	}
	return &observers{
		m.flows.WithLabelValues(flow, outcomeOK),
		m.flows.WithLabelValues(flow, outcomeError),
		m.flows.WithLabelValues(flow, outcomeHit),
		m.flows.WithLabelValues(flow, outcomeStale),
	}
}

func (o *observers) observe(i int, d time.Duration) {
	if o != nil {
		o[i].Observe(d.Seconds())
	}
}
