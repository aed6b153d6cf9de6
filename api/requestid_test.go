package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRequestID(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 64)
	tests := []struct {
		name, sent string
		kept       bool
	}{
		{"plain", "abc-123_x.y", true},
		{"64 chars", long, true},
		{"65 chars", long + "b", false},
		{"empty", "", false},
		{"space", "abc 123", false},
		{"markup", "<script>", false},
		{"non-ascii", "äbc", false},
		{"newline", "a\nb", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var seen string
			h := RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = RequestIDFrom(r.Context())
			}))
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.sent != "" {
				req.Header[RequestIDHeader] = []string{tt.sent}
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			got := rec.Header().Get(RequestIDHeader)
			if got == "" || got != seen {
				t.Fatalf("echoed %q, context %q", got, seen)
			}
			if tt.kept != (got == tt.sent) {
				t.Errorf("sent %q, got %q; want kept=%v", tt.sent, got, tt.kept)
			}
			if !validRequestID(got) {
				t.Errorf("generated id %q is not itself valid", got)
			}
		})
	}
}

func TestRequestIDUnique(t *testing.T) {
	t.Parallel()
	h := RequestID(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	seen := map[string]bool{}
	for range 100 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		id := rec.Header().Get(RequestIDHeader)
		if seen[id] {
			t.Fatalf("request id %q handed out twice", id)
		}
		seen[id] = true
	}
	if RequestIDFrom(t.Context()) != "" {
		t.Error("RequestIDFrom outside a request should be empty")
	}
}
