package rest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/skybridgehq/skybridge/connectors"
	"github.com/skybridgehq/skybridge/connectors/internal/conncore"
)

// Type is the "rest" connector type, to register with the orchestration
// engine under the name "rest".
var Type = connectors.Type{Validate: Validate, New: New}

// ErrInvalidSpec is the cause of New's error for a Spec that does not
// validate.
var ErrInvalidSpec = errors.New("rest: invalid connector spec")

// Validate checks spec without building anything or doing I/O. Values
// holding "${" are unresolved placeholders and are not judged.
func Validate(spec connectors.Spec) []connectors.FieldError {
	_, errs := readSpec(spec, false)
	return errs
}

// Connector calls the operations of one REST system. It owns one
// http.Transport (connection pool) and one Guard; build one per connector
// document and environment, and Close it when the bundle is replaced.
type Connector struct {
	name      string
	s         settings
	ops       map[string]*operation
	transport *http.Transport
	client    *http.Client
	tokens    *tokenSource // nil unless oauth2-client-credentials
	guard     *connectors.Guard
	logger    *slog.Logger
	redactor  *strings.Replacer
	scope     map[string]any
	buffers   sync.Pool
}

var _ connectors.Connector = (*Connector)(nil)

// New builds a ready connector from a fully resolved spec (every value is
// judged, placeholders included). It does no I/O: connections and the
// OAuth2 token are made on first use.
func New(spec connectors.Spec, opts connectors.Options) (connectors.Connector, error) {
	return NewConnector(spec, opts)
}

