// Package connectors holds the adapters through which flows reach legacy
// enterprise systems (REST here; SOAP and SQL later), behind one small
// contract that the orchestration engine consumes.
//
// A connector is built once per deployed bundle and app environment from
// its YAML document, after the document's `${env.X}` and `${secret.X}`
// references have been resolved by the orchestration package. Values that
// depend on a call (an operation's body or headers, which may use
// `${args}`) arrive as Templates that orchestration compiled at deploy
// time, so this package never parses expressions itself.
package connectors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Connector calls the operations of one enterprise system.
type Connector interface {
	// Call runs operation req.Operation with req.Args. It honours ctx's
	// deadline and cancellation. Failures are *Error.
	Call(ctx context.Context, req Request) (*Response, error)
	// Idempotent reports whether operation op may be retried safely
	// (GET, HEAD, PUT, DELETE, OPTIONS by default; an operation may say
	// otherwise with `idempotent: true|false`). False for unknown ops.
	Idempotent(op string) bool
	// Close releases idle connections and background work.
	Close() error
}

// Request is one operation call.
type Request struct {
	// Operation names one of the connector's operations.
	Operation string
	// Args are the step's evaluated `with` arguments; they fill `{name}`
	// placeholders in paths and queries and are `args` in Templates.
	Args map[string]any
	// Traceparent, when set, is passed on as the W3C `traceparent` header.
	Traceparent string
}

// Response is an operation's result.
type Response struct {
	// Status is the upstream status code (200 for non-HTTP connectors).
	Status int
	// Header holds the upstream response headers.
	Header http.Header
	// Body is the decoded answer: JSON values as encoding/json decodes
	// them into any (map[string]any, []any, float64, string, bool, nil);
	// a non-JSON body is its text as a string.
	Body any
}

// Template is a value computed per call from a scope; orchestration
// compiles `${...}` expressions into Templates. The scope holds "args"
// (Request.Args), "env" and "secret".
type Template func(scope map[string]any) (any, error)

// Const returns a Template that always yields v.
func Const(v any) Template { return func(map[string]any) (any, error) { return v, nil } }

// ErrorKind classifies a connector failure for retry and error mapping.
type ErrorKind string

// Error kinds. Flows name them in `retry.on` and `errors`.
const (
	// KindTimeout: the call's deadline passed.
	KindTimeout ErrorKind = "timeout"
	// KindUnavailable: the system could not be reached (dial, reset, TLS).
	KindUnavailable ErrorKind = "unavailable"
	// KindStatus: the system answered with a status mapped to a failure
	// (by default >= 400); Error.Status holds it.
	KindStatus ErrorKind = "status"
	// KindCircuitOpen: the connector's circuit breaker is open; no call
	// was made.
	KindCircuitOpen ErrorKind = "circuit-open"
	// KindOverloaded: the connector's concurrency limit was reached and
	// the wait for a slot ended.
	KindOverloaded ErrorKind = "overloaded"
	// KindBadResponse: the answer could not be decoded.
	KindBadResponse ErrorKind = "bad-response"
	// KindInvalid: the request itself was wrong (unknown operation,
	// missing path argument, unencodable body); never retried.
	KindInvalid ErrorKind = "invalid"
)

// Error is a failed call. Message never contains secrets (credentials,
// tokens, secret-derived headers or URLs with credentials).
type Error struct {
	Connector string
	Operation string
	Kind      ErrorKind
	// Status is the upstream status for KindStatus, else 0.
	Status int
	// Body is the decoded upstream answer for KindStatus, when any.
	Body any
	// Message says what happened, safe to log and to show an admin.
	Message string
	// Err is the underlying cause, for errors.Is/As (may be nil). It is
	// not printed by Error() because causes can quote URLs.
	Err error
}

func (e *Error) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("connector %s.%s: %s (status %d): %s", e.Connector, e.Operation, e.Kind, e.Status, e.Message)
	}
	return fmt.Sprintf("connector %s.%s: %s: %s", e.Connector, e.Operation, e.Kind, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether the failure may go away on another attempt:
// timeouts, unavailability, overload, and statuses 408, 425, 429 and 5xx.
func (e *Error) Retryable() bool {
	switch e.Kind {
	case KindTimeout, KindUnavailable, KindOverloaded:
		return true
	case KindStatus:
		return e.Status == 408 || e.Status == 425 || e.Status == 429 || e.Status >= 500
	}
	return false
}

// KindOf returns err's ErrorKind, or "" when err is not a connector error.
func KindOf(err error) ErrorKind {
	var ce *Error
	if errors.As(err, &ce) {
		return ce.Kind
	}
	return ""
}

// Spec is a Connector document as its type sees it.
//
// In Config and in each Operation's Static fields, `${env.X}` and
// `${secret.X}` have been replaced by their values for the environment
// being built. When a bundle is only validated (no environment), such
// values are left as their raw text, which contains "${"; Validate must not
// judge those values.
type Spec struct {
	// Name is the connector's name, unique in its bundle.
	Name string
	// Type is the connector type ("rest").
	Type string
	// Config is the document's `config` mapping.
	Config map[string]any
	// Operations maps operation names to their definitions.
	Operations map[string]Operation
}

// Operation is one operation of a Spec.
type Operation struct {
	// Static holds the operation's fields whose values do not depend on
	// the call (method, path, idempotent, ...), as decoded YAML.
	Static map[string]any
	// Dynamic holds the fields whose values contain expressions over
	// `args`, keyed by their dotted path in the operation ("body",
	// "headers.X-Customer"). Such a field is absent from Static.
	Dynamic map[string]Template
}

// FieldError is a problem with one field of a connector document. Field is
// a dotted path from the document root ("config.auth.type",
// "operations.getCustomer.method") so the loader can point at its line.
type FieldError struct {
	Field   string
	Message string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Message }

// Options are what the host passes to every connector it builds.
type Options struct {
	// Logger receives the connector's structured logs; never secrets.
	// Default: slog.Default().
	Logger *slog.Logger
	// Now is the clock guards (circuit breaker) and credential caches
	// (OAuth2 token expiry) read. Default: time.Now. Tests inject one.
	Now func() time.Time
	// Scope holds extra variables merged into every Template's scope
	// beside "args" (e.g. "env" and "secret" for templates that do not bind
	// them themselves). Default: none.
	Scope map[string]any
}

// IsPlaceholder reports whether v is an unresolved `${...}` reference
// (a string containing "${"), which Validate must not judge.
func IsPlaceholder(v any) bool {
	s, ok := v.(string)
	return ok && strings.Contains(s, "${")
}

// Type is one kind of connector.
type Type struct {
	// Validate checks a Spec without building anything or doing I/O.
	Validate func(spec Spec) []FieldError
	// New builds a ready connector from a fully resolved Spec.
	New func(spec Spec, opts Options) (Connector, error)
}
