package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skybridgehq/skybridge/store"
)

// Collections of the system database that the audit trail uses.
const (
	RecordsCollection     = "audit"
	CheckpointsCollection = "audit_checkpoints"
	// SettingsCollection holds per-chain settings (retention).
	SettingsCollection = "audit_settings"
)

// Sentinel errors.
var (
	// ErrClosed: the Service was closed.
	ErrClosed = errors.New("audit: closed")
	// ErrNoKey: Config.Key is missing or shorter than 16 bytes.
	ErrNoKey = errors.New("audit: checkpoint key missing or too short")
	// ErrCorrupt: a stored record or checkpoint cannot be decoded.
	ErrCorrupt = errors.New("audit: corrupt entry")
	// ErrBroken: the chain does not verify (Prune refuses to run on it).
	ErrBroken = errors.New("audit: chain broken")
	// ErrInvalid: a query or argument the package refuses.
	ErrInvalid = errors.New("audit: invalid argument")
)

// Config tunes a Service. The zero value means defaults, except Key.
type Config struct {
	// Sync makes Record wait until its record is stored (or fails).
	// Default: false (Record enqueues and returns).
	Sync bool
	// QueueSize bounds the records waiting for the writer; in async mode a
	// Record that finds the queue full is dropped and counted.
	// Default: 10000.
	QueueSize int
	// BatchSize is the most records the writer stores in one round, and
	// so the most records of one segment (one store document); the writer
	// wakes when that many are queued. Each round costs the store a
	// transaction whatever its size (SQLite rewrites the index pages it
	// touches into its WAL), so larger batches cost less per record, but
	// what a Flush waits for grows with them. Default: 512.
	BatchSize int
	// FlushInterval is how long a queued record may wait for its batch to
	// fill before the writer stores it anyway (a Sync record or a Flush is
	// written at once). Default: 200ms.
	FlushInterval time.Duration
	// CheckpointEvery is how many records of a chain may follow its newest
	// checkpoint before the writer signs a new one. Default: 1000.
	CheckpointEvery int
	// CheckpointInterval is how often the writer signs a checkpoint for
	// every chain that grew since its last one. Default: 1m.
	CheckpointInterval time.Duration
	// Key signs checkpoints (HMAC-SHA256); at least 16 bytes. Use
	// keyring.Derive(KeyPurpose) unless a key is configured. Required.
	Key []byte
	// Logger receives overflow and write-failure reports.
	// Default: slog.Default().
	Logger *slog.Logger
	// Retention is how long records are kept when their chain sets no
	// retention of its own (SetRetention); PruneExpired removes older
	// ones. Default: 0, keep forever.
	Retention time.Duration
	// Dropped, when set, is incremented for every record lost to a full
	// queue or a failed write. Stats reports the same counts.
	Dropped prometheus.Counter
}

func (c Config) withDefaults() Config {
	if c.QueueSize <= 0 {
		c.QueueSize = 10000
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 512
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = 200 * time.Millisecond
	}
	if c.CheckpointEvery <= 0 {
		c.CheckpointEvery = 1000
	}
	if c.CheckpointInterval <= 0 {
		c.CheckpointInterval = time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Stats counts what a Service did since it was built.
type Stats struct {
	// Written records were stored.
	Written uint64
	// Overflowed records were dropped because the queue was full.
	Overflowed uint64
	// Failed records were dropped because the store refused them.
	Failed uint64
}

// item is one entry of the writer's queue: a record, or (rec nil) a flush
// marker. done, when set, receives the outcome. Records come from and go
// back to Service.pool: the queue holds pointers, not records, because
// the garbage collector scans a channel's whole buffer on every cycle.
type item struct {
	rec  *Record
	done chan error
}

// Service writes, queries, verifies and prunes the audit trail kept in one
// store database (the system database). It is safe for concurrent use.
type Service struct {
	cfg         Config
	records     store.Collection
	checkpoints store.Collection
	settings    store.Collection
	queue       chan item
	// full and urgent wake the writer: a batch's worth of records is
	// queued, or someone waits for an outcome. Records do not wake it one
	// by one: a wakeup per record cost the audited request path more than
	// storing the record did.
	full, urgent chan struct{}

	mu        sync.RWMutex // guards closed against sends on queue
	closed    bool
	started   bool
	closing   chan struct{} // closed first by Close: blocked senders give up
	closeOnce sync.Once
	stop      chan struct{} // closed by Close: the writer drains and exits
	done      chan struct{} // closed when the writer has exited

	written    atomic.Uint64
	overflowed atomic.Uint64
	failed     atomic.Uint64
	lastWarn   atomic.Int64 // unix nanos of the last overflow log line
	lastChain  atomic.Pointer[chainName]

	now func() time.Time
	// format, when set, is the segment format the writer stores instead
	// of newestFormat (1 or 2, as earlier versions did); only tests set
	// it, to keep verifying such trails.
	format int
	// pool recycles the records the writer has stored, so that auditing
	// a request allocates nothing in the steady state.
	pool sync.Pool

	// seg and canon are the writer goroutine's buffers (a segment's lines,
	// a record's canonical encoding), kept from one batch to the next.
	seg   segmentBuilder
	canon []byte
}

// NewService returns a Service over db (the system database). The indexes
// from Indexes must exist (the migrations create them); call Start to
// begin writing.
func NewService(db store.DB, cfg Config) (*Service, error) {
	cfg = cfg.withDefaults()
	if len(cfg.Key) < 16 {
		return nil, ErrNoKey
	}
	cfg.Key = append([]byte(nil), cfg.Key...)
	return &Service{
		cfg:         cfg,
		records:     db.Collection(RecordsCollection),
		checkpoints: db.Collection(CheckpointsCollection),
		settings:    db.Collection(SettingsCollection),
		queue:       make(chan item, cfg.QueueSize),
		full:        make(chan struct{}, 1),
		urgent:      make(chan struct{}, 1),
		closing:     make(chan struct{}),
		stop:        make(chan struct{}),
		done:        make(chan struct{}),
		now:         time.Now,
		pool:        sync.Pool{New: func() any { return new(Record) }},
	}, nil
}

// Indexes are the indexes the audit collections need, by collection name,
// for the migrations package to create. Records are stored in segments
// (see segment.go): the unique (chain, n) index on a segment's first
// position backs race-free position allocation and orders a chain's
// segments; "to" (a segment's newest record time) orders queries. The
// per-record time indexes of earlier versions (audit_time,
// audit_app_env_time) are no longer declared; where they exist they index
// nothing useful and may be dropped.
func Indexes() map[string][]store.Index {
	return map[string][]store.Index{
		RecordsCollection: {
			{Name: "audit_chain_n", Fields: []string{"chain", "n"}, Unique: true},
			{Name: "audit_to", Fields: []string{"-to"}},
			{Name: "audit_app_env_to", Fields: []string{"app", "env", "-to"}},
		},
		CheckpointsCollection: {
			{Name: "audit_cp_chain_n", Fields: []string{"chain", "n", "pruned"}, Unique: true},
		},
	}
}

// Start launches the writer goroutine. Records queued before Start wait
// for it. Calling Start twice, or after Close, does nothing.
func (s *Service) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		return
	}
	s.started = true
	go s.run()
}

