package api

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
)

// requestCtx is the context the middleware give a request: the server's
// request context, plus the request's state (Value(requestKey{})) and,
// once Timeout set one, its deadline. It lives inside requestState, so a
// request pays for neither a context value nor a timer context of its
// own.
//
// The deadline's timer starts only when someone waits for it: Done (a
// store query, a connector call, a child context) arms a real
// context.WithDeadline and delegates to it from then on. Most answers
// from memory (a cached flow, a session check from the cache) never ask,
// and never start a timer. Err reports the deadline without arming as
// long as it has not passed.
type requestCtx struct {
	context.Context // the server's request context
	st              *requestState
	// route is the routing context API.ServeHTTP gave the request, which
	// Value answers for chi.RouteCtxKey; nil outside of one.
	route *chi.Context
	// deadline is set by Timeout before the handler runs and only read
	// afterwards; zero means none of its own.
	deadline time.Time
	mu       sync.Mutex
	armed    atomic.Pointer[armedDeadline]
	released atomic.Bool
}

// armedDeadline is the real deadline context of a requestCtx, once armed.
type armedDeadline struct {
	ctx    context.Context
	cancel context.CancelFunc
}

var _ context.Context = (*requestCtx)(nil)

// Deadline is the earlier of the request's deadline and the server's.
func (c *requestCtx) Deadline() (time.Time, bool) {
	pd, ok := c.Context.Deadline()
	if c.deadline.IsZero() || (ok && pd.Before(c.deadline)) {
		return pd, ok
	}
	return c.deadline, true
}

// Done arms the deadline, if any, and returns its channel.
func (c *requestCtx) Done() <-chan struct{} {
	if c.deadline.IsZero() {
		return c.Context.Done()
	}
	return c.arm().Done()
}

// Err reports the deadline once it has passed, else the server context's
// error.
func (c *requestCtx) Err() error {
	if c.deadline.IsZero() {
		return c.Context.Err()
	}
	if a := c.armed.Load(); a != nil {
		return a.ctx.Err()
	}
	if time.Now().Before(c.deadline) {
		return c.Context.Err()
	}
	return c.arm().Err()
}

// Value answers the request state itself; other keys go to the armed
// context when there is one (so that context's children attach to its
// cancellation directly, without a goroutine each), else to the server's.
func (c *requestCtx) Value(key any) any {
	if key == (requestKey{}) {
		return c.st
	}
	if key == chi.RouteCtxKey && c.route != nil {
		return c.route
	}
	if a := c.armed.Load(); a != nil {
		return a.ctx.Value(key)
	}
	return c.Context.Value(key)
}

// arm returns the real deadline context, making it on the first call.
// After release it is the server's context, which net/http cancels once
// the handler returned.
func (c *requestCtx) arm() context.Context {
	if a := c.armed.Load(); a != nil {
		return a.ctx
	}
	if c.released.Load() {
		return c.Context
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if a := c.armed.Load(); a != nil {
		return a.ctx
	}
	ctx, cancel := context.WithDeadline(c.Context, c.deadline)
	c.armed.Store(&armedDeadline{ctx: ctx, cancel: cancel})
	return ctx
}

// release ends the deadline when the handler is done: an armed timer is
// stopped and its context cancelled, as the cancel function of
// context.WithTimeout would.
func (c *requestCtx) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.released.Store(true)
	if a := c.armed.Load(); a != nil {
		a.cancel()
	}
}
