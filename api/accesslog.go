package api

import (
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
)

// AccessLog logs one JSON line per request through log: method, route
// pattern, path, status, bytes, duration, request id and remote address.
// It never logs headers, so keys, tokens and Authorization stay out of the
// log, nor the query string, which may carry one-time codes. Server errors
// (5xx) are logged at warn level, everything else at info.
//
// It must run inside the chi router (Router.Use) to see the route pattern.
func AccessLog(log *slog.Logger) func(http.Handler) http.Handler {
	if log == nil {
		panic("api: AccessLog needs a logger")
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := requestStart(r)
			ww := observe(w)
			defer func() {
				status := ww.Status()
				if status == 0 {
					// Nothing written: net/http sends 200, or the
					// connection was aborted by a panic.
					status = http.StatusOK
				}
				level := slog.LevelInfo
				if status >= 500 {
					level = slog.LevelWarn
				}
				if !log.Enabled(r.Context(), level) {
					return // no line: build none of its attributes
				}
				log.LogAttrs(r.Context(), level, "http request",
					slog.String("method", r.Method),
					slog.String("route", routeLabel(r)),
					slog.String("path", r.URL.Path),
					slog.Int("status", status),
					slog.Int("bytes", ww.BytesWritten()),
					slog.Duration("duration", time.Since(start)),
					slog.String("requestId", RequestIDFrom(r.Context())),
					slog.String("remote", r.RemoteAddr))
			}()
			next.ServeHTTP(ww, r)
		})
	}
}

// unmatchedRoute labels requests no route matched, so that scanners
// probing random paths cannot blow up the metrics' label sets.
const unmatchedRoute = "unmatched"

// routeLabel returns the chi route pattern that served r ("/readyz",
// "/admin/api/apps/{id}"), never the raw path; "unmatched" when no route
// did. It is only complete after the router has served r.
//
// chi builds the pattern anew on each call, and the access log, metrics
// and audit each want it once the request is served, so the first
// answer is kept in the request state for the others (keyed by the
// routing context, so that a batch operation's own routing never reads
// or overwrites its batch request's).
func routeLabel(r *http.Request) string {
	ctx := r.Context()
	rctx := chi.RouteContext(ctx)
	st := requestStateFrom(ctx)
	if st != nil && st.routeCtx == rctx && st.route != "" {
		return st.route
	}
	p := routePattern(rctx)
	if p == "" {
		p = unmatchedRoute
	}
	if st != nil {
		st.route, st.routeCtx = p, rctx
	}
	return p
}

// routePatterns remembers the pattern chi builds from each sequence of
// (sub-)router patterns: chi joins and trims them anew on every call,
// while a router has only so many routes. Sequences of more than
// maxPatternDepth parts are built each time.
var routePatterns sync.Map // patternKey → string

const maxPatternDepth = 4

type patternKey [maxPatternDepth]string

// routePattern is rctx.RoutePattern(), remembered.
func routePattern(rctx *chi.Context) string {
	if len(rctx.RoutePatterns) > maxPatternDepth {
		return rctx.RoutePattern()
	}
	var k patternKey
	copy(k[:], rctx.RoutePatterns)
	if p, ok := routePatterns.Load(k); ok {
		return p.(string)
	}
	p := rctx.RoutePattern()
	routePatterns.Store(k, p)
	return p
}

// markUnmatched wraps the router's not-found and method-not-allowed
// handlers: it drops the partial pattern a mounted sub-router left behind
// ("/v1/*"), so that routeLabel reports "unmatched".
func markUnmatched(h http.Handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if rctx := chi.RouteContext(r.Context()); rctx != nil {
			rctx.RoutePatterns = rctx.RoutePatterns[:0]
		}
		h.ServeHTTP(w, r)
	}
}
