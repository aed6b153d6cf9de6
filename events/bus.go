// Package events is Skybridge's event bus: typed object-change events
// delivered in process to the subscribers of a (database, collection) pair,
// and, when several nodes share one store, fanned out to the other nodes
// over Redis pub/sub.
//
// A write publishes its change with Publish right after it commits (the
// object store's Config.OnChange hook). Local subscribers get it at once,
// on the writer's goroutine; with Redis the change also goes out to every
// other node, whose bus delivers it to its own subscribers. A node ignores
// the messages it published itself, so nothing is delivered twice.
//
// Redis pub/sub is fire-and-forget: a node that loses its Redis connection
// misses what was published meanwhile. Subscribers that must not miss
// anything (the realtime WebSocket) notice the jump in _seq on the next
// change and read what they missed from the store's change feed.
//
// Matcher selects objects with a store.Filter in memory, with the same
// semantics as the store adapters, for subscriptions with a filter.
package events

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"github.com/skybridgehq/skybridge/objectstore"
)

// Handler receives the changes of one subscription. It runs on the
// publisher's goroutine (a writer's, or the Redis receiver's), while the
// bus holds its subscriber lock: it must not block and must not call back
// into the bus. Hand the change off (a non-blocking channel send) and
// return. The change and its object are shared with the other
// subscribers: never modify them.
type Handler func(objectstore.Change)

// Config tunes a Bus. The zero value is an in-process bus.
type Config struct {
	// Redis, when set, fans changes out to the other nodes through Redis
	// pub/sub. Default: nil, this node only.
	Redis redis.UniversalClient
	// Channel is the Redis channel every node publishes to and listens on;
	// nodes of one deployment must agree on it. Messages name the
	// database and collection, and each node routes them to its own
	// subscribers. Default: "skybridge:events".
	Channel string
	// NodeID tells this node's messages apart from the others'. Default: a
	// random id, new for each Bus.
	NodeID string
	// OutboxSize bounds the changes waiting to go out to Redis. When it is
	// full (Redis slow or down) further changes are not sent to the other
	// nodes, rather than holding up writers; they are counted in Dropped
	// and logged. Default: 4096.
	OutboxSize int
	// Logger receives errors that cannot be returned. Default:
	// slog.Default().
	Logger *slog.Logger
}

// Defaults of Config.
const (
	DefaultChannel    = "skybridge:events"
	DefaultOutboxSize = 4096
)

func (c Config) withDefaults() Config {
	if c.Channel == "" {
		c.Channel = DefaultChannel
	}
	if c.NodeID == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		c.NodeID = hex.EncodeToString(b[:])
	}
	if c.OutboxSize <= 0 {
		c.OutboxSize = DefaultOutboxSize
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// ErrClosed is returned by Start on a closed Bus.
var ErrClosed = errors.New("events: bus closed")

// topic is what a subscription listens to.
type topic struct{ db, collection string }

// Bus delivers object changes to subscribers. Build it with New, call
// Start before publishing, and Close when done. It is safe for concurrent
// use.
type Bus struct {
	cfg Config
	log *slog.Logger

	mu      sync.RWMutex
	subs    map[topic][]*Subscription // in subscription order
	closed  bool
	started bool
	outbox  chan objectstore.Change // nil without Redis
	done    chan struct{}

	ps       *redis.PubSub // nil until Start, and without Redis
	stop     context.CancelFunc
	pubDone  chan struct{}
	recvDone chan struct{}
	dropped  atomic.Int64
}

// New returns a Bus; with cfg.Redis it fans out once started.
func New(cfg Config) *Bus {
	cfg = cfg.withDefaults()
	b := &Bus{
		cfg:  cfg,
		log:  cfg.Logger.With("component", "events"),
		subs: map[topic][]*Subscription{},
		done: make(chan struct{}),
	}
	if cfg.Redis != nil {
		b.outbox = make(chan objectstore.Change, cfg.OutboxSize)
	}
	return b
}

// NodeID is the id this bus stamps on its Redis messages.
func (b *Bus) NodeID() string { return b.cfg.NodeID }

// Start connects the Redis fan-out: it subscribes to the channel, waits for
// Redis to confirm, and starts the goroutines that publish and receive.
// Changes published by other nodes after Start returns reach this node's
// subscribers. Without Redis it does nothing. The goroutines run until
// Close; ctx bounds only the subscription.
func (b *Bus) Start(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if b.started || b.cfg.Redis == nil {
		b.started = true
		return nil
	}
	ps, err := subscribe(ctx, b.cfg.Redis, b.cfg.Channel)
	if err != nil {
		return err
	}
	b.started = true
	b.ps = ps
	runCtx, stop := context.WithCancel(context.Background())
	b.stop = stop
	b.pubDone, b.recvDone = make(chan struct{}), make(chan struct{})
	go func() { defer close(b.pubDone); b.publishLoop(runCtx) }()
	go func() { defer close(b.recvDone); b.receiveLoop(runCtx, ps) }()
	return nil
}

// Close stops the Redis goroutines after sending what the outbox still
// holds (for at most a few seconds), waits for them, and closes Done.
// Subscriptions stay registered but receive nothing more. It is safe to
// call more than once.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	if b.outbox != nil {
		close(b.outbox) // the publisher drains it, then stops the receiver
	}
	close(b.done)
	stop := b.stop
	b.mu.Unlock()
	if stop == nil {
		return nil
	}
	<-b.pubDone // the outbox is drained
	stop()
	// Closing the subscription ends a Receive blocked on the connection.
	_ = b.ps.Close()
	<-b.recvDone
	return nil
}

