package soap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/skybridgehq/skybridge/connectors"
	"github.com/skybridgehq/skybridge/connectors/internal/conncore"
)

// Type is the "soap" connector type, to register with the orchestration
// engine under the name "soap".
var Type = connectors.Type{Validate: Validate, New: New}

// ErrInvalidSpec is the cause of New's error for a Spec that does not
// validate.
var ErrInvalidSpec = errors.New("soap: invalid connector spec")

// userAgent is sent unless a headers entry sets User-Agent.
const userAgent = "Skybridge-Connector/1"

// Validate checks spec without building anything or doing I/O. Values
// holding "${" are unresolved placeholders and are not judged.
func Validate(spec connectors.Spec) []connectors.FieldError {
	_, errs := readSpec(spec, false)
	return errs
}

// Connector calls the operations of one SOAP service. It owns one
// http.Transport (connection pool) and one Guard; build one per connector
// document and environment, and Close it when the bundle is replaced.
type Connector struct {
	name      string
	s         settings
	ops       map[string]*operation
	envelope  envelopeParts
	transport *http.Transport
	client    *http.Client
	guard     *connectors.Guard
	logger    *slog.Logger
	redactor  *strings.Replacer
	scope     map[string]any
	now       func() time.Time
	buffers   sync.Pool
}

var _ connectors.Connector = (*Connector)(nil)

// operation is an operationSpec compiled for calls.
type operation struct {
	*operationSpec
	header http.Header
}

// New builds a ready connector from a fully resolved spec (every value is
// judged, placeholders included). It does no I/O.
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
	c := &Connector{name: spec.Name, s: s, logger: logger, scope: opts.Scope, now: opts.Now,
		envelope: newEnvelopeParts(s.version, s.namespaces)}
	c.transport = conncore.Transport(s.timeout, s.tls)
	c.client = &http.Client{
		Transport: c.transport,
		// Redirects are answers, not followed: following one could carry
		// the envelope and its credentials to another host.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	var pairs []string
	for _, secret := range s.security.secrets() {
		pairs = append(pairs, secret, "[redacted]")
	}
	c.redactor = strings.NewReplacer(pairs...)
	guard := s.guard
	guard.Now, guard.Logger = opts.Now, opts.Logger
	c.guard = connectors.NewGuard(spec.Name, guard)
	c.ops = make(map[string]*operation, len(sp.ops))
	for name, o := range sp.ops {
		c.ops[name] = c.compileOperation(o)
	}
	if s.insecure {
		logger.Warn("connector does not verify the server's TLS certificate (config.tls.insecureSkipVerify)")
	}
	logger.Debug("connector ready", "type", "soap", "version", s.version.String(), "host", s.host, "operations", len(c.ops))
	return c, nil
}

func (c *Connector) compileOperation(o *operationSpec) *operation {
	h := http.Header{}
	h.Set("Accept", "text/xml, application/soap+xml")
	h.Set("User-Agent", userAgent)
	for _, hs := range []map[string]string{c.s.headers, o.headers} {
		for k, v := range hs {
			h.Set(k, v)
		}
	}
	// The protocol's own headers are not for documents to override.
	h.Set("Content-Type", c.s.version.contentType(o.action))
	if c.s.version == soap11 {
		h.Set("SOAPAction", `"`+o.action+`"`)
	} else {
		h.Del("SOAPAction")
	}
	return &operation{operationSpec: o, header: h}
}

// Idempotent reports whether op may be retried: only when the operation
// says `idempotent: true` (every SOAP call is a POST). False for unknown
// operations.
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

// filled is one call's request content, rendered before the guard.
type filled struct {
	soapHeader []byte
	body       []byte
	header     http.Header
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
	f, err := c.fill(o, req)
	if err != nil {
		return nil, c.fail(ctx, o.name, connectors.KindInvalid, 0, nil, c.redact(err.Error()), err)
	}
	return c.guard.Do(ctx, o.name, func(ctx context.Context) (*connectors.Response, error) {
		return c.send(ctx, o, f)
	})
}

// fill renders the operation's templates and headers for req. Its errors
// are the caller's fault (KindInvalid).
func (c *Connector) fill(o *operation, req connectors.Request) (*filled, error) {
	params := o.params
	var scope map[string]any
	if o.dynParams != nil || len(o.dynHeaders) > 0 {
		scope = make(map[string]any, len(c.scope)+1)
		for k, v := range c.scope {
			scope[k] = v
		}
		scope["args"] = req.Args
	}
	if o.dynParams != nil {
		v, err := o.dynParams(scope)
		if err != nil {
			return nil, fmt.Errorf("params: %w", err)
		}
		m, ok := v.(map[string]any)
		if !ok && v != nil {
			return nil, fmt.Errorf("params: must be a mapping")
		}
		params = m
	}
	f := &filled{header: o.header.Clone()}
	var b bytes.Buffer
	if err := o.body.render(&b, req.Args, params); err != nil {
		return nil, fmt.Errorf("body: %w", err)
	}
	f.body = b.Bytes()
	if o.soapHeader != nil {
		var h bytes.Buffer
		if err := o.soapHeader.render(&h, req.Args, params); err != nil {
			return nil, fmt.Errorf("soapHeader: %w", err)
		}
		f.soapHeader = h.Bytes()
	}
	for _, h := range o.dynHeaders {
		v, err := h.tmpl(scope)
		if err != nil {
			return nil, fmt.Errorf("header %s: %w", h.name, err)
		}
		if v == nil {
			continue
		}
		s, ok := scalarText(v)
		if !ok || !validHeaderValue(s) {
			return nil, fmt.Errorf("header %s: must be a single-line string, number or boolean", h.name)
		}
		f.header.Set(h.name, s)
	}
	if req.Traceparent != "" {
		if !validHeaderValue(req.Traceparent) || len(req.Traceparent) > 256 {
			return nil, fmt.Errorf("traceparent is not a valid header value")
		}
		f.header.Set("Traceparent", req.Traceparent)
	}
	return f, nil
}

