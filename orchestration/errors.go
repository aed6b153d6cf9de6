package orchestration

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Test with errors.Is; only the api package turns them
// into HTTP statuses.
var (
	// ErrFlowNotFound: no flow of that name in the plan (404).
	ErrFlowNotFound = errors.New("orchestration: flow not found")
	// ErrUnauthenticated: a flow with `auth: user` was run without a user
	// (401). Run does not check `auth: server`; the api layer does.
	ErrUnauthenticated = errors.New("orchestration: flow needs a signed-in user")
	// ErrMissingReference: Build was given an environment that lacks a
	// variable or secret the bundle uses; the error names them.
	ErrMissingReference = errors.New("orchestration: missing variable or secret")
	// ErrUnknownConnectorType: Build met a connector type the engine does
	// not know (Load reports it as a validation error first).
	ErrUnknownConnectorType = errors.New("orchestration: unknown connector type")
	// ErrClosed: Run was called on a closed Plan.
	ErrClosed = errors.New("orchestration: plan closed")
)

// FileError is one problem of a bundle, at a position of one of its files.
// Line and Column are 1-based; Field is the dotted path of the offending
// key from the document root ("steps[1].call", "config.auth.type").
type FileError struct {
	File         string
	Line, Column int
	Field        string
	Message      string
}

func (e FileError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Message)
	}
	return fmt.Sprintf("%s:%d:%d: %s: %s", e.File, e.Line, e.Column, e.Field, e.Message)
}

// ValidationError is a bundle that cannot be deployed: every problem found,
// in file and position order.
type ValidationError struct {
	Errors []FileError
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "orchestration: invalid bundle (%d problems)", len(e.Errors))
	for _, fe := range e.Errors {
		b.WriteString("\n  ")
		b.WriteString(fe.Error())
	}
	return b.String()
}

// InputError is a flow input that is missing or does not fit its
// declaration (400).
type InputError struct {
	// Field is the input parameter's name.
	Field string
	// Message says what is wrong, without echoing the value.
	Message string
}

func (e *InputError) Error() string {
	return fmt.Sprintf("orchestration: input %s: %s", e.Field, e.Message)
}

// FlowError is a flow's answer as a problem: from a `fail` step, from an
// `errors` mapping of a connector failure, or (Status 502) an unmapped
// connector failure. Title and Detail are safe to show to the caller:
// secret values are redacted from them.
type FlowError struct {
	// Status is the HTTP status of the answer.
	Status int
	// Title is the problem's short summary.
	Title string
	// Detail explains this occurrence.
	Detail string
	// Step is the id of the step that failed, when one did.
	Step string
	// Err is the underlying cause (a *connectors.Error), for errors.As.
	// It is not printed by Error().
	Err error
}

func (e *FlowError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "orchestration: %d %s", e.Status, e.Title)
	if e.Step != "" {
		b.WriteString(" (step ")
		b.WriteString(e.Step)
		b.WriteByte(')')
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

func (e *FlowError) Unwrap() error { return e.Err }

// errorList collects FileErrors while a bundle is loaded.
type errorList struct {
	errs []FileError
}

func (l *errorList) add(fe FileError) { l.errs = append(l.errs, fe) }
