package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestTimeout(t *testing.T) {
	t.Parallel()
	const d = 30 * time.Millisecond
	tests := []struct {
		name    string
		upgrade bool
		handler http.HandlerFunc
		status  int
		problem bool
	}{
		{"overrun without writing", false, func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		}, http.StatusGatewayTimeout, true},
		{"written before the deadline", false, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusAccepted)
			<-r.Context().Done()
		}, http.StatusAccepted, false},
		{"fast", false, func(w http.ResponseWriter, r *http.Request) {
			if _, ok := r.Context().Deadline(); !ok {
				t.Error("no deadline on the request context")
			}
			_, _ = io.WriteString(w, "ok")
		}, http.StatusOK, false},
		{"upgrade exempt", true, func(w http.ResponseWriter, r *http.Request) {
			if _, ok := r.Context().Deadline(); ok {
				w.WriteHeader(http.StatusTeapot)
			}
		}, http.StatusOK, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.upgrade {
				req.Header.Set("Connection", "keep-alive, Upgrade")
				req.Header.Set("Upgrade", "websocket")
			}
			RequestID(Timeout(d)(tt.handler)).ServeHTTP(rec, req)
			if tt.problem {
				checkProblem(t, rec.Result(), tt.status)
				return
			}
			if rec.Code != tt.status {
				t.Errorf("status %d, want %d", rec.Code, tt.status)
			}
		})
	}
}

func TestTimeoutNeedsDuration(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("Timeout(0) should panic at build time")
		}
	}()
	Timeout(0)
}
