package objectstore

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Test with errors.Is; only the api package turns them
// into HTTP statuses.
var (
	// ErrNotFound: no such object, or one the caller may not read (an
	// object's existence never leaks), or a tombstone.
	ErrNotFound = errors.New("objectstore: not found")
	// ErrForbidden: the collection's rule refuses the caller this
	// operation (403).
	ErrForbidden = errors.New("objectstore: forbidden")
	// ErrInvalid: a malformed collection name, id, document, field, ACL,
	// rule, index, query or setting (400). Usually inside a *FieldError
	// naming the field.
	ErrInvalid = errors.New("objectstore: invalid argument")
	// ErrConflict: the write breaks a unique index, the _id is taken, or
	// the object kept changing under an update without If-Match (409).
	ErrConflict = errors.New("objectstore: conflict")
	// ErrPreconditionFailed: the object's _v is not the If-Match version
	// the caller sent (412).
	ErrPreconditionFailed = errors.New("objectstore: precondition failed")
	// ErrTooLarge: the object, encoded as JSON, is over
	// Config.MaxObjectBytes (413).
	ErrTooLarge = errors.New("objectstore: object too large")
	// ErrSchema: the object does not satisfy the collection's JSON Schema
	// (400). The error is a *SchemaError listing every violation.
	ErrSchema = errors.New("objectstore: schema violation")
	// ErrCollectionNotFound: the collection does not exist and the caller
	// may not create it (only the server key, or any client in an
	// environment with AllowClientCreate, may).
	ErrCollectionNotFound = errors.New("objectstore: collection not found")
	// ErrIdempotencyMismatch: an Idempotency-Key was used before with a
	// different request (422).
	ErrIdempotencyMismatch = errors.New("objectstore: idempotency key reused with a different request")
	// ErrIdempotencyInProgress: a request with the same Idempotency-Key is
	// still running (409); the client retries later.
	ErrIdempotencyInProgress = errors.New("objectstore: a request with this idempotency key is in progress")
)

// FieldError attributes an error to one field of the caller's input: a
// dotted document path ("address.street"), a system field ("_acl.read"),
// or a settings key ("rules.read", "indexes[1]"). It unwraps to Err, which
// wraps one of the sentinels.
type FieldError struct {
	// Field names the refused field.
	Field string
	// Err says what is wrong with it.
	Err error
}

func (e *FieldError) Error() string { return fmt.Sprintf("%s: %v", e.Field, e.Err) }

// Unwrap returns Err.
func (e *FieldError) Unwrap() error { return e.Err }

// fieldErr returns a *FieldError on field wrapping sentinel with a reason.
func fieldErr(field string, sentinel error, format string, args ...any) error {
	return &FieldError{Field: field, Err: fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))}
}

// SchemaViolation is one place where an object breaks its collection's
// schema.
type SchemaViolation struct {
	// Pointer is the JSON Pointer (RFC 6901) of the offending value in
	// the object, "" for the object itself.
	Pointer string `json:"pointer"`
	// Message says which constraint fails.
	Message string `json:"message"`
}

// SchemaError lists the violations of an object against its collection's
// JSON Schema. errors.Is(err, ErrSchema) holds.
type SchemaError struct {
	// Violations are the failed constraints, at most maxViolations of
	// them, sorted by pointer.
	Violations []SchemaViolation
}

func (e *SchemaError) Error() string {
	var b strings.Builder
	b.WriteString(ErrSchema.Error())
	for i, v := range e.Violations {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		p := v.Pointer
		if p == "" {
			p = "/"
		}
		b.WriteString(p + ": " + v.Message)
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrSchema) hold.
func (e *SchemaError) Unwrap() error { return ErrSchema }
