package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
)

func TestAccessLog(t *testing.T) {
	t.Parallel()
	log, buf := newTestLogger()
	r := chi.NewRouter()
	r.Use(RequestID, AccessLog(log))
	r.NotFound(markUnmatched(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, problemFor(ErrRouteNotFound))
	})))
	r.Get("/apps/{id}", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("hello"))
	})
	r.Get("/boom", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	})
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)

	const secret = "sk_live_DO_NOT_LOG"
	tests := []struct {
		path, route string
		status      int
		bytes       float64
		level       string
	}{
		{"/apps/42?code=" + secret, "/apps/{id}", 200, 5, "INFO"},
		{"/nowhere/" + "x", unmatchedRoute, 404, -1, "INFO"},
		{"/boom", "/boom", 502, 0, "WARN"},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+tt.path, nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("X-Skybridge-Key", secret)
		req.Header.Set("X-Skybridge-Server-Key", secret)
		req.Header.Set(RequestIDHeader, "log-test-"+tt.route[1:2])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	recs := buf.records(t, "http request")
	if len(recs) != len(tests) {
		t.Fatalf("got %d access log lines, want %d: %s", len(recs), len(tests), buf)
	}
	for i, tt := range tests {
		rec := recs[i]
		if rec["method"] != "GET" || rec["route"] != tt.route || rec["status"] != float64(tt.status) || rec["level"] != tt.level {
			t.Errorf("line %d = %v, want route %s status %d level %s", i, rec, tt.route, tt.status, tt.level)
		}
		if tt.bytes >= 0 && rec["bytes"] != tt.bytes {
			t.Errorf("line %d bytes = %v, want %v", i, rec["bytes"], tt.bytes)
		}
		if rec["requestId"] != "log-test-"+tt.route[1:2] || rec["remote"] == "" || rec["duration"] == nil {
			t.Errorf("line %d lacks request id, remote or duration: %v", i, rec)
		}
		if strings.Contains(rec["path"].(string), "?") {
			t.Errorf("line %d logs the query string: %v", i, rec["path"])
		}
	}
	if strings.Contains(buf.String(), secret) {
		t.Errorf("the access log leaks a key, token or query: %s", buf)
	}
}

func TestAccessLogNeedsLogger(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("AccessLog(nil) should panic at build time")
		}
	}()
	AccessLog(nil)
}
