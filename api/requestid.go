package api

import (
	"context"
	"crypto/rand"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// RequestIDHeader carries the request id, both ways.
const RequestIDHeader = "X-Request-Id"

// maxRequestIDLen bounds a client-chosen request id.
const maxRequestIDLen = 64

// RequestID gives every request an id: the client's X-Request-Id when it
// is sane (1 to 64 characters of A-Z, a-z, 0-9, '.', '_', '-'), else a new
// one (newRequestID). The id goes into the request context
// (RequestIDFrom), into every problem's instance and back to the client in
// X-Request-Id on every response.
//
// It is the outermost middleware, so it also owns the request's state
// (requestState): the one allocation that holds what the middleware
// inside it share, the response writer that records status and size
// among them.
func RequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header()[RequestIDHeader] = []string{id}
		if st := requestStateFrom(r.Context()); st != nil && st.id == "" && w == http.ResponseWriter(&st.w) {
			// API.ServeHTTP made the state before routing: take it.
			st.id = id
			next.ServeHTTP(w, r)
			return
		}
		st := newRequestState(w, r.Context())
		st.id = id
		defer st.ctx.release()
		next.ServeHTTP(&st.w, r.WithContext(&st.ctx))
	})
}

// newRequestState returns the state of a request to w whose context
// was parent, started now.
func newRequestState(w http.ResponseWriter, parent context.Context) *requestState {
	st := &requestState{start: time.Now()}
	st.w.ResponseWriter = w
	st.ctx.Context, st.ctx.st = parent, st
	return st
}

// requestIDPrefix makes the ids of this process unlike those of any other
// node: 10 random base32 characters (50 bits), drawn once.
var requestIDPrefix = rand.Text()[:10] + "-"

// requestCounter numbers the requests of this process.
var requestCounter atomic.Uint64

// newRequestID returns an id no other request of any node has had: the
// process prefix and a counter. Request ids label logs and problems and
// are no secret, so a counter serves, and costs a fraction of drawing
// fresh random bytes for every request.
func newRequestID() string {
	var buf [32]byte
	b := append(buf[:0], requestIDPrefix...)
	return string(strconv.AppendUint(b, requestCounter.Add(1), 36))
}

// validRequestID reports whether a client-sent id may be kept: it ends up
// in logs and headers, so only a short, plain token is.
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
