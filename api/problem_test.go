package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/store"
)

func TestProblemFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		err       error
		status    int
		slug      string
		field     string
		hasDetail bool
	}{
		{"auth not found", fmt.Errorf("get app: %w", auth.ErrNotFound), 404, "not-found", "", true},
		{"bad credentials", auth.ErrBadCredentials, 401, "bad-credentials", "", true},
		{"unauthorized", auth.ErrUnauthorized, 401, "unauthenticated", "", true},
		{"exists", auth.ErrExists, 409, "exists", "", true},
		{"invalid on field", onField("name", fmt.Errorf("%w: too long", auth.ErrInvalid)), 400, "invalid-input", "name", true},
		{"weak password", onField("password", auth.ErrWeakPassword), 400, "weak-password", "password", true},
		{"store invalid", fmt.Errorf("x: %w", store.ErrInvalid), 400, "invalid-input", "", true},
		{"store duplicate", store.ErrDuplicate, 409, "duplicate", "", true},
		{"store version", store.ErrVersionConflict, 412, "version-conflict", "", true},
		{"store not found", store.ErrNotFound, 404, "not-found", "", true},
		{"store closed", store.ErrClosed, 503, "unavailable", "", false},
		{"malformed", ErrMalformedBody, 400, "malformed-body", "", true},
		{"media type", ErrUnsupportedMediaType, 415, "unsupported-media-type", "", true},
		{"too large", ErrBodyTooLarge, 413, "body-too-large", "", true},
		{"max bytes", &http.MaxBytesError{Limit: 10}, 413, "body-too-large", "", true},
		{"unauthenticated", ErrUnauthenticated, 401, "unauthenticated", "", true},
		{"route", ErrRouteNotFound, 404, "route-not-found", "", true},
		{"method", ErrMethodNotAllowed, 405, "method-not-allowed", "", true},
		{"rate", ErrTooManyRequests, 429, "too-many-requests", "", true},
		{"timeout", ErrTimeout, 504, "timeout", "", false},
		{"deadline", context.DeadlineExceeded, 504, "timeout", "", false},
		{"canceled", context.Canceled, 503, "canceled", "", false},
		{"unknown", errors.New("disk on fire at /var/secret"), 500, "internal", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := problemFor(tt.err)
			if p.Status != tt.status || p.Type != problemTypePrefix+tt.slug || p.Title == "" {
				t.Fatalf("problemFor(%v) = %+v, want status %d type %s", tt.err, p, tt.status, tt.slug)
			}
			if (p.Detail != "") != tt.hasDetail {
				t.Errorf("detail %q, want present=%v", p.Detail, tt.hasDetail)
			}
			if tt.field == "" && len(p.Errors) != 0 || tt.field != "" && (len(p.Errors) != 1 || p.Errors[0].Field != tt.field) {
				t.Errorf("errors %+v, want field %q", p.Errors, tt.field)
			}
		})
	}
}

func TestWriteProblem(t *testing.T) {
	t.Parallel()
	h := RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"3"`)
		writeProblem(w, r, problemFor(onField("email", fmt.Errorf("%w: not an address", auth.ErrInvalid))))
	}))
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/x", nil)
	req.Header.Set(RequestIDHeader, "req-1")
	h.ServeHTTP(rec, req)
	p := checkProblem(t, rec.Result(), http.StatusBadRequest)
	if p.Instance != "req-1" || len(p.Errors) != 1 || p.Errors[0].Field != "email" {
		t.Errorf("problem %+v", p)
	}
	if rec.Header().Get("ETag") != "" {
		t.Error("a problem must not carry the handler's ETag")
	}
}

// checkProblem asserts that resp is an RFC 9457 problem with the given
// status (any 4xx/5xx when status is 0) whose instance is the response's
// request id, and returns it. It consumes the body.
func checkProblem(t *testing.T, resp *http.Response, status int) Problem {
	t.Helper()
	p, err := readProblem(resp, status)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// readProblem is checkProblem without the test: it says what is wrong.
func readProblem(resp *http.Response, status int) (Problem, error) {
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return Problem{}, fmt.Errorf("read body: %w", err)
	}
	if status != 0 && resp.StatusCode != status || resp.StatusCode < 400 {
		return Problem{}, fmt.Errorf("status %d, want %d; body %s", resp.StatusCode, status, body)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != ProblemContentType {
		return Problem{}, fmt.Errorf("status %d: Content-Type %q, want %s; body %s", resp.StatusCode, resp.Header.Get("Content-Type"), ProblemContentType, body)
	}
	var p Problem
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Problem{}, fmt.Errorf("decode problem %s: %w", body, err)
	}
	if !strings.HasPrefix(p.Type, problemTypePrefix) || p.Title == "" || p.Status != resp.StatusCode || p.Instance == "" {
		return Problem{}, fmt.Errorf("incomplete problem %s for status %d", body, resp.StatusCode)
	}
	if id := resp.Header.Get(RequestIDHeader); p.Instance != id {
		return Problem{}, fmt.Errorf("instance %q, want the request id %q", p.Instance, id)
	}
	return p, nil
}