// Record audits one request. In async mode it enqueues rec and returns at
// once; when the queue is full the record is dropped, counted and logged,
// and Record still returns nil (auditing never fails a request). In Sync
// mode it waits until rec is stored and returns the store's error.
func (s *Service) Record(ctx context.Context, rec Record) error {
	var now time.Time
	if rec.Time.IsZero() { // callers normally stamp their records
		now = s.now()
	}
	rec.normalizeFields(now)
	rec.Chain = s.chainOf(rec.App, rec.Env)
	p := s.pool.Get().(*Record)
	*p = rec
	it := item{rec: p}
	if s.cfg.Sync {
		it.done = make(chan error, 1)
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	if !s.cfg.Sync {
		select {
		case s.queue <- it:
		default:
			s.mu.RUnlock()
			s.drop(&s.overflowed, 1, "queue full", nil)
			return nil
		}
		s.mu.RUnlock()
		if len(s.queue) >= s.cfg.BatchSize {
			wake(s.full)
		}
		return nil
	}
	if err := s.send(ctx, it); err != nil {
		return err
	}
	select {
	case err := <-it.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// chainName is a chain's name with the app environment it was made of.
type chainName struct{ app, env, chain string }

// chainOf returns ChainOf(app, env), reusing the last name it made while
// requests keep coming from one app environment: ChainOf allocates, on
// the request path.
func (s *Service) chainOf(app, env string) string {
	if c := s.lastChain.Load(); c != nil && c.app == app && c.env == env {
		return c.chain
	}
	c := &chainName{app: app, env: env, chain: ChainOf(app, env)}
	s.lastChain.Store(c)
	return c.chain
}

// send enqueues it, waiting for room, and releases the read lock the
// caller holds. It gives up when ctx ends or Close begins, so that a
// writer that was never started cannot hold Close up.
func (s *Service) send(ctx context.Context, it item) error {
	defer s.mu.RUnlock()
	select {
	case s.queue <- it:
		wake(s.urgent)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closing:
		return ErrClosed
	}
}

// wake signals the writer through c without waiting: a signal already
// pending covers this one too.
func wake(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Flush waits until every record queued before the call is stored. It
// needs a started writer.
func (s *Service) Flush(ctx context.Context) error {
	it := item{done: make(chan error, 1)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	if err := s.send(ctx, it); err != nil {
		return err
	}
	select {
	case err := <-it.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops accepting records, stores what is queued, signs a checkpoint
// for every chain it appended to, and stops the writer. It returns
// ctx.Err() if ctx ends first (the writer then finishes in the
// background).
func (s *Service) Close(ctx context.Context) error {
	s.closeOnce.Do(func() { close(s.closing) })
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	started := s.started
	close(s.stop)
	s.mu.Unlock()
	if !started {
		close(s.done)
		if n := len(s.queue); n > 0 {
			s.drop(&s.failed, n, "closed before Start", nil)
		}
		return nil
	}
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("audit: close: %w", ctx.Err())
	}
}

// Stats returns the counts so far.
func (s *Service) Stats() Stats {
	return Stats{Written: s.written.Load(), Overflowed: s.overflowed.Load(), Failed: s.failed.Load()}
}

// drop counts n lost records and logs it, at most once a second for
// overflows so that a flood does not flood the log too.
func (s *Service) drop(counter *atomic.Uint64, n int, why string, err error) {
	total := counter.Add(uint64(n))
	if s.cfg.Dropped != nil {
		s.cfg.Dropped.Add(float64(n))
	}
	if counter == &s.overflowed {
		now := time.Now().UnixNano()
		last := s.lastWarn.Load()
		if now-last < int64(time.Second) || !s.lastWarn.CompareAndSwap(last, now) {
			return
		}
	}
	attrs := []any{slog.String("reason", why), slog.Int("dropped", n), slog.Uint64("total", total)}
	if err != nil {
		attrs = append(attrs, slog.Any("error", err))
	}
	s.cfg.Logger.Error("audit: records dropped", attrs...)
}
