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
		case "/small":
			_ = writeJSON(w, http.StatusOK, map[string]any{"ok": true})
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/stream":
			w.Header().Set("Content-Type", "application/x-ndjson")
			_, _ = w.Write([]byte("{}\n"))
			http.NewResponseController(w).Flush()
			_, _ = w.Write([]byte("{}\n"))
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
		{"/json", "gzip;q=0", false},
		{"/json", "br, *", true},
		{"/problem", "gzip", false}, // small: not worth it
		{"/small", "gzip", false},
		{"/empty", "gzip", false},
		{"/stream", "gzip", true}, // flushed early: streamed compressed
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
		if want := map[string]int{"/empty": 204}[tt.path]; want != 0 && rec.Code != want {
			t.Errorf("%s: status %d, want %d", tt.path, rec.Code, want)
		}
		if tt.path == "/small" && string(body) != `{"ok":true}`+"\n" {
			t.Errorf("/small: body %q", body)
		}
		if tt.path == "/stream" && string(body) != "{}\n{}\n" {
			t.Errorf("/stream: body %q", body)
		}
		if tt.path == "/json" && !strings.Contains(string(body), "skybridge skybridge") {
			t.Errorf("%s: body %q", tt.path, body)
		}
	}
}

// FuzzAcceptsGzip: any Accept-Encoding value is parsed without panicking,
// and an explicit gzip;q=0 is never taken as acceptance.
func FuzzAcceptsGzip(f *testing.F) {
	for _, s := range []string{"", "gzip", "gzip;q=0", "br;q=1.0, gzip;q=0.5", "*", "GZIP ; q=0.001", ";;,,", "gzip;q=abc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		if acceptsGzip(h) && !strings.Contains(strings.ToLower(h), "gzip") && !strings.Contains(h, "*") {
			t.Fatalf("%q accepted without gzip or *", h)
		}
		if strings.TrimSpace(h) == "gzip;q=0" && acceptsGzip(h) {
			t.Fatalf("%q accepted", h)
		}
	})
}
