package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/events"
	"github.com/skybridgehq/skybridge/objectstore"
)

// rtConn is one realtime connection. Its run goroutine owns the
// subscriptions and is the only writer of messages; a reader goroutine
// parses client messages and a pinger keeps the connection alive. Bus
// handlers only put events into the bounded queue.
type rtConn struct {
	a  *API
	ws *websocket.Conn
	id *rtIdentity // nil until authenticated

	subs  map[string]*rtSub
	queue chan rtQueued
	ops   opBudget
	// refill fires when subscriptions behind a gap read the feed again;
	// nil when none is behind.
	refill <-chan time.Time

	slowOnce sync.Once
	slow     chan struct{}
}

// rtSub is one subscription of a connection.
type rtSub struct {
	id, collection string
	matcher        *events.Matcher
	// floor is the _seq up to which the client has the collection (the
	// replay's end, or the feed's end when it subscribed, then each event
	// passed on or judged): live events at or below it are dropped as
	// already seen.
	floor int64
	// ahead is the highest _seq seen live beyond a gap: the feed is read
	// again until floor reaches it.
	ahead int64
	bus   *events.Subscription
	// hint: a sync scope subscription, sent hints instead of objects.
	hint bool
	// device, when set, makes this a device subscription
	// (realtimedevices.go): events pass on as they come, without _seq.
	device string
}

// rtQueued is a change waiting for the run goroutine.
type rtQueued struct {
	sub *rtSub
	ch  objectstore.Change
}

// rtRead is what the reader goroutine hands over.
type rtRead struct {
	msg rtClientMessage
	err error // a bad message; the connection goes on
}

func newRealtimeConn(a *API, ws *websocket.Conn, id *rtIdentity) *rtConn {
	return &rtConn{
		a: a, ws: ws, id: id,
		subs:  map[string]*rtSub{},
		ops:   opBudget{tokens: realtimeOpBurst, last: time.Now()},
		queue: make(chan rtQueued, realtimeBuffer),
		slow:  make(chan struct{}),
	}
}

// run serves the connection until the client leaves, a read or write
// fails, the client falls behind, or the bus closes. It returns once its
// goroutines have stopped.
func (c *rtConn) run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		for _, s := range c.subs {
			s.bus.Unsubscribe()
		}
		cancel()
		_ = c.ws.CloseNow()
		wg.Wait()
	}()
	reads := make(chan rtRead)
	readDone := make(chan error, 1)
	wg.Add(2)
	go func() { defer wg.Done(); readDone <- c.readLoop(ctx, reads) }()
	go func() { defer wg.Done(); c.pingLoop(ctx) }()

	recheck := time.NewTicker(c.a.cfg.RealtimeSessionCheck)
	defer recheck.Stop()
	var authTimeout, expired <-chan time.Time
	if c.id == nil {
		t := time.NewTimer(realtimeAuthTimeout)
		defer t.Stop()
		authTimeout = t.C
	} else if !c.ready(ctx) {
		return
	} else {
		expired = c.expiry()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-readDone:
			return
		case <-c.a.deps.Events.Done():
			_ = c.ws.Close(websocket.StatusGoingAway, reasonShutdown)
			return
		case <-c.slow:
			c.a.log.Info("realtime: slow consumer disconnected", "db", c.id.env.DB)
			_ = c.ws.Close(websocket.StatusPolicyViolation, reasonSlowConsumer)
			return
		case <-authTimeout:
			_ = c.ws.Close(websocket.StatusPolicyViolation, reasonAuthTimeout)
			return
		case <-expired:
			_ = c.ws.Close(websocket.StatusPolicyViolation, reasonTokenExpired)
			return
		case <-recheck.C:
			if !c.recheckSession(ctx) {
				return
			}
		case rd := <-reads:
			authed := c.id != nil
			if !c.handle(ctx, rd) {
				return
			}
			if !authed && c.id != nil {
				authTimeout, expired = nil, c.expiry()
			}
		case q := <-c.queue:
			if !c.deliver(ctx, q) {
				return
			}
		case <-c.refill:
			c.refill = nil
			for _, s := range c.subs {
				if s.floor < s.ahead && !c.fill(ctx, s) {
					return
				}
			}
		}
	}
}