// NewConnector is New returning the concrete type.
func NewConnector(spec connectors.Spec, opts connectors.Options) (*Connector, error) {
	sp, errs := readSpec(spec, true)
	if len(errs) > 0 {
		return nil, conncore.SpecError(spec.Name, ErrInvalidSpec, errs)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := sp.settings.withDefaults()
	logger := opts.Logger.With("connector", spec.Name)
	c := &Connector{name: spec.Name, s: s, logger: logger, scope: opts.Scope}
	c.transport = conncore.Transport(s.timeout, s.tls.config())
	c.client = &http.Client{
		Transport: c.transport,
		// Redirects are answers, not followed: following one could leave
		// the configured host with the connector's credentials.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	if s.auth.kind == AuthClientCredentials {
		c.tokens = newTokenSource(s.auth, c.client, s.timeout, opts.Now)
	}
	var pairs []string
	for _, secret := range s.auth.secrets() {
		pairs = append(pairs, secret, "[redacted]")
		if esc := url.QueryEscape(secret); esc != secret {
			pairs = append(pairs, esc, "[redacted]")
		}
	}
	c.redactor = strings.NewReplacer(pairs...)
	guard := s.guard
	guard.Now, guard.Logger = opts.Now, opts.Logger
	c.guard = connectors.NewGuard(spec.Name, guard)
	c.ops = make(map[string]*operation, len(sp.ops))
	for name, o := range sp.ops {
		c.ops[name] = compileOperation(s, o)
	}
	if s.tls.insecureSkipVerify {
		logger.Warn("connector does not verify the server's TLS certificate (config.tls.insecureSkipVerify)")
	}
	logger.Debug("connector ready", "type", "rest", "host", s.base.Host, "operations", len(c.ops))
	return c, nil
}

// Idempotent reports whether op may be retried: GET, HEAD, PUT, DELETE and
// OPTIONS unless the operation says `idempotent: false`, POST and PATCH
// only with `idempotent: true`. False for unknown operations.
func (c *Connector) Idempotent(op string) bool {
	o, ok := c.ops[op]
	return ok && o.idempotent
}

// Guard returns the connector's guard (its concurrency limit and circuit
// breaker), for health reporting.
func (c *Connector) Guard() *connectors.Guard { return c.guard }

// Close releases idle connections. The connector has no background work;
// a call after Close dials again.
func (c *Connector) Close() error {
	c.transport.CloseIdleConnections()
	return nil
}

// Call runs operation req.Operation. The call is bounded by config.timeout
// and ctx's deadline, whichever is sooner; the wait for a concurrency slot
// counts against it.
func (c *Connector) Call(ctx context.Context, req connectors.Request) (*connectors.Response, error) {
	o, ok := c.ops[req.Operation]
	if !ok {
		return nil, c.fail(ctx, req.Operation, connectors.KindInvalid, 0, nil, "unknown operation", nil)
	}
	ctx, cancel := context.WithTimeout(ctx, c.s.timeout)
	defer cancel()
	hreq, err := c.buildRequest(ctx, o, req)
	if err != nil {
		return nil, c.fail(ctx, o.name, connectors.KindInvalid, 0, nil, c.redact(err.Error()), err)
	}
	return c.guard.Do(ctx, o.name, func(ctx context.Context) (*connectors.Response, error) {
		return c.send(ctx, o, hreq)
	})
}

// send makes the HTTP exchange and maps its outcome.
func (c *Connector) send(ctx context.Context, o *operation, hreq *http.Request) (*connectors.Response, error) {
	token := ""
	if c.tokens != nil {
		var err error
		if token, err = c.tokens.header(ctx); err != nil {
			return nil, c.tokenFailure(ctx, o, err)
		}
		hreq.Header.Set("Authorization", token)
	}
	resp, err := c.client.Do(hreq)
	if err != nil {
		return nil, c.transportFailure(ctx, o, "request", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized && c.tokens != nil {
		c.tokens.invalidate(token)
	}
	if hreq.Method != http.MethodHead && resp.ContentLength > c.s.maxResponseBytes {
		return nil, c.tooLarge(ctx, o)
	}
	buf := c.getBuffer()
	defer c.putBuffer(buf)
	if hreq.Method != http.MethodHead {
		if _, err := buf.ReadFrom(io.LimitReader(resp.Body, c.s.maxResponseBytes+1)); err != nil {
			return nil, c.transportFailure(ctx, o, "reading the answer", err)
		}
		if int64(buf.Len()) > c.s.maxResponseBytes {
			return nil, c.tooLarge(ctx, o)
		}
	}
	out := &connectors.Response{Status: resp.StatusCode, Header: resp.Header}
	switch o.statuses.lookup(resp.StatusCode) {
	case outcomeEmpty:
		return out, nil
	case outcomeError:
		body, err := decodeBody(resp.Header.Get("Content-Type"), buf.Bytes())
		if err != nil {
			body = buf.String()
		}
		body = c.scrub(body, strings.TrimPrefix(token, "Bearer "))
		return nil, c.fail(ctx, o.name, connectors.KindStatus, resp.StatusCode, body,
			fmt.Sprintf("%s answered %s", o.label, statusText(resp.StatusCode)), nil)
	}
	body, err := decodeBody(resp.Header.Get("Content-Type"), buf.Bytes())
	if err != nil {
		return nil, c.fail(ctx, o.name, connectors.KindBadResponse, 0, nil,
			fmt.Sprintf("%s answered %s with a body that is not valid JSON", o.label, statusText(resp.StatusCode)), err)
	}
	out.Body = body
	return out, nil
}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return fmt.Sprintf("%d %s", code, t)
	}
	return fmt.Sprintf("status %d", code)
}

// getBuffer returns a response buffer from the connector's pool; bodies
// are decoded into fresh values, so a buffer is free again once send
// returns.
func (c *Connector) getBuffer() *bytes.Buffer {
	if b, ok := c.buffers.Get().(*bytes.Buffer); ok {
		return b
	}
	return new(bytes.Buffer)
}

func (c *Connector) putBuffer(b *bytes.Buffer) {
	if b.Cap() > 1<<20 {
		return // let a rare large answer go rather than keep it pooled
	}
	b.Reset()
	c.buffers.Put(b)
}
