package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/skybridgehq/skybridge/analytics"
	"github.com/skybridgehq/skybridge/audit"
	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/iotbridge"
	"github.com/skybridgehq/skybridge/mail"
	"github.com/skybridgehq/skybridge/objectstore"
	"github.com/skybridgehq/skybridge/orchestration/deploy"
	"github.com/skybridgehq/skybridge/push"
	"github.com/skybridgehq/skybridge/store"
	skysync "github.com/skybridgehq/skybridge/sync"
)

// ProblemContentType is the media type of every error response (RFC 9457).
const ProblemContentType = "application/problem+json"

// problemTypePrefix starts every problem type URI. The URNs name the kind of
// problem; they are stable identifiers, not links.
const problemTypePrefix = "urn:skybridge:problem:"

// Problem is an RFC 9457 problem details object: the body of every 4xx and
// 5xx response.
type Problem struct {
	// Type is a URI naming the kind of problem, e.g.
	// "urn:skybridge:problem:not-found".
	Type string `json:"type"`
	// Title is a short, human-readable summary of the kind of problem.
	Title string `json:"title"`
	// Status is the HTTP status code.
	Status int `json:"status"`
	// Detail explains this occurrence of the problem.
	Detail string `json:"detail,omitempty"`
	// Instance is the request id of the failed request.
	Instance string `json:"instance,omitempty"`
	// Errors names the request fields that were refused, for validation
	// problems.
	Errors []FieldError `json:"errors,omitempty"`
}

// FieldError is one refused field of a request.
type FieldError struct {
	// Field is the name (or dotted path) of the field in the request body,
	// or of the header or query parameter.
	Field string `json:"field"`
	// Detail says what is wrong with it.
	Detail string `json:"detail"`
}

// Sentinel errors of the api package itself; problemFor maps them, like
// the domain packages' errors, to statuses.
var (
	// ErrMalformedBody: the request body is not the JSON the route expects.
	ErrMalformedBody = errors.New("malformed request body")
	// ErrInvalidInput: a well-formed request carries a value the route
	// refuses.
	ErrInvalidInput = errors.New("invalid input")
	// ErrUnsupportedMediaType: the request body is not application/json.
	ErrUnsupportedMediaType = errors.New("unsupported media type")
	// ErrBodyTooLarge: the request body exceeds Config.MaxBodyBytes.
	ErrBodyTooLarge = errors.New("request body too large")
	// ErrUnauthenticated: the request lacks the key or token the route
	// needs, or presents one that is not valid.
	ErrUnauthenticated = errors.New("authentication required")
	// ErrForbidden: the request's valid credentials do not allow this
	// route (an admin role or a deploy token's scope).
	ErrForbidden = errors.New("forbidden")
	// ErrRouteNotFound: no route matches the request path.
	ErrRouteNotFound = errors.New("no such route")
	// ErrMethodNotAllowed: the path exists, but not for this method.
	ErrMethodNotAllowed = errors.New("method not allowed")
	// ErrTooManyRequests: the client is over a rate limit.
	ErrTooManyRequests = errors.New("too many requests")
	// ErrTimeout: the request ran past Config.RequestTimeout.
	ErrTimeout = errors.New("request timed out")
)

// fieldError ties an error to the request field that caused it, so that
// the problem can name the field.
type fieldError struct {
	field string
	err   error
}

