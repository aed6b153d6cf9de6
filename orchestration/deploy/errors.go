package deploy

import (
	"fmt"
	"sort"
	"strings"
)

// InputError ties a refused input to the request field it came from, e.g.
// `files["flows/a.yaml"]`, "variables.region" or "value".
type InputError struct {
	Field string
	Err   error // wraps ErrInvalid or ErrTooLarge
}

func (e *InputError) Error() string { return e.Field + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *InputError) Unwrap() error { return e.Err }

// invalid is an *InputError wrapping ErrInvalid.
func invalid(field, format string, args ...any) error {
	return &InputError{Field: field, Err: fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)}
}

// ValidationError is a bundle the Builder refused, with every error it
// found. It matches ErrInvalidBundle.
type ValidationError struct{ Errors []FileError }

// FileError is one error in one file of a bundle. Line and Column count
// from 1; 0 means unknown. Field is the document field, when known.
type FileError struct {
	File         string
	Line, Column int
	Field        string
	Message      string
}

// String renders the error as file:line:column: message.
func (e FileError) String() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

func (e *ValidationError) Error() string {
	parts := make([]string, 0, len(e.Errors))
	for _, fe := range e.Errors {
		parts = append(parts, fe.String())
	}
	if len(parts) == 0 {
		return "invalid bundle"
	}
	return fmt.Sprintf("invalid bundle (%d errors): %s", len(parts), strings.Join(parts, "; "))
}

// Unwrap makes a ValidationError match ErrInvalidBundle.
func (e *ValidationError) Unwrap() error { return ErrInvalidBundle }

// MissingError names the variables and secrets an environment lacks for a
// bundle. It matches ErrMissingConfig.
type MissingError struct {
	AppID, Env string
	// Version is the deployment the check was for; 0 for a new one.
	Version   int
	Variables []string
	Secrets   []string
}

func (e *MissingError) Error() string {
	var parts []string
	if len(e.Variables) > 0 {
		parts = append(parts, "variables "+strings.Join(e.Variables, ", "))
	}
	if len(e.Secrets) > 0 {
		parts = append(parts, "secrets "+strings.Join(e.Secrets, ", "))
	}
	what := "the bundle"
	if e.Version > 0 {
		what = fmt.Sprintf("version %d", e.Version)
	}
	return fmt.Sprintf("environment %q lacks what %s needs: %s", e.Env, what, strings.Join(parts, "; "))
}

// Unwrap makes a MissingError match ErrMissingConfig.
func (e *MissingError) Unwrap() error { return ErrMissingConfig }

// BuildError is a build the Builder failed for one environment. Its text
// never holds the environment's secret values: they are redacted.
type BuildError struct {
	Env     string
	Version int
	Message string
}

func (e *BuildError) Error() string {
	return fmt.Sprintf("build version %d for environment %q: %s", e.Version, e.Env, e.Message)
}

// Unwrap makes a BuildError match ErrBuild.
func (e *BuildError) Unwrap() error { return ErrBuild }

// missingRefs checks what a bundle needs against an environment, nil when
// nothing is missing.
func missingRefs(appID, env string, version int, in *Inspection, vars map[string]any, secrets map[string]string) error {
	me := &MissingError{AppID: appID, Env: env, Version: version}
	for _, v := range uniqueSorted(in.EnvRefs) {
		if _, ok := vars[v]; !ok {
			me.Variables = append(me.Variables, v)
		}
	}
	for _, v := range uniqueSorted(in.SecretRefs) {
		if _, ok := secrets[v]; !ok {
			me.Secrets = append(me.Secrets, v)
		}
	}
	if len(me.Variables) == 0 && len(me.Secrets) == 0 {
		return nil
	}
	return me
}

// buildError wraps a Builder failure, redacting every secret value of env
// (of 4 bytes or more: shorter ones would garble the message more than
// they could leak) from its text.
func buildError(env Env, version int, err error) error {
	msg := err.Error()
	values := make([]string, 0, len(env.Secrets))
	for _, v := range env.Secrets {
		if len(v) >= 4 {
			values = append(values, v)
		}
	}
	// Longest first, so that a secret containing another is redacted whole.
	sort.Slice(values, func(i, j int) bool { return len(values[i]) > len(values[j]) })
	for _, v := range values {
		msg = strings.ReplaceAll(msg, v, "[redacted]")
	}
	return &BuildError{Env: env.Name, Version: version, Message: msg}
}

func uniqueSorted(in []string) []string {
	seen := make(map[string]bool, len(in))
	out := make([]string, 0, len(in))
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}
