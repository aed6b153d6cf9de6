package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/skybridgehq/skybridge/connectors"
	"github.com/skybridgehq/skybridge/connectors/internal/confmap"
)

// userAgent is sent unless a headers entry sets User-Agent.
const userAgent = "Skybridge-Connector/1"

// operation is an operationSpec compiled for calls: everything that does
// not depend on the call is computed here once.
type operation struct {
	name       string
	label      string // "GET /customers/{id}": for messages, never filled
	method     string
	prefix     string // base URL
	path       *pathTemplate
	query      []queryParam
	fixedQuery string // the apiKey query parameter, encoded
	header     http.Header
	body       any
	bodyBytes  []byte // a static body, encoded once
	hasBody    bool
	form       bool
	dynBody    connectors.Template
	dynFields  []dynField
	dynHeaders []dynField
	dynQuery   []dynField
	idempotent bool
	statuses   *statusTable
}

func compileOperation(s settings, o *operationSpec) *operation {
	op := &operation{
		name: o.name, method: o.method, prefix: s.prefix, path: o.path,
		query: o.query, fixedQuery: s.auth.staticQuery(),
		body: o.body, hasBody: o.hasBody, form: o.form,
		dynBody: o.dynBody, dynFields: o.dynFields, dynHeaders: o.dynHeaders, dynQuery: o.dynQuery,
		idempotent: o.idempotent,
		statuses:   buildStatusTable(s.statuses, o.statuses),
	}
	p, _, _ := strings.Cut(o.pathText, "?") // the query may hold resolved secrets
	op.label = o.method + " " + p
	h := http.Header{}
	h.Set("Accept", "application/json")
	h.Set("User-Agent", userAgent)
	for _, hs := range []map[string]string{s.headers, o.headers} {
		for k, v := range hs {
			h.Set(k, v)
		}
	}
	if name, value := s.auth.staticHeader(); name != "" {
		h.Set(name, value)
	}
	if op.hasBody && h.Get("Content-Type") == "" {
		if op.form {
			h.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			h.Set("Content-Type", "application/json")
		}
	}
	op.header = h
	if op.hasBody && op.dynBody == nil && len(op.dynFields) == 0 {
		// A body that cannot be encoded fails each call, naming why.
		op.bodyBytes, _ = encodeBody(op.body, op.form)
	}
	return op
}

func (o *operation) dynamic() bool {
	return o.dynBody != nil || len(o.dynFields) > 0 || len(o.dynHeaders) > 0 || len(o.dynQuery) > 0
}

