package trigger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skybridgehq/skybridge/events"
	"github.com/skybridgehq/skybridge/objectstore"
	"github.com/skybridgehq/skybridge/orchestration"
	"github.com/skybridgehq/skybridge/orchestration/deploy"
	"github.com/skybridgehq/skybridge/store"
)

// Collections of the system database the runtime keeps its state in.
const (
	// FiringsCollection holds one document per firing (and one per
	// delayed trigger and object).
	FiringsCollection = "triggerFirings"
	// ClaimsCollection holds one document per claim of a firing; its
	// unique _id makes a claim exactly-once across nodes.
	ClaimsCollection = "triggerClaims"
	// CursorsCollection holds the change feed position of each event
	// trigger and the last enqueued instant of each schedule.
	CursorsCollection = "triggerCursors"
	// leasesCollection is the cluster's leases (shared with maintenance).
	leasesCollection = "leases"
	// feedLeaseID names the lease of the node that reads the feeds.
	feedLeaseID = "trigger-feeds"
)

// Indexes are the runtime's indexes in the system database, for the
// migration that creates them.
func Indexes() map[string][]store.Index {
	return map[string][]store.Index{
		FiringsCollection: {{Name: "state_due", Fields: []string{"state", "due"}}, {Name: "state_lease", Fields: []string{"state", "leaseUntil"}}},
		ClaimsCollection:  {{Name: "at", Fields: []string{"at"}}},
	}
}

// Env is one app environment a node may run triggers for.
type Env struct {
	// AppID and Name identify it; DB is its store database.
	AppID, Name, DB string
}

// Environments lists the app environments (auth.Service.ListApps in the
// wiring).
type Environments func(ctx context.Context) ([]Env, error)

// Plans leases live plans (deploy.Service).
type Plans interface {
	Acquire(ctx context.Context, appID, env string) (*deploy.Lease, error)
}

// runner is what a live plan offers the runtime (*orchestration.Plan).
type runner interface {
	Triggers() []orchestration.TriggerInfo
	Fire(ctx context.Context, trigger string, f orchestration.Firing, ev orchestration.TriggerEvent) (*orchestration.Result, error)
}

