package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/skybridgehq/skybridge/objectstore"
)

// Headers of idempotent requests.
const (
	// IdempotencyKeyHeader lets a client retry a POST safely: the same key
	// with the same body within 24 h gets the first answer again.
	IdempotencyKeyHeader = "Idempotency-Key"
	// IdempotentReplayedHeader marks an answer replayed for an
	// Idempotency-Key.
	IdempotentReplayedHeader = "Idempotent-Replayed"
)

// replayedHeaders are the response headers stored with an idempotent
// answer and replayed with it.
var replayedHeaders = []string{"Content-Type", "Location", "ETag", "Cache-Control", "WWW-Authenticate", "X-Content-Type-Options"}

// idempotent wraps a POST handler with the Idempotency-Key protocol
// (draft-ietf-httpapi-idempotency-key-header): the first request with a
// key runs and its answer is stored, unless it is a server error (5xx),
// which releases the key so that a retry runs again; a later request with
// the same key and body gets the stored answer (status, body, Location,
// ETag) with Idempotent-Replayed: true; the same key with another body is
// a 422, and while the first request runs a 409. Keys are scoped to the
// app environment and the caller (idempotencyScope), so that one caller's
// key never answers another's request.
func (a *API) idempotent(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		keys := r.Header.Values(IdempotencyKeyHeader)
		if len(keys) == 0 {
			next(w, r)
			return
		}
		if len(keys) > 1 {
			a.fail(w, r, onField(IdempotencyKeyHeader, fmt.Errorf("%w: send one %s header", ErrInvalidInput, IdempotencyKeyHeader)))
			return
		}
		key := keys[0]
		c, err := a.objectCallFrom(r)
		if err != nil {
			a.objectFail(w, r, err)
			return
		}
		body, err := readBody(r)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		hash := objectstore.RequestHash(r.Method, r.URL.Path, body)
		scope := idempotencyScope(c.p)
		prev, err := a.deps.Objects.BeginIdempotent(r.Context(), c.env, scope, key, hash)
		if err != nil {
			a.objectFail(w, r, err)
			return
		}
		if prev != nil {
			replay(w, prev)
			return
		}
		// The outcome is stored even when the client has gone away, and
		// the key released if the handler panics.
		bg := context.WithoutCancel(r.Context())
		rec := &recordingWriter{ResponseWriter: w}
		done := false
		defer func() {
			if done {
				return
			}
			if err := a.deps.Objects.AbandonIdempotent(bg, c.env, scope, key); err != nil {
				a.log.ErrorContext(bg, "release idempotency key", "error", err, "requestId", RequestIDFrom(bg))
			}
		}()
		next(rec, r)
		if rec.status == 0 || rec.status >= 500 {
			return // the deferred release
		}
		done = true
		resp := objectstore.IdempotentResponse{Status: rec.status, Body: rec.body.Bytes()}
		for _, h := range replayedHeaders {
			if v := rec.Header().Get(h); v != "" {
				resp.Header = append(resp.Header, [2]string{h, v})
			}
		}
		if err := a.deps.Objects.CompleteIdempotent(bg, c.env, scope, key, hash, resp); err != nil {
			// The answer is out; a retry gets a 409 until the key's lease
			// lapses, then runs again.
			a.log.ErrorContext(bg, "store idempotent answer", "error", err, "requestId", RequestIDFrom(bg))
		}
	}
}

// idempotencyScope names the caller an Idempotency-Key belongs to within
// an environment: the user, the server key (with the user it acts for, if
// any), or anonymous callers.
func idempotencyScope(p objectstore.Principal) string {
	switch {
	case p.Server && p.UserID != "":
		return "server+user:" + p.UserID
	case p.Server:
		return "server"
	case p.UserID != "":
		return "user:" + p.UserID
	}
	return "anon"
}

// replay sends a stored idempotent answer.
func replay(w http.ResponseWriter, resp *objectstore.IdempotentResponse) {
	h := w.Header()
	for _, kv := range resp.Header {
		h.Set(kv[0], kv[1])
	}
	h.Set(IdempotentReplayedHeader, "true")
	w.WriteHeader(resp.Status)
	_, _ = w.Write(resp.Body)
}

// recordingWriter passes a response through and keeps its status and
// body.
type recordingWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (w *recordingWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *recordingWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.body.Write(b)
	return w.ResponseWriter.Write(b)
}

// Unwrap gives http.ResponseController the underlying writer.
func (w *recordingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
