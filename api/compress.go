package api

import (
	"net/http"

	"github.com/go-chi/chi/v5/middleware"
)

// compressLevel trades CPU for size; 5 is the usual middle ground for
// gzip on JSON.
const compressLevel = 5

// compressibleTypes are the response media types worth compressing. The
// Prometheus handler compresses /metrics itself; chi's Compress leaves a
// response that already has a Content-Encoding alone.
var compressibleTypes = []string{
	"application/json",
	ProblemContentType,
	"text/plain",
	"text/html",
}

// Compress gzips (or deflates) JSON and text responses for clients that
// accept it, using chi's Compress middleware.
func Compress() func(http.Handler) http.Handler {
	return middleware.Compress(compressLevel, compressibleTypes...)
}
