// Package dashboard keeps the live traffic figures of the admin
// portal's dashboard: per app environment and minute, the /v1 requests
// by route and app version (count, server and client errors, latency
// histogram, cache hits and misses) and the push messages sent.
//
// Recording is on the request path, so it is cheap: a Recorder counts
// into atomic counters of the open minute, found through a copy-on-write
// map of the (app, environment, method, route) already seen and another
// of that route's app versions. It takes no lock and allocates
// nothing once a series exists. Memory is bounded: a few minutes of slots
// per series and at most Config.MaxSeries series per environment.
//
// Each node only sees its own traffic. A flusher drains every closed
// minute into one document per environment, minute and node in the
// system database (collection Collection), and Report merges those
// documents with what the node holds in memory (the open minute, and
// minutes whose write is still pending), so that every node of a cluster
// answers with the traffic of all of them. Documents older than
// Config.Retention are deleted. See docs/decisions/0015-dashboard-stats.md.
package dashboard

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// Collection holds the flushed minutes, in the system database.
const Collection = "dashboardMinutes"

// ErrInvalid: a report window the recorder refuses (empty, reversed or
// longer than the retention).
var ErrInvalid = errors.New("dashboard: invalid input")

// Config tunes a Recorder. The zero value means every default.
type Config struct {
	// MaxSeries caps the distinct route × app version series one app
	// environment keeps; traffic of further ones counts under route and
	// version "other". Default: 200.
	MaxSeries int
	// MaxVersions caps the app versions kept apart per route; further
	// versions fold into "other". Default: 10.
	MaxVersions int
	// Retention is how long flushed minutes are kept, and the longest
	// window Report answers. Default: 24h.
	Retention time.Duration
	// FlushInterval is how often the flusher looks for closed minutes
	// (and retries failed writes). Default: 5s.
	FlushInterval time.Duration
	// FlushDelay is how far into the next minute a minute is left open
	// for requests that started in it and finish late. Default: 2s.
	FlushDelay time.Duration
	// Node names this node in the documents it writes. Default: random.
	Node string
	// Logger receives the flusher's warnings. Default: slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

// Defaults of Config.
const (
	DefaultMaxSeries     = 200
	DefaultMaxVersions   = 10
	DefaultRetention     = 24 * time.Hour
	DefaultFlushInterval = 5 * time.Second
	DefaultFlushDelay    = 2 * time.Second
)

func (c Config) withDefaults() Config {
	if c.MaxSeries <= 0 {
		c.MaxSeries = DefaultMaxSeries
	}
	if c.MaxVersions <= 0 {
		c.MaxVersions = DefaultMaxVersions
	}
	if c.Retention <= 0 {
		c.Retention = DefaultRetention
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.FlushDelay <= 0 {
		c.FlushDelay = DefaultFlushDelay
	}
	if c.Node == "" {
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		c.Node = hex.EncodeToString(b)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Recorder counts one node's traffic and serves the dashboard. Build it
// with New; Start runs its flusher and Shutdown stops it, writing what is
// left.
type Recorder struct {
	sys store.DB
	cfg Config
	log *slog.Logger

	// routes is the route table, replaced (copied) on each new route.
	routes   atomic.Pointer[map[routeKey]*routeStats]
	routesMu sync.Mutex
	envs     sync.Map // envKey → *envStats

	// mu orders the flusher's drains and writes against Report's reads
	// of memory; the request path never takes it.
	mu      sync.Mutex
	drained int64 // the last minute drained into pending
	pending map[string]*minuteDoc
	seq     int64 // flush sequence, part of each document id
	pruned  time.Time

	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
	started  atomic.Bool
}

// New returns a Recorder that flushes into the system database sys.
func New(sys store.DB, cfg Config) *Recorder {
	cfg = cfg.withDefaults()
	r := &Recorder{
		sys: sys, cfg: cfg, log: cfg.Logger,
		drained: minuteOf(cfg.Now()) - 1,
		pending: map[string]*minuteDoc{},
		stop:    make(chan struct{}),
	}
	r.routes.Store(&map[routeKey]*routeStats{})
	return r
}

// Start creates the collection's index and runs the flusher until
// Shutdown.
func (r *Recorder) Start(ctx context.Context) error {
	err := r.sys.Collection(Collection).EnsureIndex(ctx, store.Index{Fields: []string{"app", "env", "minute"}})
	if err != nil {
		return fmt.Errorf("dashboard: index %s: %w", Collection, err)
	}
	if !r.started.CompareAndSwap(false, true) {
		return nil
	}
	r.wg.Add(1)
	go r.run()
	return nil
}

// Shutdown stops the flusher and writes everything still in memory,
// including the open minute, so that a node that stops loses none of its
// counts. Call it after the HTTP server has drained. It is safe to call
// more than once.
func (r *Recorder) Shutdown(ctx context.Context) error {
	r.stopOnce.Do(func() { close(r.stop) })
	r.wg.Wait()
	return r.flush(ctx, true)
}

// run is the flusher loop.
func (r *Recorder) run() {
	defer r.wg.Done()
	t := time.NewTicker(r.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), r.cfg.FlushInterval*4)
			if err := r.flush(ctx, false); err != nil {
				r.log.Warn("dashboard: flush minutes", "err", err)
			}
			r.prune(ctx)
			cancel()
		}
	}
}

// minuteOf is t's minute since the Unix epoch.
func minuteOf(t time.Time) int64 {
	s := t.Unix()
	if s < 0 {
		return (s - 59) / 60
	}
	return s / 60
}

// timeOf is the start of minute m.
func timeOf(m int64) time.Time { return time.Unix(m*60, 0).UTC() }