// Config tunes a Service. The zero value means every default.
type Config struct {
	// PollInterval is how often the node reads the change feeds, the
	// schedules and the due firings; an object change on the events bus
	// makes it read sooner. Default: 1s.
	PollInterval time.Duration
	// Lease is how long a claimed firing belongs to its node: a firing
	// still running after it (its node died) is claimed again. It also
	// bounds one run of the flow. Default: 30s.
	Lease time.Duration
	// MaxAttempts is how often a failing firing runs before it is marked
	// failed. Default: 5.
	MaxAttempts int
	// Backoff is the wait after the first failure, doubled after each
	// further one, at most MaxBackoff. Defaults: 1s and 5m.
	Backoff, MaxBackoff time.Duration
	// Concurrency bounds the firings one node runs at once. Default: 4.
	Concurrency int
	// BatchSize bounds the changes read from one feed, and the due
	// firings looked at, per round. Default: 100.
	BatchSize int
	// Retention is how long finished firings (done, skipped, failed) and
	// claims are kept. Default: 7 days.
	Retention time.Duration
	// Bus, when set, nudges the node to read a feed as soon as an object
	// of a triggered collection changes. Default: nil (polling only).
	Bus *events.Bus
	// Registerer receives skybridge_trigger_firings_total. Default: nil.
	Registerer prometheus.Registerer
	// Logger receives the runtime's logs. Default: slog.Default().
	Logger *slog.Logger
	// Holder names this node in leases and claims. Default:
	// host/pid/random.
	Holder string
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

// Defaults of Config.
const (
	DefaultPollInterval = time.Second
	DefaultLease        = 30 * time.Second
	DefaultMaxAttempts  = 5
	DefaultBackoff      = time.Second
	DefaultMaxBackoff   = 5 * time.Minute
	DefaultConcurrency  = 4
	DefaultBatchSize    = 100
	DefaultRetention    = 7 * 24 * time.Hour
)

func (c Config) withDefaults() Config {
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.Lease <= 0 {
		c.Lease = DefaultLease
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.Backoff <= 0 {
		c.Backoff = DefaultBackoff
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.Retention <= 0 {
		c.Retention = DefaultRetention
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Holder == "" {
		host, _ := os.Hostname()
		c.Holder = fmt.Sprintf("%s/%d/%s", host, os.Getpid(), store.NewID())
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Service is one node's trigger runtime. Build it with New, then Start;
// Shutdown stops it.
type Service struct {
	cfg     Config
	sys     store.DB
	stores  store.Provider
	plans   Plans
	envs    Environments
	log     *slog.Logger
	metrics *metrics

	nudge      chan struct{}
	stop       chan struct{}
	loop       sync.WaitGroup
	runs       sync.WaitGroup
	sem        chan struct{}
	runCtx     context.Context
	cancelRuns context.CancelFunc
	stopOnce   sync.Once

	mu         sync.Mutex
	subs       map[string]*events.Subscription
	lastPruned time.Time
}

// New returns a Service over the system database sys, the environments'
// databases in stores, the live plans and the environments' list.
func New(sys store.DB, stores store.Provider, plans Plans, envs Environments, cfg Config) *Service {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{
		cfg: cfg, sys: sys, stores: stores, plans: plans, envs: envs, log: cfg.Logger,
		metrics: newMetrics(cfg.Registerer, cfg.Logger),
		nudge:   make(chan struct{}, 1), stop: make(chan struct{}), sem: make(chan struct{}, cfg.Concurrency),
		runCtx: ctx, cancelRuns: cancel, subs: map[string]*events.Subscription{},
	}
}

// Start runs the loop in the background until Shutdown.
func (s *Service) Start() {
	s.loop.Add(1)
	go func() {
		defer s.loop.Done()
		t := time.NewTicker(s.cfg.PollInterval)
		defer t.Stop()
		for {
			s.round()
			select {
			case <-s.stop:
				return
			case <-t.C:
			case <-s.nudge:
			}
		}
	}()
}

// Shutdown stops claiming firings, lets running ones finish until ctx
// ends, then cancels them and releases them to pending (not counted as
// an attempt), and gives up the feed lease.
func (s *Service) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() { close(s.stop) })
	s.loop.Wait()
	done := make(chan struct{})
	go func() { s.runs.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("trigger: firings still running at shutdown, released: %w", ctx.Err())
		s.cancelRuns()
		<-done
	}
	s.cancelRuns()
	s.mu.Lock()
	for k, sub := range s.subs {
		sub.Unsubscribe()
		delete(s.subs, k)
	}
	s.mu.Unlock()
	s.releaseFeedLease()
	return err
}

// round is one pass: feeds and schedules (on the node holding the feed
// lease), then due firings (every node).
func (s *Service) round() {
	ctx, cancel := context.WithTimeout(s.runCtx, max(s.cfg.Lease, 10*time.Second))
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := s.enqueue(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("trigger: enqueue round failed", "err", err)
	}
	if err := s.dispatch(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("trigger: dispatch round failed", "err", err)
	}
}

// enqueue reads the feeds and schedules of every live trigger.
func (s *Service) enqueue(ctx context.Context) error {
	envs, err := s.envs(ctx)
	if err != nil {
		return fmt.Errorf("list environments: %w", err)
	}
	held, err := s.feedLease(ctx)
	if err != nil {
		return err
	}
	watched := map[string]bool{}
	var errs []error
	for _, env := range envs {
		triggers, version, err := s.liveTriggers(ctx, env)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, ti := range triggers {
			if ti.Collection != "" {
				watched[env.DB+"/"+ti.Collection] = true
				s.watch(env.DB, ti.Collection)
			}
			if !held {
				continue
			}
			if ti.Schedule != nil {
				err = s.readSchedule(ctx, env, version, ti)
			} else {
				err = s.readFeed(ctx, env, version, ti)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("trigger %s of %s/%s: %w", ti.Name, env.AppID, env.Name, err))
			}
		}
	}
	s.unwatchExcept(watched)
	if held {
		s.prune(ctx)
	}
	return errors.Join(errs...)
}

// liveTriggers returns the triggers of an environment's live plan and its
// version; none when nothing is deployed.
func (s *Service) liveTriggers(ctx context.Context, env Env) ([]orchestration.TriggerInfo, int, error) {
	lease, err := s.plans.Acquire(ctx, env.AppID, env.Name)
	if errors.Is(err, deploy.ErrNoDeployment) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("live plan of %s/%s: %w", env.AppID, env.Name, err)
	}
	defer lease.Release()
	r, ok := lease.Plan().(runner)
	if !ok {
		return nil, 0, nil
	}
	return r.Triggers(), lease.Version(), nil
}

// watch subscribes to an environment collection's changes as a nudge.
func (s *Service) watch(db, col string) {
	if s.cfg.Bus == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := db + "/" + col
	if s.subs[k] != nil {
		return
	}
	s.subs[k] = s.cfg.Bus.Subscribe(db, col, func(objectstore.Change) {
		select {
		case s.nudge <- struct{}{}:
		default:
		}
	})
}

func (s *Service) unwatchExcept(keep map[string]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, sub := range s.subs {
		if !keep[k] {
			sub.Unsubscribe()
			delete(s.subs, k)
		}
	}
}

// now is the clock in UTC.
func (s *Service) now() time.Time { return s.cfg.Now().UTC() }
