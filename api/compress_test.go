package api

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCompress(t *testing.T) {
	t.Parallel()
	payload := map[string]any{"items": strings.Repeat("skybridge ", 200)}
	h := RequestID(Compress()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/json":
			_ = writeJSON(w, http.StatusOK, payload)
		case "/problem":
			writeProblem(w, r, problemFor(ErrRouteNotFound))
		case "/binary":
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write([]byte(strings.Repeat("p", 500)))
		}
	})))
	tests := []struct {
		path, accept string
		gzipped      bool
	}{
		{"/json", "gzip, deflate", true},
		{"/json", "", false},
		{"/problem", "gzip", true},
		{"/binary", "gzip", false},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, tt.path, nil)
		if tt.accept != "" {
			req.Header.Set("Accept-Encoding", tt.accept)
		}
		h.ServeHTTP(rec, req)
		gz := rec.Header().Get("Content-Encoding") == "gzip"
		if gz != tt.gzipped {
			t.Errorf("%s with Accept-Encoding %q: gzipped=%v, want %v", tt.path, tt.accept, gz, tt.gzipped)
			continue
		}
		body := rec.Body.Bytes()
		if gz {
			zr, err := gzip.NewReader(rec.Body)
			if err != nil {
				t.Fatalf("%s: %v", tt.path, err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatalf("%s: %v", tt.path, err)
			}
			if !strings.Contains(rec.Header().Get("Vary"), "Accept-Encoding") {
				t.Errorf("%s: no Vary: Accept-Encoding", tt.path)
			}
		}
		if tt.path == "/json" && !strings.Contains(string(body), "skybridge skybridge") {
			t.Errorf("%s: body %q", tt.path, body)
		}
	}
}
