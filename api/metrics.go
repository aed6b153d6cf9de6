package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skybridgehq/skybridge/dashboard"
)

// Metrics counts requests in skybridge_http_requests_total{route,method,
// status} and times them in skybridge_http_request_duration_seconds{route,
// method}, registering both with reg. The route label is the chi route
// pattern ("/admin/api/apps/{id}"), never the raw path, and "unmatched"
// when no route matched; methods outside the standard set count as
// "OTHER". Both keep the label sets bounded whatever clients send.
//
// When reg already holds the collectors (a second API built on the same
// registry, as on a reload), they are shared. It must run inside the chi
// router (Router.Use) to see the route pattern.
func Metrics(reg prometheus.Registerer) (func(http.Handler) http.Handler, error) {
	return metricsWith(reg, nil)
}

// metricsWith is Metrics that also records each /v1 request into the
// dashboard recorder rec, when set (dashboard.go).
func metricsWith(reg prometheus.Registerer, rec *dashboard.Recorder) (func(http.Handler) http.Handler, error) {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "skybridge_http_requests_total",
		Help: "HTTP requests served, by route pattern, method and status.",
	}, []string{"route", "method", "status"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "skybridge_http_request_duration_seconds",
		Help:    "HTTP request latency, by route pattern and method.",
		Buckets: prometheus.DefBuckets,
	}, []string{"route", "method"})
	if err := register(reg, &requests); err != nil {
		return nil, err
	}
	if err := register(reg, &duration); err != nil {
		return nil, err
	}
	series := &httpSeries{requests: requests, duration: duration}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := requestStart(r)
			ww := observe(w)
			defer func() {
				status := ww.Status()
				if status == 0 {
					status = http.StatusOK
				}
				route, method, d := routeLabel(r), methodLabel(r.Method), time.Since(start)
				s := series.of(route, method, status)
				s.requests.Inc()
				s.duration.Observe(d.Seconds())
				if rec != nil {
					recordDashboard(rec, r, ww, method, route, status, start, d)
				}
			}()
			next.ServeHTTP(ww, r)
		})
	}, nil
}

// httpSeries keeps the counter and histogram of each route, method and
// status once looked up: the vectors' own lookup hashes and checks the
// label values and allocates on every call, while the set of series is
// small and bounded (route patterns, standard methods, statuses).
type httpSeries struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	known    sync.Map // seriesKey → *seriesPair
}

type seriesKey struct {
	route, method string
	status        int
}

type seriesPair struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// of returns the series of one route, method and status.
func (h *httpSeries) of(route, method string, status int) *seriesPair {
	k := seriesKey{route, method, status}
	if p, ok := h.known.Load(k); ok {
		return p.(*seriesPair)
	}
	p := &seriesPair{
		requests: h.requests.WithLabelValues(route, method, strconv.Itoa(status)),
		duration: h.duration.WithLabelValues(route, method),
	}
	got, _ := h.known.LoadOrStore(k, p)
	return got.(*seriesPair)
}

// register registers *c with reg, or swaps in the equal collector reg
// already has.
func register[C prometheus.Collector](reg prometheus.Registerer, c *C) error {
	err := reg.Register(*c)
	if are := (prometheus.AlreadyRegisteredError{}); errors.As(err, &are) {
		existing, ok := are.ExistingCollector.(C)
		if !ok {
			return fmt.Errorf("api: metrics: a different collector is registered under that name: %w", err)
		}
		*c = existing
		return nil
	}
	if err != nil {
		return fmt.Errorf("api: metrics: %w", err)
	}
	return nil
}

// methodLabel keeps the method label to the standard methods.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}
