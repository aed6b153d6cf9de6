package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCORS(t *testing.T) {
	t.Parallel()
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	tests := []struct {
		name       string
		origins    []string
		method     string
		origin     string
		preflight  bool
		status     int
		allowed    string // Access-Control-Allow-Origin
		vary       bool
		allowHeads bool
	}{
		{"preflight allowed", []string{"https://app.example.com"}, http.MethodOptions, "https://app.example.com", true, http.StatusNoContent, "https://app.example.com", true, true},
		{"preflight case-insensitive", []string{"https://App.Example.com"}, http.MethodOptions, "https://app.example.com", true, http.StatusNoContent, "https://app.example.com", true, true},
		{"preflight other origin", []string{"https://app.example.com"}, http.MethodOptions, "https://evil.example", true, http.StatusNoContent, "", true, false},
		{"preflight any", []string{"*"}, http.MethodOptions, "https://whoever.example", true, http.StatusNoContent, "*", true, true},
		{"simple allowed", []string{"https://app.example.com"}, http.MethodGet, "https://app.example.com", false, http.StatusTeapot, "https://app.example.com", true, false},
		{"simple other origin", []string{"https://app.example.com"}, http.MethodGet, "https://evil.example", false, http.StatusTeapot, "", true, false},
		{"no origin header", []string{"*"}, http.MethodGet, "", false, http.StatusTeapot, "", true, false},
		{"plain OPTIONS reaches the router", []string{"*"}, http.MethodOptions, "https://x.example", false, http.StatusTeapot, "*", true, false},
		{"disabled", nil, http.MethodOptions, "https://app.example.com", true, http.StatusTeapot, "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mw, err := CORS(tt.origins)
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest(tt.method, "/v1/x", nil)
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			if tt.preflight {
				req.Header.Set("Access-Control-Request-Method", "POST")
				req.Header.Set("Access-Control-Request-Headers", "x-skybridge-key, content-type")
			}
			rec := httptest.NewRecorder()
			mw(next).ServeHTTP(rec, req)
			h := rec.Header()
			if rec.Code != tt.status {
				t.Errorf("status %d, want %d", rec.Code, tt.status)
			}
			if got := h.Get("Access-Control-Allow-Origin"); got != tt.allowed {
				t.Errorf("Allow-Origin %q, want %q", got, tt.allowed)
			}
			if got := strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin"); got != tt.vary {
				t.Errorf("Vary: Origin present=%v, want %v", got, tt.vary)
			}
			allowHeaders := h.Get("Access-Control-Allow-Headers")
			if (allowHeaders != "") != tt.allowHeads {
				t.Fatalf("Allow-Headers %q, want present=%v", allowHeaders, tt.allowHeads)
			}
			if tt.allowHeads {
				for _, want := range []string{"X-Skybridge-Key", "X-Skybridge-Server-Key", "Authorization", "Content-Type", "If-Match", "If-None-Match", "Idempotency-Key", "X-App-Version", "X-Request-Id"} {
					if !strings.Contains(allowHeaders, want) {
						t.Errorf("Allow-Headers %q lacks %s", allowHeaders, want)
					}
				}
				if !strings.Contains(h.Get("Access-Control-Allow-Methods"), "PATCH") || h.Get("Access-Control-Max-Age") == "" {
					t.Errorf("preflight lacks methods or max age: %v", h)
				}
			}
			if h.Get("Access-Control-Allow-Credentials") != "" {
				t.Error("credentials must never be allowed")
			}
		})
	}
}

func TestCORSRefusesBadOrigins(t *testing.T) {
	t.Parallel()
	for _, o := range []string{"app.example.com", "ftp://x.example", "https://x.example/path", "https://", "https://x.example?q=1", "https://u:p@x.example"} {
		if _, err := CORS([]string{o}); err == nil {
			t.Errorf("CORS(%q) accepted a malformed origin", o)
		}
	}
	if _, err := CORS([]string{"http://localhost:3000", "https://x.example/"}); err != nil {
		t.Errorf("good origins refused: %v", err)
	}
}