// Done is closed when the bus closes: long-lived subscribers (WebSocket
// connections) end then.
func (b *Bus) Done() <-chan struct{} { return b.done }

// Dropped counts the changes that did not go out to Redis because the
// outbox was full.
func (b *Bus) Dropped() int64 { return b.dropped.Load() }

// Publish delivers ch to this node's subscribers of its database and
// collection, synchronously, and queues it for the other nodes when Redis
// is configured. It never blocks on Redis. After Close it does nothing.
func (b *Bus) Publish(ctx context.Context, ch objectstore.Change) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return
	}
	b.deliverLocked(ch)
	if b.outbox == nil {
		return
	}
	select {
	case b.outbox <- ch:
	default:
		if n := b.dropped.Add(1); n&(n-1) == 0 { // log at powers of two
			b.log.WarnContext(ctx, "events outbox full: changes not sent to other nodes", "dropped", n)
		}
	}
}

// deliver hands ch to the subscribers of its topic.
func (b *Bus) deliver(ch objectstore.Change) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if !b.closed {
		b.deliverLocked(ch)
	}
}

func (b *Bus) deliverLocked(ch objectstore.Change) {
	for _, s := range b.subs[topic{ch.DB, ch.Collection}] {
		s.h(ch)
	}
}

// Subscription is one registered Handler. End it with Unsubscribe.
type Subscription struct {
	bus  *Bus
	t    topic
	h    Handler
	once sync.Once
}

// Subscribe registers h for the changes of collection in database db
// (the environment database, store.EnvDBName). Changes published after
// Subscribe returns reach h, until Unsubscribe. The handlers of one topic
// are called in the order they subscribed.
func (b *Bus) Subscribe(db, collection string, h Handler) *Subscription {
	if h == nil {
		panic("events: Subscribe needs a handler")
	}
	s := &Subscription{bus: b, t: topic{db, collection}, h: h}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.subs[s.t] = append(b.subs[s.t], s)
	return s
}

// Unsubscribe removes the subscription; its handler is not called once
// Unsubscribe returns. It is safe to call more than once.
func (s *Subscription) Unsubscribe() {
	s.once.Do(func() {
		b := s.bus
		b.mu.Lock()
		defer b.mu.Unlock()
		// A new slice: deliveries never see one being changed.
		rest := slices.DeleteFunc(slices.Clone(b.subs[s.t]), func(o *Subscription) bool { return o == s })
		if len(rest) == 0 {
			delete(b.subs, s.t)
		} else {
			b.subs[s.t] = rest
		}
	})
}

// subscribers counts the registered subscriptions (for tests).
func (b *Bus) subscribers() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	n := 0
	for _, m := range b.subs {
		n += len(m)
	}
	return n
}
