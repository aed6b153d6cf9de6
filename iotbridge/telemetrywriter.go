package iotbridge

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skybridgehq/skybridge/store"
)

// telemetryItem is one message waiting for the store.
type telemetryItem struct {
	db  string
	doc store.Doc
}

// telemetryWriter batches telemetry inserts: one goroutine takes messages
// off a bounded queue and writes them per database with InsertMany when
// Config.TelemetryBatch are waiting or Config.TelemetryFlushInterval has
// passed. close writes what is queued and stops it.
type telemetryWriter struct {
	st       store.Provider
	batch    int
	interval time.Duration
	timeout  time.Duration
	log      *slog.Logger
	stored   prometheus.Counter
	dropped  func(reason string)

	mu     sync.RWMutex // guards closed against enqueue
	closed bool
	in     chan telemetryItem
	// flushReq asks the loop to write what it holds now; the loop
	// answers on the channel it receives.
	flushReq chan chan struct{}
	stop     chan struct{}
	done     chan struct{}
	// indexed lists the databases whose indexes exist (loop only).
	indexed map[string]bool
}

func newTelemetryWriter(st store.Provider, cfg Config, log *slog.Logger, stored prometheus.Counter, dropped func(string)) *telemetryWriter {
	w := &telemetryWriter{
		st: st, batch: cfg.TelemetryBatch, interval: cfg.TelemetryFlushInterval, timeout: cfg.TelemetryWriteTimeout,
		log: log, stored: stored, dropped: dropped,
		in:       make(chan telemetryItem, cfg.TelemetryQueue),
		flushReq: make(chan chan struct{}),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		indexed:  map[string]bool{},
	}
	go w.loop()
	return w
}

// enqueue queues doc for database db; false when the queue is full or
// the writer closed.
func (w *telemetryWriter) enqueue(db string, doc store.Doc) bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return false
	}
	select {
	case w.in <- telemetryItem{db: db, doc: doc}:
		return true
	default:
		return false
	}
}

// flush writes what is queued now and returns once it is stored (or
// dropped); after close it returns at once.
func (w *telemetryWriter) flush() {
	ack := make(chan struct{})
	select {
	case w.flushReq <- ack:
		<-ack
	case <-w.done:
	}
}

// close stops taking messages, writes what is queued and stops the loop.
func (w *telemetryWriter) close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		<-w.done
		return
	}
	w.closed = true
	w.mu.Unlock()
	close(w.stop)
	<-w.done
}

func (w *telemetryWriter) loop() {
	defer close(w.done)
	pending := map[string][]store.Doc{}
	n := 0
	tick := time.NewTicker(w.interval)
	defer tick.Stop()
	write := func() {
		if n > 0 {
			w.write(pending)
			pending, n = map[string][]store.Doc{}, 0
		}
	}
	take := func(it telemetryItem) {
		pending[it.db] = append(pending[it.db], it.doc)
		if n++; n >= w.batch {
			write()
		}
	}
	for {
		select {
		case it := <-w.in:
			take(it)
		case <-tick.C:
			write()
		case ack := <-w.flushReq:
			w.drain(take)
			write()
			close(ack)
		case <-w.stop:
			// enqueue refuses new messages now: what is queued is all.
			w.drain(take)
			write()
			return
		}
	}
}

// drain takes every message queued now.
func (w *telemetryWriter) drain(take func(telemetryItem)) {
	for {
		select {
		case it := <-w.in:
			take(it)
		default:
			return
		}
	}
}

// write stores the pending messages, one InsertMany per database; the
// messages of a failed write are counted as dropped.
func (w *telemetryWriter) write(pending map[string][]store.Doc) {
	for name, docs := range pending {
		stored, err := w.insert(name, docs)
		w.stored.Add(float64(stored))
		if err != nil {
			w.log.Warn("store telemetry", "db", name, "messages", len(docs), "stored", stored, "err", err)
			for range len(docs) - stored {
				w.dropped(DropStore)
			}
		}
	}
}

// insert writes docs into database name, creating the indexes first. A
// failure to create them is logged and retried at the next write: the
// messages are stored all the same.
func (w *telemetryWriter) insert(name string, docs []store.Doc) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), w.timeout)
	defer cancel()
	db, err := w.st.DB(ctx, name)
	if err != nil {
		return 0, err
	}
	if !w.indexed[name] {
		ictx, icancel := context.WithTimeout(context.Background(), w.timeout)
		err := store.EnsureIndexes(ictx, db, map[string][]store.Index{collTelemetry: telemetryIndexes})
		icancel()
		if err != nil {
			w.log.Warn("create the telemetry indexes", "db", name, "err", err)
		} else {
			w.indexed[name] = true
		}
	}
	out, err := db.Collection(collTelemetry).InsertMany(ctx, docs)
	return len(out), err
}
