package api

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
)

func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	mw, err := Metrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	// A second middleware on the same registry (a reload) shares the
	// collectors instead of failing.
	mw2, err := Metrics(reg)
	if err != nil {
		t.Fatalf("second Metrics on one registry: %v", err)
	}
	r := chi.NewRouter()
	r.Use(mw)
	r.NotFound(markUnmatched(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404) })))
	r.MethodNotAllowed(markUnmatched(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(405) })))
	r.Get("/apps/{id}", func(w http.ResponseWriter, r *http.Request) {})
	sub := chi.NewRouter()
	sub.Get("/things/{thing}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) })
	r.Mount("/v1", sub)
	r2 := chi.NewRouter()
	r2.Use(mw2)
	r2.Get("/apps/{id}", func(w http.ResponseWriter, r *http.Request) {})

	for _, req := range []struct {
		h            http.Handler
		method, path string
	}{
		{r, "GET", "/apps/1"}, {r, "GET", "/apps/2"}, {r2, "GET", "/apps/3"},
		{r, "GET", "/v1/things/x"},
		{r, "GET", "/random/probe"}, {r, "GET", "/v1/nothing/here"},
		{r, "DELETE", "/apps/1"}, {r, "BREW", "/apps/1"},
	} {
		req.h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(req.method, req.path, nil))
	}
	tests := []struct {
		route, method, status string
		want                  float64
	}{
		{"/apps/{id}", "GET", "200", 3},
		{"/v1/things/{thing}", "GET", "201", 1},
		{unmatchedRoute, "GET", "404", 2},
		{unmatchedRoute, "DELETE", "405", 1},
		{unmatchedRoute, "OTHER", "405", 1},
	}
	for _, tt := range tests {
		if got := requestCount(t, reg, tt.route, tt.method, tt.status); got != tt.want {
			t.Errorf("requests{route=%q,method=%s,status=%s} = %v, want %v", tt.route, tt.method, tt.status, got, tt.want)
		}
	}
	if n := seriesCount(t, reg, "skybridge_http_requests_total"); n != len(tests) {
		t.Errorf("%d request series, want %d (raw paths must never become labels)", n, len(tests))
	}
	if n := seriesCount(t, reg, "skybridge_http_request_duration_seconds"); n != 5 {
		t.Errorf("%d duration series, want 5", n)
	}
}

// requestCount reads skybridge_http_requests_total{route,method,status}
// from reg; 0 when there is no such series.
func requestCount(t *testing.T, reg prometheus.Gatherer, route, method, status string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "skybridge_http_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["route"] == route && labels["method"] == method && labels["status"] == status {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// seriesCount counts the series of the metric family name in reg.
func seriesCount(t *testing.T, reg prometheus.Gatherer, name string) int {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return len(f.GetMetric())
		}
	}
	return 0
}
