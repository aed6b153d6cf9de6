package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// corsAllowedHeaders are the request headers a browser app may send.
var corsAllowedHeaders = strings.Join([]string{
	"Authorization", "Content-Type", "X-Skybridge-Key", "X-Skybridge-Server-Key",
	"If-Match", "If-None-Match", "Idempotency-Key", "X-App-Version", RequestIDHeader,
}, ", ")

// corsExposedHeaders are the response headers a browser app may read.
var corsExposedHeaders = strings.Join([]string{
	RequestIDHeader, "ETag", "Location", "Retry-After", "Deprecation", "Sunset", "WWW-Authenticate",
}, ", ")

const (
	corsAllowedMethods = "GET, HEAD, POST, PUT, PATCH, DELETE"
	// corsMaxAge is how long (seconds) a browser may cache a preflight.
	corsMaxAge = "600"
)

// CORS lets browser apps on the given origins call the API. Each origin is
// "scheme://host[:port]"; "*" allows any origin. With no origins it adds no
// headers at all (browsers then refuse cross-origin calls). Preflight
// requests (OPTIONS with Access-Control-Request-Method) from an allowed
// origin are answered here with 204; from any other origin with a bare 204
// the browser will refuse. Credentials (cookies) are never allowed: the API
// authenticates with headers.
func CORS(origins []string) (func(http.Handler) http.Handler, error) {
	allowed := make(map[string]bool, len(origins))
	anyOrigin := false
	for _, o := range origins {
		if o == "*" {
			anyOrigin = true
			continue
		}
		norm, err := normalizeOrigin(o)
		if err != nil {
			return nil, err
		}
		allowed[norm] = true
	}
	if !anyOrigin && len(allowed) == 0 {
		return func(next http.Handler) http.Handler { return next }, nil
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Add("Vary", "Origin")
			origin := r.Header.Get("Origin")
			preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
			if origin == "" {
				next.ServeHTTP(w, r)
				return
			}
			ok := anyOrigin || allowed[strings.ToLower(origin)]
			if preflight {
				h.Add("Vary", "Access-Control-Request-Method")
				h.Add("Vary", "Access-Control-Request-Headers")
				if ok {
					h.Set("Access-Control-Allow-Origin", allowOrigin(anyOrigin, origin))
					h.Set("Access-Control-Allow-Methods", corsAllowedMethods)
					h.Set("Access-Control-Allow-Headers", corsAllowedHeaders)
					h.Set("Access-Control-Max-Age", corsMaxAge)
				}
				w.WriteHeader(http.StatusNoContent)
				return
			}
			if ok {
				h.Set("Access-Control-Allow-Origin", allowOrigin(anyOrigin, origin))
				h.Set("Access-Control-Expose-Headers", corsExposedHeaders)
			}
			next.ServeHTTP(w, r)
		})
	}, nil
}

func allowOrigin(anyOrigin bool, origin string) string {
	if anyOrigin {
		return "*"
	}
	return origin
}

// normalizeOrigin checks a configured origin and lower-cases it, as
// browsers send it.
func normalizeOrigin(o string) (string, error) {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("api: CORS origin %q: want scheme://host[:port] or *", o)
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}
