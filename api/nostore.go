package api

import "net/http"

// NoStore marks every response "Cache-Control: no-store", for routes whose
// answers carry secrets (tokens, server keys) or per-admin data that no
// cache, shared or private, may keep. Unlike chi's NoCache it leaves the
// request's conditional headers (If-Match ...) alone.
func NoStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}