// recheckSession reads the connection's session again: a revoked
// session or a disabled or deleted user closes the connection (1008),
// changed roles apply to the next events. A store failure keeps the
// connection and is logged; false ends it.
func (c *rtConn) recheckSession(ctx context.Context) bool {
	if c.id == nil || c.id.session == nil {
		return true
	}
	u, err := c.a.deps.Auth.CheckSession(ctx, c.id.session.db, c.id.session.claims)
	switch {
	case errors.Is(err, auth.ErrUnauthorized):
		_ = c.ws.Close(websocket.StatusPolicyViolation, reasonSessionRevoked)
		return false
	case err != nil:
		c.a.log.Warn("realtime: session check failed", "db", c.id.env.DB, "err", err)
		return true
	}
	c.id.p.Roles = u.Roles
	return true
}

// expiry fires when the connection's access token expires; nil without
// a token.
func (c *rtConn) expiry() <-chan time.Time {
	if c.id.expires.IsZero() {
		return nil
	}
	return time.After(time.Until(c.id.expires))
}

// readLoop reads client messages until the connection ends.
func (c *rtConn) readLoop(ctx context.Context, out chan<- rtRead) error {
	for {
		typ, data, err := c.ws.Read(ctx)
		if err != nil {
			return err
		}
		var rd rtRead
		if typ != websocket.MessageText {
			rd.err = fmt.Errorf("%w: messages are JSON text", ErrInvalidInput)
		} else {
			rd.msg, rd.err = parseRealtimeMessage(data)
		}
		select {
		case out <- rd:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// pingLoop pings every realtimePingInterval and ends the connection when
// no pong comes back in time. The reader goroutine receives the pongs.
func (c *rtConn) pingLoop(ctx context.Context) {
	t := time.NewTicker(realtimePingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, realtimePongTimeout)
		err := c.ws.Ping(pctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				_ = c.ws.Close(websocket.StatusPolicyViolation, reasonPingTimeout)
			}
			return
		}
	}
}

// handle acts on one client message; false ends the connection.
func (c *rtConn) handle(ctx context.Context, rd rtRead) bool {
	m := rd.msg
	if c.id == nil {
		// Nothing but a valid auth message is accepted first.
		if rd.err == nil && m.Op != rtOpAuth {
			rd.err = onField("op", fmt.Errorf("%w: the first message must be {\"op\":\"auth\",...} when the handshake carries no key", ErrUnauthenticated))
		}
		if rd.err == nil {
			id, err := c.a.realtimeIdentity(ctx, rtCredentials{key: m.Key, token: m.Token})
			if err == nil {
				c.id = &id
				return c.ready(ctx)
			}
			rd.err = err
		}
		c.reply(ctx, rtReply{Op: rtOpError, Error: c.problem(rd.err)})
		_ = c.ws.Close(websocket.StatusPolicyViolation, "unauthenticated")
		return false
	}
	if !c.ops.take(time.Now()) {
		rd.err = fmt.Errorf("%w: at most %d operations per second on one connection", ErrTooManyRequests, realtimeOpRate)
	}
	if rd.err != nil {
		return c.reply(ctx, rtReply{Op: rtOpError, ID: m.ID, Error: c.problem(rd.err)})
	}
	switch m.Op {
	case rtOpAuth:
		return c.reply(ctx, rtReply{Op: rtOpError, Error: c.problem(onField("op", fmt.Errorf("%w: already authenticated", ErrInvalidInput)))})
	case rtOpUnsubscribe:
		s, ok := c.subs[m.ID]
		if !ok {
			return c.reply(ctx, rtReply{Op: rtOpError, ID: m.ID, Error: c.problem(onField("id", fmt.Errorf("%w: no subscription %q", ErrInvalidInput, m.ID)))})
		}
		s.bus.Unsubscribe()
		delete(c.subs, m.ID)
		return c.reply(ctx, rtReply{Op: rtOpUnsubscribed, ID: m.ID})
	}
	err := c.subscribe(ctx, m)
	if errors.Is(err, errConnDone) {
		return false
	}
	if err != nil {
		return c.reply(ctx, rtReply{Op: rtOpError, ID: m.ID, Error: c.problem(err)})
	}
	return true
}

// errConnDone: a write failed, the connection is over.
var errConnDone = errors.New("realtime connection closed")

// subscribe registers subscription m: on the bus first, so that nothing
// committed from then on is missed, then it replays the change feed after
// m.Since (or takes the feed's end without since), then acknowledges.
// Live events that arrived meanwhile wait in the queue; those the replay
// already covered are dropped by _seq when they come out.
func (c *rtConn) subscribe(ctx context.Context, m rtClientMessage) error {
	if _, dup := c.subs[m.ID]; dup {
		return onField("id", fmt.Errorf("%w: subscription %q exists", ErrInvalidInput, m.ID))
	}
	if len(c.subs) >= realtimeMaxSubs {
		return onField("id", fmt.Errorf("%w: at most %d subscriptions per connection", ErrInvalidInput, realtimeMaxSubs))
	}
	if m.Device != "" {
		return c.subscribeDevice(ctx, m)
	}
	objs := c.a.deps.Objects
	if err := objs.CheckReadable(ctx, c.id.env, c.id.p, m.Collection); err != nil {
		return objectstoreErr(err)
	}
	filter := m.filter
	if m.Scope != "" {
		f, err := c.syncScope(ctx, m)
		if err != nil {
			return err
		}
		filter = f
	}
	matcher, err := events.NewMatcher(filter)
	if err != nil {
		return onField("filter", fmt.Errorf("%w: %v", ErrInvalidInput, err))
	}
	s := &rtSub{id: m.ID, collection: m.Collection, matcher: matcher, hint: m.Scope != ""}
	s.bus = c.a.deps.Events.Subscribe(c.id.env.DB, m.Collection, func(ch objectstore.Change) {
		select {
		case c.queue <- rtQueued{sub: s, ch: ch}:
		default:
			c.slowOnce.Do(func() { close(c.slow) })
		}
	})
	c.subs[m.ID] = s
	fail := func(err error) error {
		s.bus.Unsubscribe()
		delete(c.subs, m.ID)
		return err
	}
	if m.Since == nil {
		last, err := objs.LastSeq(ctx, c.id.env, m.Collection)
		if err != nil {
			return fail(objectstoreErr(err))
		}
		s.floor = last
	} else if err := c.replay(ctx, s, *m.Since); err != nil {
		return fail(err)
	}
	floor := s.floor
	if !c.reply(ctx, rtReply{Op: rtOpSubscribed, ID: m.ID, Seq: &floor}) {
		return errConnDone
	}
	return nil
}

// replay sends what the change feed holds after since, under the read
// rule and the filter, and sets the subscription's floor to the last _seq
// it examined.
func (c *rtConn) replay(ctx context.Context, s *rtSub, since int64) error {
	after := since
	for {
		b, err := c.a.deps.Objects.Changes(ctx, c.id.env, c.id.p, s.collection, after, realtimeReplayPage)
		if err != nil {
			return objectstoreErr(err)
		}
		for _, obj := range b.Objects {
			if !c.send(ctx, s, replayType(obj), obj) {
				return errConnDone
			}
		}
		if b.Last <= after {
			s.floor = after
			return nil
		}
		after = b.Last
	}
}

// replayType names the change a feed object stands for: the feed keeps
// each object's latest state only.
func replayType(obj objectstore.Object) objectstore.ChangeType {
	switch {
	case obj.Deleted():
		return objectstore.Deleted
	case obj.Version() <= 1:
		return objectstore.Created
	}
	return objectstore.Updated
}

// deliver passes on a live change. Within a collection every write takes
// the next _seq, so a change right after the floor is sent as it is (when
// the caller may read it and it matches). A change further ahead means
// others are missing: still in flight (writers commit out of order on
// MongoDB, Redis delivers late) or lost (Redis pub/sub keeps nothing
// while a node is disconnected). Then the subscription reads the store's
// gap-free change feed from its floor instead, so the client never skips
// a _seq it could later resume after. false ends the connection.
func (c *rtConn) deliver(ctx context.Context, q rtQueued) bool {
	s := q.sub
	if s.device != "" {
		return c.deliverDevice(ctx, q)
	}
	seq := q.ch.Object.Seq()
	if c.subs[s.id] != s || seq <= s.floor {
		return true
	}
	if seq > s.floor+1 {
		s.ahead = max(s.ahead, seq)
		return c.fill(ctx, s)
	}
	s.floor = seq
	ok, err := c.a.deps.Objects.CanRead(ctx, c.id.env, c.id.p, s.collection, q.ch.Object)
	if err != nil {
		c.a.log.Warn("realtime: read rule check failed; event not sent", "db", c.id.env.DB, "collection", s.collection, "err", err)
		return true
	}
	if !ok {
		return true
	}
	return c.send(ctx, s, q.ch.Type, q.ch.Object)
}

// fill sends what the change feed holds after the subscription's floor.
// When the feed does not reach the _seq seen live yet (an earlier write
// still commits), it tries again after realtimeRefillDelay.
func (c *rtConn) fill(ctx context.Context, s *rtSub) bool {
	if err := c.replay(ctx, s, s.floor); err != nil {
		if errors.Is(err, errConnDone) {
			return false
		}
		c.a.log.Warn("realtime: read the change feed", "db", c.id.env.DB, "collection", s.collection, "err", err)
	}
	if s.floor < s.ahead && c.refill == nil {
		c.refill = time.After(realtimeRefillDelay)
	}
	return true
}

// send writes one event when obj matches the subscription's filter.
// Deletions carry a tombstone the filter cannot judge: they are sent to
// every subscription allowed to read the object.
func (c *rtConn) send(ctx context.Context, s *rtSub, t objectstore.ChangeType, obj objectstore.Object) bool {
	if t != objectstore.Deleted && !s.matcher.Match(obj) {
		return true
	}
	if s.hint {
		return c.write(ctx, rtSyncHint{Sub: s.id, Type: "sync", Collection: s.collection, Seq: obj.Seq()})
	}
	return c.write(ctx, rtEvent{Sub: s.id, Type: string(t), Object: obj, Seq: obj.Seq()})
}

// ready tells the client it is authenticated.
func (c *rtConn) ready(ctx context.Context) bool {
	return c.reply(ctx, rtReply{Op: rtOpReady, User: c.id.user})
}

func (c *rtConn) reply(ctx context.Context, r rtReply) bool { return c.write(ctx, r) }

// write sends v as one text message within realtimeWriteTimeout.
func (c *rtConn) write(ctx context.Context, v any) bool {
	data, err := json.Marshal(v)
	if err != nil {
		c.a.log.Error("realtime: encode message", "err", err)
		return false
	}
	wctx, cancel := context.WithTimeout(ctx, realtimeWriteTimeout)
	defer cancel()
	return c.ws.Write(wctx, websocket.MessageText, data) == nil
}

// problem renders err for an error message; server errors are logged.
func (c *rtConn) problem(err error) *Problem {
	p := problemFor(err)
	if p.Status >= 500 {
		c.a.log.Error("realtime: request failed", "err", err)
	}
	return &p
}

// objectstoreErr turns the object store's refusals into the api's errors
// (problemFor does not know the objectstore sentinels).
func objectstoreErr(err error) error {
	var fe *objectstore.FieldError
	switch {
	case errors.As(err, &fe) && errors.Is(err, objectstore.ErrInvalid):
		return onField(fe.Field, fmt.Errorf("%w: %v", ErrInvalidInput, fe.Err))
	case errors.Is(err, objectstore.ErrInvalid):
		return fmt.Errorf("%w: %v", ErrInvalidInput, err)
	case errors.Is(err, objectstore.ErrForbidden):
		return fmt.Errorf("%w: %v", ErrForbidden, err)
	}
	return err
}

// realtimeRefillDelay is how soon a subscription behind a gap reads the
// change feed again.
const realtimeRefillDelay = 100 * time.Millisecond

// Operation budget of a connection: subscribing reads the store, so a
// client may not churn subscriptions without bound.
const (
	realtimeOpRate  = 20  // operations per second, sustained
	realtimeOpBurst = 120 // room to set up realtimeMaxSubs at once
)

// opBudget is a token bucket of client operations.
type opBudget struct {
	tokens float64
	last   time.Time
}

// take spends one token if there is one, refilling at realtimeOpRate.
func (b *opBudget) take(now time.Time) bool {
	b.tokens = min(realtimeOpBurst, b.tokens+now.Sub(b.last).Seconds()*realtimeOpRate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
