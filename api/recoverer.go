package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
)

// errPanic is what a recovered panic is reported as: an internal error.
var errPanic = errors.New("handler panicked")

// Recoverer turns a panicking handler into a 500 problem+json response
// (when nothing was written yet) and logs the panic value and stack at
// error level, so that one bad request never takes the server down.
// http.ErrAbortHandler is re-panicked: it is net/http's way of aborting a
// response on purpose. A panic after the status was sent also aborts the
// connection, since a clean answer is no longer possible.
func Recoverer(log *slog.Logger) func(http.Handler) http.Handler {
	if log == nil {
		panic("api: Recoverer needs a logger")
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// A writer that tells its status already (the compressor, or
			// the access log's wrapper) is not wrapped again.
			ww, ok := w.(statusWriter)
			if !ok {
				ww = &responseWriter{ResponseWriter: w}
			}
			defer func() {
				rv := recover()
				if rv == nil {
					return
				}
				if rv == http.ErrAbortHandler {
					panic(rv)
				}
				log.LogAttrs(r.Context(), slog.LevelError, "handler panic",
					slog.String("requestId", RequestIDFrom(r.Context())),
					slog.String("method", r.Method),
					slog.String("path", r.URL.Path),
					slog.String("panic", fmt.Sprint(rv)),
					slog.String("stack", string(debug.Stack())))
				if ww.Status() != 0 {
					// Too late for a clean answer: the status is out.
					// Abort the connection so that the client sees a
					// broken response rather than a short one.
					panic(http.ErrAbortHandler)
				}
				writeProblem(ww, r, problemFor(errPanic))
			}()
			next.ServeHTTP(ww, r)
		})
	}
}
