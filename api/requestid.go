package api

import (
	"context"
	"crypto/rand"
	"net/http"
)

// RequestIDHeader carries the request id, both ways.
const RequestIDHeader = "X-Request-Id"

// maxRequestIDLen bounds a client-chosen request id.
const maxRequestIDLen = 64

// RequestID gives every request an id: the client's X-Request-Id when it
// is sane (1 to 64 characters of A-Z, a-z, 0-9, '.', '_', '-'), else a new
// random one. The id goes into the request context (RequestIDFrom), into
// every problem's instance and back to the client in X-Request-Id on every
// response.
func RequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !validRequestID(id) {
			id = rand.Text()
		}
		w.Header().Set(RequestIDHeader, id)
		ctx := context.WithValue(r.Context(), requestKey{}, &requestState{id: id})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// validRequestID reports whether a client-sent id may be kept: it ends up
// in logs and headers, so only a short, plain token is.
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
