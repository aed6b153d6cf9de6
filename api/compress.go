package api

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// compressLevel trades CPU for size; 5 is the usual middle ground for
// gzip on JSON.
const compressLevel = 5

// compressMinSize is the smallest body worth compressing: below it the
// gzip header, trailer and the CPU of setting up a compressor cost more
// than they save, and most API answers are that small.
const compressMinSize = 1024

// compressibleTypes are the response media types worth compressing. The
// Prometheus handler compresses /metrics itself; a response that already
// has a Content-Encoding is left alone.
var compressibleTypes = map[string]bool{
	"application/json":     true,
	ProblemContentType:     true,
	"application/x-ndjson": true,
	"text/plain":           true,
	"text/html":            true,
}

// varyAcceptEncoding is the Vary value of a compressible answer, shared
// by all (capacity 1: an Add copies it rather than writing into it).
var varyAcceptEncoding = []string{"Accept-Encoding"}[:1:1]

var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, compressLevel)
	return w
}}

// Compress gzips JSON and text responses of at least compressMinSize
// bytes for clients that accept gzip. It holds back the first
// compressMinSize bytes to decide, so small answers go out as they are
// and cost nothing; a Flush decides at once.
func Compress() func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodHead || !acceptsGzip(r.Header.Get("Accept-Encoding")) {
				next.ServeHTTP(w, r)
				return
			}
			cw := compressWriters.Get().(*compressWriter)
			cw.ResponseWriter = w
			defer func() {
				cw.close()
				cw.release()
			}()
			next.ServeHTTP(cw, r)
		})
	}
}

// acceptsGzip reports whether an Accept-Encoding value admits gzip (or
// "*") with a non-zero quality.
func acceptsGzip(h string) bool {
	for part := range strings.SplitSeq(h, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		name = strings.ToLower(strings.TrimSpace(name))
		if name != "gzip" && name != "*" {
			continue
		}
		if q, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q="); ok {
			if v, err := strconv.ParseFloat(q, 64); err == nil && v == 0 {
				continue
			}
		}
		return true
	}
	return false
}

// compressWriters are reused: a writer (with the buffer it grew) is
// worth keeping, as every request that accepts gzip needs one.
var compressWriters = sync.Pool{New: func() any { return new(compressWriter) }}

// compressWriter buffers the start of a body until it knows whether to
// compress it.
type compressWriter struct {
	http.ResponseWriter
	status  int
	buf     []byte
	decided bool
	gz      *gzip.Writer // set once decided to compress
}

// Status is the status the handler sent, 0 before any: compressWriter is
// a statusWriter, so Timeout need not wrap it again.
func (cw *compressWriter) Status() int { return cw.status }

func (cw *compressWriter) WriteHeader(code int) {
	if cw.status != 0 || cw.decided {
		return
	}
	if code >= 100 && code < 200 { // informational: pass through
		cw.ResponseWriter.WriteHeader(code)
		return
	}
	cw.status = code
}

func (cw *compressWriter) Write(p []byte) (int, error) {
	if cw.status == 0 {
		cw.status = http.StatusOK
	}
	if cw.decided {
		if cw.gz != nil {
			return cw.gz.Write(p)
		}
		return cw.ResponseWriter.Write(p)
	}
	cw.buf = append(cw.buf, p...)
	if len(cw.buf) >= compressMinSize {
		if err := cw.decide(true); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// decide sends the header and the held-back bytes, compressing when the
// body may be large (big) and is of a compressible type.
func (cw *compressWriter) decide(big bool) error {
	cw.decided = true
	h := cw.Header()
	if cw.status == 0 {
		cw.status = http.StatusOK
	}
	mt, _, _ := strings.Cut(h.Get("Content-Type"), ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	compressible := compressibleTypes[mt] && h.Get("Content-Encoding") == "" &&
		cw.status != http.StatusNoContent && cw.status != http.StatusNotModified
	if compressible {
		if _, ok := h["Vary"]; ok {
			h.Add("Vary", "Accept-Encoding")
		} else {
			h["Vary"] = varyAcceptEncoding
		}
	}
	if compressible && big {
		h.Set("Content-Encoding", "gzip")
		h.Del("Content-Length")
		cw.gz = gzipWriters.Get().(*gzip.Writer)
		cw.gz.Reset(cw.ResponseWriter)
	}
	cw.ResponseWriter.WriteHeader(cw.status)
	buf := cw.buf
	cw.buf = buf[:0]
	if len(buf) == 0 {
		return nil
	}
	var err error
	if cw.gz != nil {
		_, err = cw.gz.Write(buf)
	} else {
		_, err = cw.ResponseWriter.Write(buf)
	}
	return err
}

// Flush sends what is buffered; a body flushed before it reached
// compressMinSize is streamed compressed, as streams tend to grow.
func (cw *compressWriter) Flush() {
	if !cw.decided {
		_ = cw.decide(true)
	}
	if cw.gz != nil {
		_ = cw.gz.Flush()
	}
	if f, ok := cw.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack lets WebSocket upgrades through.
func (cw *compressWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := cw.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, fmt.Errorf("api: the response writer cannot be hijacked")
	}
	cw.decided = true
	return h.Hijack()
}

// Unwrap serves http.ResponseController.
func (cw *compressWriter) Unwrap() http.ResponseWriter { return cw.ResponseWriter }

// release clears cw, keeping its buffer, and returns it to
// compressWriters. The handler is done with it: a writer must not be used
// after ServeHTTP returns.
func (cw *compressWriter) release() {
	buf := cw.buf[:0]
	if cap(buf) > 4*compressMinSize {
		buf = nil
	}
	*cw = compressWriter{buf: buf}
	compressWriters.Put(cw)
}

// close ends the response: a small body goes out uncompressed, a
// compressed one gets its trailer.
func (cw *compressWriter) close() {
	if !cw.decided {
		if cw.status == 0 {
			return // the handler wrote nothing: the server answers 200
		}
		_ = cw.decide(false)
	}
	if cw.gz != nil {
		_ = cw.gz.Close()
		cw.gz.Reset(nil)
		gzipWriters.Put(cw.gz)
		cw.gz = nil
	}
}
