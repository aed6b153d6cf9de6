package api

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-chi/chi/v5"
)

func TestMethodNotAllowed(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	tok := e.login()
	tests := []struct {
		method, path, allow string
	}{
		{"PUT", "/healthz", "GET, HEAD"},
		{"DELETE", "/admin/api/apps", "GET, HEAD, POST"},
		{"GET", "/admin/api/login", "POST"},
		{"PATCH", "/admin/api/apps/some-id", "GET, HEAD"},
		{"POST", "/v1/openapi.json", "GET, HEAD"},
		{"BREW", "/readyz", "GET, HEAD"},
	}
	for _, tt := range tests {
		resp := e.do(request{method: tt.method, path: tt.path, headers: bearer(tok)})
		allow := resp.Header.Get("Allow")
		checkProblem(t, resp, http.StatusMethodNotAllowed)
		if allow != tt.allow {
			t.Errorf("%s %s: Allow %q, want %q", tt.method, tt.path, allow, tt.allow)
		}
	}
}

func TestPathParamDecodes(t *testing.T) {
	t.Parallel()
	r := chi.NewRouter()
	var got string
	r.Get("/apps/{id}", func(w http.ResponseWriter, r *http.Request) { got = pathParam(r, "id") })
	for raw, want := range map[string]string{"/apps/plain": "plain", "/apps/a%2Fb": "a/b", "/apps/sp%20ace": "sp ace"} {
		got = ""
		r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, raw, nil))
		if got != want {
			t.Errorf("%s: id %q, want %q", raw, got, want)
		}
	}
}
