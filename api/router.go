package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-chi/chi/v5"
)

// routeMethods are the methods the router knows, in the order an Allow
// header lists them.
var routeMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions,
}

// notFound answers requests no route matches.
func (a *API) notFound(w http.ResponseWriter, r *http.Request) {
	a.fail(w, r, fmt.Errorf("%w: %s", ErrRouteNotFound, r.URL.Path))
}

// methodNotAllowed answers requests whose path exists for other methods,
// listing those in Allow.
func (a *API) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	allowed := a.allowedMethods(r)
	if len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
	}
	a.fail(w, r, fmt.Errorf("%w: %s %s; allowed: %s", ErrMethodNotAllowed, r.Method, r.URL.Path, strings.Join(allowed, ", ")))
}

// allowedMethods lists the methods some route serves on r's path (HEAD
// wherever GET is, since GET routes answer it).
func (a *API) allowedMethods(r *http.Request) []string {
	path := r.URL.RawPath
	if path == "" {
		path = r.URL.Path
	}
	var out []string
	hasGet := false
	for _, m := range routeMethods {
		if m == http.MethodHead && hasGet {
			out = append(out, m)
			continue
		}
		if a.router.Match(chi.NewRouteContext(), m, path) {
			out = append(out, m)
			hasGet = hasGet || m == http.MethodGet
		}
	}
	return out
}

// pathParam returns the URL parameter name, percent-decoded.
func pathParam(r *http.Request, name string) string {
	v := chi.URLParam(r, name)
	if u, err := url.PathUnescape(v); err == nil {
		return u
	}
	return v
}
