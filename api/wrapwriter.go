package api

import (
	"net/http"

	"github.com/go-chi/chi/v5/middleware"
)

// observe returns a writer that records the status and size of the
// response: w itself when an outer middleware already wrapped it (the
// access log, metrics and audit all need the same two numbers, and each
// wrapper is an allocation on every request), else a new wrapper.
func observe(w http.ResponseWriter, r *http.Request) middleware.WrapResponseWriter {
	if ww, ok := w.(middleware.WrapResponseWriter); ok {
		return ww
	}
	return middleware.NewWrapResponseWriter(w, r.ProtoMajor)
}
