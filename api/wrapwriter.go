package api

import (
	"bufio"
	"errors"
	"net"
	"net/http"
)

// observedWriter is a response writer that says which status it sent and
// how many body bytes: what the access log, metrics, audit, recoverer and
// timeout middleware all need once the handler is done.
type observedWriter interface {
	http.ResponseWriter
	// Status is the status sent, 0 before any.
	Status() int
	// BytesWritten counts the body bytes written through the writer.
	BytesWritten() int
}

// responseWriter is the one observedWriter of a request. RequestID keeps
// it in the request's state, so wrapping a request's writer costs no
// allocation of its own; observe hands the same one to every middleware
// that asks.
type responseWriter struct {
	http.ResponseWriter
	status      int
	bytes       int
	wroteHeader bool
}

var (
	_ observedWriter = (*responseWriter)(nil)
	_ http.Flusher   = (*responseWriter)(nil)
	_ http.Hijacker  = (*responseWriter)(nil)
)

// observe returns a writer that records the status and size of the
// response: w itself when an outer middleware already wrapped it (the
// access log, metrics and audit all need the same two numbers), else a
// new wrapper.
func observe(w http.ResponseWriter) observedWriter {
	if rw, ok := w.(observedWriter); ok {
		return rw
	}
	return &responseWriter{ResponseWriter: w}
}

// WriteHeader records the first final status. Informational statuses
// (1xx but 101) pass through unrecorded, as net/http lets a handler send
// several of them before the final one.
func (w *responseWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	if w.wroteHeader {
		return
	}
	w.status, w.wroteHeader = code, true
	w.ResponseWriter.WriteHeader(code)
}

// Write sends body bytes, with an implicit 200 first.
func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += n
	return n, err
}

// Status is the status sent, 0 before any.
func (w *responseWriter) Status() int { return w.status }

// BytesWritten counts the body bytes written.
func (w *responseWriter) BytesWritten() int { return w.bytes }

// Flush sends what is buffered, with an implicit 200 first.
func (w *responseWriter) Flush() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack lets WebSocket upgrades through.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("api: the response writer cannot be hijacked")
	}
	return h.Hijack()
}

// Unwrap serves http.ResponseController.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
