package api

import (
	"fmt"
	"net/http"
)

// BodyLimit refuses request bodies larger than max bytes with a 413
// problem+json: at once when Content-Length says so, and otherwise when a
// handler reads past the limit (through http.MaxBytesReader, whose error
// problemFor maps to the same 413).
func BodyLimit(max int64) func(http.Handler) http.Handler {
	if max <= 0 {
		panic("api: BodyLimit needs a positive size")
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > max {
				writeProblem(w, r, problemFor(fmt.Errorf("%w: %d bytes sent, the limit is %d", ErrBodyTooLarge, r.ContentLength, max)))
				return
			}
			if r.Body != nil && r.Body != http.NoBody {
				r.Body = http.MaxBytesReader(w, r.Body, max)
			}
			next.ServeHTTP(w, r)
		})
	}
}
