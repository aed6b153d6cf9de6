package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"
)

// Timeout puts a deadline of d on every request's context. Handlers (and
// the store calls they make) honour it; when a handler returns after the
// deadline without having written anything, the client gets a 504
// problem+json. It does not answer while the handler still runs: that would
// mean buffering every response, and a handler that ignores its context is
// a bug to fix, not to paper over.
//
// Protocol upgrades (WebSocket) are exempt: they are long-lived by design.
func Timeout(d time.Duration) func(http.Handler) http.Handler {
	if d <= 0 {
		panic("api: Timeout needs a positive duration")
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if isUpgrade(r) {
				next.ServeHTTP(w, r)
				return
			}
			// A writer that already tells its status (the access log's
			// wrapper, or the compressor inside it) is not wrapped again:
			// one allocation less on every request.
			ww, ok := w.(statusWriter)
			if !ok {
				mw := &responseWriter{ResponseWriter: w}
				w, ww = mw, mw
			}
			ctx := r.Context()
			if st := requestStateFrom(ctx); st != nil && ctx == context.Context(&st.ctx) && st.ctx.deadline.IsZero() {
				// Straight behind RequestID (always, in New): the
				// request's own context takes the deadline, and starts
				// its timer only if someone waits for it
				// (requestctx.go); RequestID releases it.
				st.ctx.deadline = st.start.Add(d)
				next.ServeHTTP(w, r)
			} else {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, d)
				defer cancel()
				next.ServeHTTP(w, r.WithContext(ctx))
			}
			if ww.Status() == 0 && errors.Is(ctx.Err(), context.DeadlineExceeded) {
				writeProblem(w, r, problemFor(ErrTimeout))
			}
		})
	}
}

// isUpgrade reports whether r asks to switch protocols (WebSocket).
// statusWriter is a response writer that says the status it sent, 0
// before any.
type statusWriter interface {
	http.ResponseWriter
	Status() int
}

func isUpgrade(r *http.Request) bool {
	for _, v := range r.Header.Values("Connection") {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return true
			}
		}
	}
	return false
}