// buildRequest makes the HTTP request for one call. Its errors are the
// caller's fault (KindInvalid).
func (c *Connector) buildRequest(ctx context.Context, o *operation, req connectors.Request) (*http.Request, error) {
	b := make([]byte, 0, 128)
	b = append(b, o.prefix...)
	b, err := o.path.appendPath(b, req.Args)
	if err != nil {
		return nil, err
	}
	sep := byte('?')
	next := func() {
		b = append(b, sep)
		sep = '&'
	}
	if len(o.path.query) > 0 {
		next()
		if b, err = o.path.appendQuery(b, req.Args); err != nil {
			return nil, err
		}
	}
	for _, q := range o.query {
		next()
		b = append(b, q.key...)
		b = append(b, '=')
		if b, err = appendParts(b, q.value, req.Args); err != nil {
			return nil, err
		}
	}
	var scope map[string]any
	if o.dynamic() {
		scope = make(map[string]any, len(c.scope)+1)
		for k, v := range c.scope {
			scope[k] = v
		}
		scope["args"] = req.Args
	}
	for _, q := range o.dynQuery {
		v, err := q.tmpl(scope)
		if err != nil {
			return nil, fmt.Errorf("query %s: %w", q.name, err)
		}
		values, err := scalars(v)
		if err != nil {
			return nil, fmt.Errorf("query %s: %w", q.name, err)
		}
		for _, s := range values {
			next()
			b = append(b, q.name...)
			b = append(b, '=')
			b = append(b, url.QueryEscape(s)...)
		}
	}
	if o.fixedQuery != "" {
		next()
		b = append(b, o.fixedQuery...)
	}

	var body io.Reader
	if o.bodyBytes != nil {
		body = bytes.NewReader(o.bodyBytes)
	} else if o.hasBody {
		v := o.body
		if o.dynBody != nil {
			if v, err = o.dynBody(scope); err != nil {
				return nil, fmt.Errorf("body: %w", err)
			}
		}
		for _, f := range o.dynFields {
			fv, err := f.tmpl(scope)
			if err != nil {
				return nil, fmt.Errorf("body.%s: %w", strings.Join(f.path, "."), err)
			}
			v = setField(v, f.path, fv)
		}
		data, err := encodeBody(v, o.form)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(data)
	}

	hreq, err := http.NewRequestWithContext(ctx, o.method, string(b), body)
	if err != nil {
		return nil, fmt.Errorf("request URL: %w", errPath)
	}
	hreq.Header = o.header.Clone()
	for _, h := range o.dynHeaders {
		v, err := h.tmpl(scope)
		if err != nil {
			return nil, fmt.Errorf("header %s: %w", h.name, err)
		}
		if v == nil {
			continue
		}
		s, ok := confmap.Scalar(v)
		if !ok || !validHeaderValue(s) {
			return nil, fmt.Errorf("header %s: must be a single-line string, number or boolean", h.name)
		}
		hreq.Header.Set(h.name, s)
	}
	if req.Traceparent != "" {
		if !validHeaderValue(req.Traceparent) || len(req.Traceparent) > 256 {
			return nil, fmt.Errorf("traceparent is not a valid header value")
		}
		hreq.Header.Set("Traceparent", req.Traceparent)
	}
	return hreq, nil
}

func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// setField returns root (a mapping, or a new one) with path set to v. The
// maps on the path are copied: root may be the operation's static body.
func setField(root any, path []string, v any) map[string]any {
	m, _ := root.(map[string]any)
	out := make(map[string]any, len(m)+1)
	for k, e := range m {
		out[k] = e
	}
	if len(path) == 1 {
		out[path[0]] = v
	} else {
		out[path[0]] = setField(out[path[0]], path[1:], v)
	}
	return out
}

// scalars returns a query or form value as its texts: nil is none, a
// list one per element.
func scalars(v any) ([]string, error) {
	switch t := v.(type) {
	case nil:
		return nil, nil
	case []any:
		out := make([]string, 0, len(t))
		for _, e := range t {
			if e == nil {
				continue
			}
			s, ok := confmap.Scalar(e)
			if !ok {
				return nil, fmt.Errorf("list elements must be strings, numbers or booleans")
			}
			out = append(out, s)
		}
		return out, nil
	case []string:
		return t, nil
	}
	s, ok := confmap.Scalar(v)
	if !ok {
		return nil, fmt.Errorf("must be a string, number, boolean or a list of them")
	}
	return []string{s}, nil
}

// encodeBody encodes a request body as JSON or as a form.
func encodeBody(v any, form bool) ([]byte, error) {
	if !form {
		data, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("body cannot be encoded as JSON: %w", err)
		}
		return data, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		if v == nil {
			return []byte{}, nil
		}
		return nil, fmt.Errorf("a form body must be a mapping")
	}
	values := url.Values{}
	for k, e := range m {
		ss, err := scalars(e)
		if err != nil {
			return nil, fmt.Errorf("form field %q %w", k, err)
		}
		values[k] = ss
	}
	return []byte(values.Encode()), nil
}

// decodeBody decodes an answer by its content type: JSON (application/json
// or a +json type) into any, any other type as text; an empty body is nil.
func decodeBody(contentType string, data []byte) (any, error) {
	if len(data) == 0 {
		return nil, nil
	}
	if !isJSON(contentType) {
		return string(data), nil
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	return v, nil
}

func isJSON(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	mt = strings.TrimSpace(mt)
	return strings.EqualFold(mt, "application/json") ||
		len(mt) > 5 && strings.EqualFold(mt[len(mt)-5:], "+json")
}
