package api

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-chi/chi/v5"
)

func TestPrefixRouter(t *testing.T) {
	t.Parallel()
	root := chi.NewRouter()
	p := prefixRouter{root, "/v1"}
	ok := func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(chi.RouteContext(r.Context()).RoutePattern()))
	}
	p.Get("/a/{id}", ok)
	p.Group(func(g chi.Router) {
		g.Use(func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Group", "1")
				next.ServeHTTP(w, r)
			})
		})
		g.With().Post("/b", ok)
	})
	p.Route("/c", func(r chi.Router) { r.Get("/", ok) })
	for _, tt := range []struct {
		method, path, pattern, group string
		status                       int
	}{
		{http.MethodGet, "/v1/a/7", "/v1/a/{id}", "", 200},
		{http.MethodPost, "/v1/b", "/v1/b", "1", 200},
		{http.MethodGet, "/v1/c/", "/v1/c", "", 200},
		{http.MethodGet, "/a/7", "", "", 404},
	} {
		rec := httptest.NewRecorder()
		root.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
		if rec.Code != tt.status || (tt.status == 200 && rec.Body.String() != tt.pattern) || rec.Header().Get("X-Group") != tt.group {
			t.Errorf("%s %s: %d %q group %q; want %d %q group %q", tt.method, tt.path, rec.Code, rec.Body, rec.Header().Get("X-Group"), tt.status, tt.pattern, tt.group)
		}
	}
	for name, f := range map[string]func(){
		"NotFound":         func() { p.NotFound(ok) },
		"MethodNotAllowed": func() { p.MethodNotAllowed(ok) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s on a prefixRouter should panic", name)
				}
			}()
			f()
		}()
	}
}