// send assembles the envelope (with a fresh UsernameToken), makes the
// HTTP exchange and maps its outcome.
func (c *Connector) send(ctx context.Context, o *operation, f *filled) (*connectors.Response, error) {
	var sec bytes.Buffer
	if c.s.security.kind == SecurityUsernameToken {
		if err := c.s.security.usernameToken(&sec, c.now()); err != nil {
			return nil, c.fail(ctx, o.name, connectors.KindUnavailable, 0, nil, "could not draw a WS-Security nonce", err)
		}
	}
	// The request body is not pooled: the transport may still be writing
	// it after Do returns.
	env := bytes.NewBuffer(make([]byte, 0, len(c.envelope.open)+sec.Len()+len(f.soapHeader)+len(f.body)+64))
	c.envelope.write(env, sec.Bytes(), f.soapHeader, f.body)
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.s.endpoint, env)
	if err != nil {
		return nil, c.fail(ctx, o.name, connectors.KindInvalid, 0, nil, "request could not be built", nil)
	}
	hreq.Header = f.header
	resp, err := c.client.Do(hreq)
	if err != nil {
		return nil, c.transportFailure(ctx, o, "request", err)
	}
	defer resp.Body.Close()
	if resp.ContentLength > c.s.maxResponseBytes {
		return nil, c.tooLarge(ctx, o)
	}
	buf := c.getBuffer()
	defer c.putBuffer(buf)
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, c.s.maxResponseBytes+1)); err != nil {
		return nil, c.transportFailure(ctx, o, "reading the answer", err)
	}
	if int64(buf.Len()) > c.s.maxResponseBytes {
		return nil, c.tooLarge(ctx, o)
	}
	return c.answer(ctx, o, resp, buf.Bytes())
}

// answer maps an HTTP answer: a fault at any status is KindStatus with
// the fault; another non-2xx status is KindStatus with the text; a 2xx
// envelope is mapped through the operation's result.
func (c *Connector) answer(ctx context.Context, o *operation, resp *http.Response, data []byte) (*connectors.Response, error) {
	ok := resp.StatusCode >= 200 && resp.StatusCode <= 299
	var body *element
	var envErr error
	if len(bytes.TrimSpace(data)) > 0 {
		var root *element
		if root, envErr = parseXML(data); envErr == nil {
			body, envErr = c.s.version.body(root)
		}
	}
	if body != nil {
		if first := firstElement(body); first != nil && first.name.Space == c.s.version.namespace() && first.name.Local == "Fault" {
			fault := readFault(first, c.s.version)
			fb := c.scrub(fault.body(resp.StatusCode))
			code := fault.Code
			if fault.Subcode != "" {
				code += "/" + fault.Subcode
			}
			return nil, c.fail(ctx, o.name, connectors.KindStatus, fault.status(resp.StatusCode), fb,
				fmt.Sprintf("operation %s: SOAP fault %s (HTTP %s)", o.name, c.redact(shortCode(code)), statusText(resp.StatusCode)), nil)
		}
	}
	if !ok {
		var text any
		if len(data) > 0 {
			text = c.redact(string(data))
		}
		return nil, c.fail(ctx, o.name, connectors.KindStatus, resp.StatusCode, text,
			fmt.Sprintf("operation %s: the service answered %s", o.name, statusText(resp.StatusCode)), nil)
	}
	out := &connectors.Response{Status: resp.StatusCode, Header: resp.Header}
	if len(bytes.TrimSpace(data)) == 0 {
		return out, nil // a one-way operation's 202 or 204
	}
	if envErr != nil {
		return nil, c.fail(ctx, o.name, connectors.KindBadResponse, 0, nil,
			fmt.Sprintf("operation %s: answer is not a SOAP %s envelope: %s", o.name, c.s.version, c.redact(envErr.Error())), envErr)
	}
	if o.result == nil {
		if first := firstElement(body); first != nil {
			out.Body = first.generic()
		}
		return out, nil
	}
	mapped, err := applyMapping(body, o.result)
	if err != nil {
		return nil, c.fail(ctx, o.name, connectors.KindBadResponse, 0, nil,
			fmt.Sprintf("operation %s: %s", o.name, c.redact(err.Error())), ErrMapping) // err quotes the value unredacted
	}
	out.Body = mapped
	return out, nil
}

// body returns the Body element of an envelope of version v.
func (v version) body(root *element) (*element, error) {
	if root.name.Local != "Envelope" || (root.name.Space != NamespaceSOAP11 && root.name.Space != NamespaceSOAP12) {
		return nil, errors.New("the root element is not a SOAP Envelope")
	}
	if root.name.Space != v.namespace() {
		other := soap12
		if v == soap12 {
			other = soap11
		}
		return nil, fmt.Errorf("a SOAP %s envelope answered a SOAP %s request", other, v)
	}
	b := root.child(v.namespace(), "Body")
	if b == nil {
		return nil, errors.New("the envelope has no Body")
	}
	return b, nil
}

func firstElement(e *element) *element {
	if len(e.children) == 0 {
		return nil
	}
	return e.children[0]
}

// shortCode keeps a fault code printable and short for messages.
func shortCode(s string) string {
	if len(s) > 80 {
		s = s[:80]
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return fmt.Sprintf("%d %s", code, t)
	}
	return fmt.Sprintf("status %d", code)
}

// getBuffer returns a response buffer from the connector's pool; answers
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