func (e *fieldError) Error() string { return e.field + ": " + e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

// onField attributes err to a request field; nil stays nil.
func onField(field string, err error) error {
	if err == nil {
		return nil
	}
	return &fieldError{field: field, err: err}
}

// problemKind is how one class of error is shown.
type problemKind struct {
	status int
	slug   string
	title  string
}

// problemKinds maps errors to problems, the first match winning. It is the
// only place in Skybridge where an error becomes an HTTP status.
var problemKinds = []struct {
	err  error
	kind problemKind
}{
	{ErrMalformedBody, problemKind{http.StatusBadRequest, "malformed-body", "Malformed Request Body"}},
	{ErrInvalidInput, problemKind{http.StatusBadRequest, "invalid-input", "Invalid Input"}},
	{ErrUnsupportedMediaType, problemKind{http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported Media Type"}},
	{ErrBodyTooLarge, problemKind{http.StatusRequestEntityTooLarge, "body-too-large", "Request Body Too Large"}},
	{ErrUnauthenticated, problemKind{http.StatusUnauthorized, "unauthenticated", "Unauthenticated"}},
	{ErrForbidden, problemKind{http.StatusForbidden, "forbidden", "Forbidden"}},
	{ErrRouteNotFound, problemKind{http.StatusNotFound, "route-not-found", "Not Found"}},
	{ErrMethodNotAllowed, problemKind{http.StatusMethodNotAllowed, "method-not-allowed", "Method Not Allowed"}},
	{ErrTooManyRequests, problemKind{http.StatusTooManyRequests, "too-many-requests", "Too Many Requests"}},
	{ErrTimeout, problemKind{http.StatusGatewayTimeout, "timeout", "Request Timed Out"}},

	{auth.ErrBadCredentials, problemKind{http.StatusUnauthorized, "bad-credentials", "Bad Credentials"}},
	{auth.ErrUnauthorized, problemKind{http.StatusUnauthorized, "unauthenticated", "Unauthenticated"}},
	{auth.ErrNotFound, problemKind{http.StatusNotFound, "not-found", "Not Found"}},
	{auth.ErrExists, problemKind{http.StatusConflict, "exists", "Already Exists"}},
	{auth.ErrConflict, problemKind{http.StatusConflict, "conflict", "Conflict"}},
	{auth.ErrLastOwner, problemKind{http.StatusConflict, "last-owner", "Last Owner"}},
	{auth.ErrWeakPassword, problemKind{http.StatusBadRequest, "weak-password", "Weak Password"}},
	{auth.ErrAppTooOld, problemKind{http.StatusUpgradeRequired, "app-version-too-old", "App Update Required"}},
	{auth.ErrInvalid, problemKind{http.StatusBadRequest, "invalid-input", "Invalid Input"}},
	{auth.ErrBadToken, problemKind{http.StatusBadRequest, "invalid-token", "Invalid Token"}},
	{auth.ErrAlreadyVerified, problemKind{http.StatusConflict, "already-verified", "Already Verified"}},
	{auth.ErrMailNotConfigured, problemKind{http.StatusConflict, "mail-not-configured", "Mail Not Configured"}},
	{mail.ErrInvalid, problemKind{http.StatusBadRequest, "invalid-input", "Invalid Input"}},
	{mail.ErrDelivery, problemKind{http.StatusBadGateway, "mail-delivery-failed", "Mail Delivery Failed"}},
	{auth.ErrOIDCProvider, problemKind{http.StatusBadGateway, "provider-failed", "Identity Provider Failed"}},
	{audit.ErrInvalid, problemKind{http.StatusBadRequest, "invalid-input", "Invalid Input"}},
	{analytics.ErrInvalid, problemKind{http.StatusBadRequest, "invalid-input", "Invalid Input"}},

	{objectstore.ErrNotFound, problemKind{http.StatusNotFound, "not-found", "Not Found"}},
	{objectstore.ErrForbidden, problemKind{http.StatusForbidden, "forbidden", "Forbidden"}},
	{objectstore.ErrSchema, problemKind{http.StatusBadRequest, "schema-violation", "Schema Violation"}},
	{objectstore.ErrInvalid, problemKind{http.StatusBadRequest, "invalid-input", "Invalid Input"}},
	{objectstore.ErrConflict, problemKind{http.StatusConflict, "conflict", "Conflict"}},
	{objectstore.ErrPreconditionFailed, problemKind{http.StatusPreconditionFailed, "precondition-failed", "Precondition Failed"}},
	{objectstore.ErrTooLarge, problemKind{http.StatusRequestEntityTooLarge, "object-too-large", "Object Too Large"}},
	{objectstore.ErrCollectionNotFound, problemKind{http.StatusForbidden, "collection-creation-refused", "Collection Creation Refused"}},
	{objectstore.ErrIdempotencyMismatch, problemKind{http.StatusUnprocessableEntity, "idempotency-key-reused", "Idempotency Key Reused"}},
	{objectstore.ErrIdempotencyInProgress, problemKind{http.StatusConflict, "idempotency-key-in-progress", "Request In Progress"}},

	{errPreconditionFailed, problemKind{http.StatusPreconditionFailed, "precondition-failed", "Precondition Failed"}},
	{iotbridge.ErrNotFound, problemKind{http.StatusNotFound, "not-found", "Not Found"}},
	{iotbridge.ErrExists, problemKind{http.StatusConflict, "device-exists", "Device Id Taken"}},
	{iotbridge.ErrInvalid, problemKind{http.StatusBadRequest, "invalid-input", "Invalid Input"}},
	{iotbridge.ErrForbidden, problemKind{http.StatusForbidden, "forbidden", "Forbidden"}},
	{iotbridge.ErrVersionConflict, problemKind{http.StatusConflict, "version-conflict", "Version Conflict"}},
	{iotbridge.ErrTooLarge, problemKind{http.StatusRequestEntityTooLarge, "shadow-too-large", "Shadow Too Large"}},
	{iotbridge.ErrFinished, problemKind{http.StatusConflict, "command-finished", "Command Finished"}},

	{skysync.ErrInvalid, problemKind{http.StatusBadRequest, "invalid-input", "Invalid Input"}},
	{skysync.ErrCheckpointExpired, problemKind{http.StatusGone, "checkpoint-expired", "Checkpoint Expired: Resync From Scratch"}},

	{push.ErrInvalid, problemKind{http.StatusBadRequest, "invalid-input", "Invalid Input"}},
	{push.ErrNotFound, problemKind{http.StatusNotFound, "not-found", "Not Found"}},
	{push.ErrForbidden, problemKind{http.StatusForbidden, "forbidden", "Forbidden"}},
	{push.ErrCredentials, problemKind{http.StatusUnprocessableEntity, "credentials-refused", "Push Credentials Refused"}},
	{push.ErrClosed, problemKind{http.StatusServiceUnavailable, "unavailable", "Service Unavailable"}},

	{ErrFlowNotFound, problemKind{http.StatusNotFound, "flow-not-found", "Flow Not Found"}},
	{deploy.ErrNoDeployment, problemKind{http.StatusConflict, "no-deployment", "Nothing Deployed"}},
	{deploy.ErrNotFound, problemKind{http.StatusNotFound, "not-found", "Not Found"}},
	{deploy.ErrTooLarge, problemKind{http.StatusRequestEntityTooLarge, "bundle-too-large", "Too Large"}},
	{deploy.ErrInvalid, problemKind{http.StatusBadRequest, "invalid-input", "Invalid Input"}},
	{deploy.ErrInvalidBundle, problemKind{http.StatusBadRequest, "invalid-bundle", "Invalid Bundle"}},
	{deploy.ErrMissingConfig, problemKind{http.StatusBadRequest, "missing-configuration", "Missing Variables or Secrets"}},
	{deploy.ErrBuild, problemKind{http.StatusBadRequest, "build-failed", "Build Failed"}},
	{deploy.ErrNoPrevious, problemKind{http.StatusConflict, "no-previous-version", "No Previous Version"}},
	{deploy.ErrConflict, problemKind{http.StatusConflict, "conflict", "Conflict"}},
	{deploy.ErrClosed, problemKind{http.StatusServiceUnavailable, "unavailable", "Service Unavailable"}},

	{store.ErrNotFound, problemKind{http.StatusNotFound, "not-found", "Not Found"}},
	{store.ErrDuplicate, problemKind{http.StatusConflict, "duplicate", "Duplicate"}},
	{store.ErrVersionConflict, problemKind{http.StatusPreconditionFailed, "version-conflict", "Version Conflict"}},
	{store.ErrInvalid, problemKind{http.StatusBadRequest, "invalid-input", "Invalid Input"}},
	{store.ErrClosed, problemKind{http.StatusServiceUnavailable, "unavailable", "Service Unavailable"}},

	{context.DeadlineExceeded, problemKind{http.StatusGatewayTimeout, "timeout", "Request Timed Out"}},
	{context.Canceled, problemKind{http.StatusServiceUnavailable, "canceled", "Request Canceled"}},
}

var internalKind = problemKind{http.StatusInternalServerError, "internal", "Internal Server Error"}

// problemFor turns an error into the problem the client sees. Client
// errors (4xx) carry the error's message as detail and, when the error was
// attributed to a field with onField, name the field; server errors (5xx)
// say nothing about their cause, which is logged instead.
func problemFor(err error) Problem {
	if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
		err = fmt.Errorf("%w: the limit is %d bytes", ErrBodyTooLarge, mbe.Limit)
	}
	kind := internalKind
	for _, k := range problemKinds {
		if errors.Is(err, k.err) {
			kind = k.kind
			break
		}
	}
	p := Problem{Type: problemTypePrefix + kind.slug, Title: kind.title, Status: kind.status}
	if kind.status >= 500 {
		return p
	}
	p.Detail = strings.ReplaceAll(err.Error(), "\n", "; ")
	p.Errors = fieldErrors(err, p.Errors)
	return p
}

// fieldErrors collects the fields named by onField anywhere in err's tree
// (errors.Join included).
func fieldErrors(err error, out []FieldError) []FieldError {
	switch e := err.(type) {
	case *fieldError:
		return append(out, FieldError{Field: e.field, Detail: e.err.Error()})
	case interface{ Unwrap() []error }:
		for _, inner := range e.Unwrap() {
			out = fieldErrors(inner, out)
		}
		return out
	}
	if inner := errors.Unwrap(err); inner != nil {
		return fieldErrors(inner, out)
	}
	return out
}

// writeProblem sends p as the response, its instance set to the request id.
func writeProblem(w http.ResponseWriter, r *http.Request, p Problem) {
	if p.Instance == "" {
		p.Instance = RequestIDFrom(r.Context())
	}
	body, err := json.Marshal(p)
	if err != nil {
		// A Problem holds only strings and ints; this cannot fail.
		panic("api: marshal problem: " + err.Error())
	}
	h := w.Header()
	h.Del("Content-Length")
	h.Del("ETag")
	h.Set("Content-Type", ProblemContentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if p.Status == http.StatusTooManyRequests && h.Get("Retry-After") == "" {
		h.Set("Retry-After", strconv.Itoa(60))
	}
	w.WriteHeader(p.Status)
	_, _ = w.Write(body)
}

// writeError sends the problem for err and logs server errors (5xx) with
// their cause; client errors are logged at debug level.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	p := problemFor(err)
	level := slog.LevelDebug
	if p.Status >= 500 {
		level = slog.LevelError
	}
	log.LogAttrs(r.Context(), level, "request failed",
		slog.String("requestId", RequestIDFrom(r.Context())),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", p.Status),
		slog.String("error", err.Error()))
	writeProblem(w, r, p)
}
