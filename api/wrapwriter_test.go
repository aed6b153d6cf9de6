package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestResponseWriterRecords(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		write  func(w http.ResponseWriter)
		status int
		bytes  int
	}{
		{"nothing", func(http.ResponseWriter) {}, 0, 0},
		{"implicit 200", func(w http.ResponseWriter) { _, _ = io.WriteString(w, "hello") }, 200, 5},
		{"first status wins", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusCreated)
			w.WriteHeader(http.StatusTeapot)
			_, _ = io.WriteString(w, "ab")
		}, 201, 2},
		{"informational passes", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusAccepted)
		}, 202, 0},
		{"flush sends 200", func(w http.ResponseWriter) { w.(http.Flusher).Flush() }, 200, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			w := observe(rec)
			tt.write(w)
			if w.Status() != tt.status || w.BytesWritten() != tt.bytes {
				t.Errorf("status %d, bytes %d; want %d, %d", w.Status(), w.BytesWritten(), tt.status, tt.bytes)
			}
			// (httptest's recorder keeps a 1xx as its code, net/http does not.)
			if tt.status != 0 && tt.name != "informational passes" && rec.Code != tt.status {
				t.Errorf("sent %d, want %d", rec.Code, tt.status)
			}
			if observe(w) != w {
				t.Error("observe wrapped a recording writer again")
			}
		})
	}
}

func TestResponseWriterHijack(t *testing.T) {
	t.Parallel()
	w := observe(httptest.NewRecorder())
	if _, _, err := w.(http.Hijacker).Hijack(); err == nil {
		t.Error("a recorder was hijacked")
	}
	if http.NewResponseController(w).Flush() != nil {
		t.Error("ResponseController cannot flush through the writer")
	}
}
