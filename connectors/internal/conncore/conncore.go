// Package conncore holds what the connector types share beyond the
// connectors contract: refusing a spec with all its field errors, the HTTP
// transport of an HTTP-based type, the classification of a failed HTTP
// exchange, and scrubbing credentials out of a failure's body.
package conncore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/skybridgehq/skybridge/connectors"
)

// SpecError is the error New returns for a spec with field errors: it
// wraps sentinel (the type's ErrInvalidSpec) and every field error.
func SpecError(name string, sentinel error, errs []connectors.FieldError) error {
	all := make([]error, 0, len(errs)+1)
	all = append(all, sentinel)
	for _, e := range errs {
		all = append(all, e)
	}
	return fmt.Errorf("connector %s: %w", name, errors.Join(all...))
}

// MaxIdleConnsPerHost is how many idle connections an HTTP connector's
// transport keeps to its host, so that many concurrent calls reuse
// connections instead of dialing.
const MaxIdleConnsPerHost = 256

// Transport is the HTTP transport of one connector: dial and TLS
// handshake bounded by timeout, many idle connections to its one host.
func Transport(timeout time.Duration, tlsConfig *tls.Config) *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsConfig,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          2 * MaxIdleConnsPerHost,
		MaxIdleConnsPerHost:   MaxIdleConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   timeout,
		ExpectContinueTimeout: time.Second,
	}
}

// Outcome is how a failed exchange ended.
type Outcome int

// Outcomes of TransportOutcome.
const (
	// Unavailable: dial, reset, TLS and the like.
	Unavailable Outcome = iota
	// TimedOut: the call's or the caller's deadline passed.
	TimedOut
	// Cancelled: the caller went away before an answer.
	Cancelled
)

// TransportOutcome classifies err, a failed HTTP exchange under ctx, and
// returns the cause to keep: the *url.Error wrapper is dropped, since it
// quotes the URL, which may carry credentials.
func TransportOutcome(ctx context.Context, err error) (Outcome, error) {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout()):
		return TimedOut, errors.Join(context.DeadlineExceeded, err)
	case errors.Is(ctx.Err(), context.Canceled) || errors.Is(err, context.Canceled):
		return Cancelled, errors.Join(context.Canceled, err)
	}
	return Unavailable, err
}

// Scrub replaces, in place, every string of a decoded failure body with
// r's replacement (the connector's credentials redacted), and extra
// literal secrets (e.g. the call's OAuth2 token) too: a system that echoes
// what it got must not pass them on to a flow's error handling.
func Scrub(v any, r *strings.Replacer, extra ...string) any {
	switch t := v.(type) {
	case string:
		s := r.Replace(t)
		for _, x := range extra {
			if x != "" {
				s = strings.ReplaceAll(s, x, "[redacted]")
			}
		}
		return s
	case map[string]any:
		for k, e := range t {
			t[k] = Scrub(e, r, extra...)
		}
	case []any:
		for i, e := range t {
			t[i] = Scrub(e, r, extra...)
		}
	}
	return v
}
