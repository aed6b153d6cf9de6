package api

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRecoverer(t *testing.T) {
	t.Parallel()
	log, buf := newTestLogger()
	mux := http.NewServeMux()
	mux.HandleFunc("/panic", func(http.ResponseWriter, *http.Request) { panic("kaboom") })
	mux.HandleFunc("/panic-error", func(http.ResponseWriter, *http.Request) { panic(errors.New("bad state")) })
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "fine") })
	srv := httptest.NewServer(RequestID(Recoverer(log)(mux)))
	t.Cleanup(srv.Close)

	for _, path := range []string{"/panic", "/panic-error"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		p := checkProblem(t, resp, http.StatusInternalServerError)
		if p.Detail != "" {
			t.Errorf("a 500 must not explain the panic to the client: %q", p.Detail)
		}
		// The server keeps serving.
		resp, err = http.Get(srv.URL + "/ok")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "fine" {
			t.Fatalf("after a panic: %d %q", resp.StatusCode, body)
		}
	}
	recs := buf.records(t, "handler panic")
	if len(recs) != 2 {
		t.Fatalf("want 2 panic log lines, got %s", buf)
	}
	if recs[0]["level"] != "ERROR" || recs[0]["panic"] != "kaboom" || !strings.Contains(recs[0]["stack"].(string), "recoverer_test.go") || recs[0]["requestId"] == "" {
		t.Errorf("panic log line lacks level, value, stack or request id: %v", recs[0])
	}
}

func TestRecovererRepanics(t *testing.T) {
	t.Parallel()
	log, _ := newTestLogger()
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"ErrAbortHandler", func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }},
		{"after the status was sent", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, "half a resp")
			panic("too late")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				if rv := recover(); rv != http.ErrAbortHandler {
					t.Errorf("recovered %v, want http.ErrAbortHandler", rv)
				}
			}()
			Recoverer(log)(tt.handler).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
		})
	}
}
