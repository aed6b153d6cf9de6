package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	const limit = 1024
	var reached atomic.Int32
	h := RequestID(BodyLimit(limit)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		var v map[string]any
		if err := decodeJSON(r, &v); err != nil {
			writeProblem(w, r, problemFor(err))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	body := func(n int) string { return `{"a":"` + strings.Repeat("x", n-8) + `"}` }
	tests := []struct {
		name    string
		body    string
		chunked bool
		status  int
		reached bool
	}{
		{"under the limit", body(limit), false, http.StatusNoContent, true},
		{"declared too large", body(limit + 1), false, http.StatusRequestEntityTooLarge, false},
		{"chunked too large", body(limit * 4), true, http.StatusRequestEntityTooLarge, true},
		{"chunked under the limit", body(100), true, http.StatusNoContent, true},
	}
	for _, tt := range tests {
		reached.Store(0)
		var rd io.Reader = strings.NewReader(tt.body)
		if tt.chunked {
			rd = io.MultiReader(rd) // hides the length: sent chunked
		}
		req, _ := http.NewRequest(http.MethodPost, srv.URL, rd)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if tt.status >= 400 {
			checkProblem(t, resp, tt.status)
		} else {
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("%s: status %d, want %d", tt.name, resp.StatusCode, tt.status)
			}
		}
		if (reached.Load() > 0) != tt.reached {
			t.Errorf("%s: handler reached=%v, want %v", tt.name, reached.Load() > 0, tt.reached)
		}
	}
}
