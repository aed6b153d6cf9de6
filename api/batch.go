package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/skybridgehq/skybridge/audit"
)

// MaxBatchOperations bounds the operations of one POST /v1/batch.
const MaxBatchOperations = 100

// batchCollectionsPrefix starts the path of every operation a batch may
// hold: the object routes.
const batchCollectionsPrefix = "/v1/collections/"

// batchRequestHeaders are the headers an operation may carry.
var batchRequestHeaders = map[string]bool{
	"If-Match": true, "If-None-Match": true, "Content-Type": true, IdempotencyKeyHeader: true,
}

// batchResultHeaders are the response headers an operation's result
// reports.
var batchResultHeaders = []string{"Content-Type", "ETag", "Location", "Allow", "Retry-After", IdempotentReplayedHeader}

// batchRoutes serves POST /v1/batch. Its operations run through ops, a
// router of the object routes alone, so that each one is served exactly
// as its own request would be, with the batch request's environment, user
// and server key (which the /v1 middleware already checked, once).
type batchRoutes struct {
	a   *API
	ops http.Handler
}

// bindBatch binds POST /v1/batch.
func (a *API) bindBatch(keyed chi.Router, spec *apiSpec) {
	ops := chi.NewRouter()
	ops.NotFound(a.notFound)
	ops.MethodNotAllowed(a.methodNotAllowed)
	// The object routes bind again here; their description goes to a
	// throwaway document, the real one has them from bindObjects.
	ops.Route("/v1", func(v1 chi.Router) { a.bindObjects(v1, newSpec("")) })
	b := &batchRoutes{a: a, ops: ops}
	keyed.With(NoStore).Post("/batch", b.serve)
	describeBatch(spec)
}

// batchRequest is the body of POST /v1/batch.
type batchRequest struct {
	Operations []batchOperation `json:"operations"`
}

// batchOperation is one request of a batch.
type batchOperation struct {
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Body    json.RawMessage   `json:"body"`
	Headers map[string]string `json:"headers"`
}

// batchResult is the answer to one operation.
type batchResult struct {
	Status  int               `json:"status"`
	Body    json.RawMessage   `json:"body"`
	Headers map[string]string `json:"headers"`
}

type batchResponse struct {
	Results []batchResult `json:"results"`
}

// serve runs the operations in order and answers 200 with one result per
// operation; a failed operation's result carries its problem and the
// others run anyway. A malformed body, or one with no or too many
// operations, is a 400 and nothing runs.
func (b *batchRoutes) serve(w http.ResponseWriter, r *http.Request) {
	var req batchRequest
	if err := decodeJSON(r, &req); err != nil {
		b.a.fail(w, r, err)
		return
	}
	if err := checkBatchSize(len(req.Operations)); err != nil {
		b.a.fail(w, r, err)
		return
	}
	out := batchResponse{Results: make([]batchResult, len(req.Operations))}
	for i, op := range req.Operations {
		out.Results[i] = b.run(r, i, op)
	}
	b.a.respond(w, r, http.StatusOK, out)
}

// checkBatchSize refuses a batch with no or more than MaxBatchOperations
// operations.
func checkBatchSize(n int) error {
	if n == 0 || n > MaxBatchOperations {
		return onField("operations", fmt.Errorf("%w: a batch holds 1 to %d operations, not %d", ErrInvalidInput, MaxBatchOperations, n))
	}
	return nil
}

// run executes operation i of the batch request parent.
func (b *batchRoutes) run(parent *http.Request, i int, op batchOperation) (res batchResult) {
	ctx := parent.Context()
	if err := ctx.Err(); err != nil {
		return problemResult(parent, err)
	}
	sub, err := batchSubRequest(ctx, i, op)
	if err != nil {
		return problemResult(parent, err)
	}
	sub.RemoteAddr = parent.RemoteAddr
	rec := newOpRecorder()
	start := time.Now()
	defer func() {
		// A panicking operation fails alone, as a request would under the
		// Recoverer middleware.
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			b.a.log.ErrorContext(ctx, "batch operation panicked", "requestId", RequestIDFrom(ctx), "operation", i, "panic", fmt.Sprint(v))
			res = problemResult(parent, fmt.Errorf("batch operation %d panicked", i))
		}
	}()
	b.ops.ServeHTTP(rec, sub)
	res = rec.result()
	b.audit(parent, sub, res.Status, start)
	return res
}

// audit records an operation that ran in the audit trail, as its own
// request would be: the batch's own record says only that a batch was
// posted, and a hundred deletes must not hide behind it. The app,
// environment and actor are the batch's.
func (b *batchRoutes) audit(parent, sub *http.Request, status int, start time.Time) {
	if b.a.deps.Audit == nil {
		return
	}
	note := noteFrom(parent.Context())
	if note == nil {
		return
	}
	route := unmatchedRoute
	if p := chi.RouteContext(sub.Context()).RoutePattern(); p != "" {
		route = p
	}
	// The record outlives the request; a cancelled request context must
	// not drop it.
	ctx := context.WithoutCancel(parent.Context())
	_ = b.a.deps.Audit.Record(ctx, audit.Record{
		Time:       start,
		App:        note.app,
		Env:        note.env,
		Actor:      note.actor,
		AppVersion: clip(parent.Header.Get("X-App-Version"), 64),
		UserAgent:  clip(parent.Header.Get("User-Agent"), 256),
		IP:         clientHost(parent),
		Method:     sub.Method,
		Route:      route,
		Resource:   clip(strings.Trim(strings.TrimPrefix(sub.URL.Path, "/v1"), "/"), 512),
		Action:     actionOf(sub.Method),
		Status:     status,
		LatencyMs:  float64(time.Since(start).Microseconds()) / 1000,
		RequestID:  RequestIDFrom(parent.Context()),
	})
}

// batchSubRequest checks operation i and builds its request. The request
// has ctx, which carries the batch request's environment, user and audit
// note, and routing state of its own: the operation is routed afresh.
func batchSubRequest(ctx context.Context, i int, op batchOperation) (*http.Request, error) {
	field := func(name string) string { return fmt.Sprintf("operations[%d].%s", i, name) }
	method := strings.ToUpper(op.Method)
	var errs []error
	switch method {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		errs = append(errs, onField(field("method"), fmt.Errorf("%w: %q; want GET, POST, PUT, PATCH or DELETE", ErrInvalidInput, op.Method)))
	}
	u, err := batchPath(op.Path)
	if err != nil {
		errs = append(errs, onField(field("path"), err))
	}
	h := http.Header{}
	for k, v := range op.Headers {
		name := textproto.CanonicalMIMEHeaderKey(k)
		switch {
		case !batchRequestHeaders[name]:
			errs = append(errs, onField(field("headers."+k), fmt.Errorf("%w: an operation may send only If-Match, If-None-Match, Content-Type and Idempotency-Key", ErrInvalidInput)))
		case strings.ContainsFunc(v, func(c rune) bool { return c < ' ' && c != '\t' || c == 0x7f }):
			errs = append(errs, onField(field("headers."+k), fmt.Errorf("%w: control characters in the value", ErrInvalidInput)))
		default:
			h.Set(name, v)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	body := bytes.TrimSpace(op.Body)
	if bytes.Equal(body, []byte("null")) {
		body = nil
	}
	// Fresh routing state: the ops router must route from the root, not
	// continue the batch route's /v1 mount, and the audit record reads
	// the operation's route pattern from it afterwards.
	rctx := chi.NewRouteContext()
	ctx = context.WithValue(ctx, chi.RouteCtxKey, rctx)
	sub, err := http.NewRequestWithContext(ctx, method, u.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return nil, onField(field("path"), fmt.Errorf("%w: %v", ErrInvalidInput, err))
	}
	sub.Header = h
	if len(body) > 0 && h.Get("Content-Type") == "" {
		sub.Header.Set("Content-Type", "application/json")
	}
	return sub, nil
}

// batchPath checks an operation's path: an object route,
// /v1/collections/{col}/objects or /v1/collections/{col}/objects/{id},
// with an optional query (list parameters), and nothing that a path
// cleaner would change.
func batchPath(p string) (*url.URL, error) {
	u, err := url.Parse(p)
	if err != nil {
		return nil, fmt.Errorf("%w: %q is not a URL path", ErrInvalidInput, p)
	}
	const want = "a path /v1/collections/{col}/objects or /v1/collections/{col}/objects/{id}"
	if u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || u.Fragment != "" || u.RawFragment != "" {
		return nil, fmt.Errorf("%w: want %s, without scheme, host or fragment", ErrInvalidInput, want)
	}
	rest, ok := strings.CutPrefix(u.EscapedPath(), batchCollectionsPrefix)
	if !ok || path.Clean(u.Path) != u.Path {
		return nil, fmt.Errorf("%w: %q; a batch holds object operations only: want %s", ErrInvalidInput, p, want)
	}
	segs := strings.Split(rest, "/")
	if (len(segs) != 2 && len(segs) != 3) || segs[1] != "objects" || slices.Contains(segs, "") {
		return nil, fmt.Errorf("%w: %q; want %s", ErrInvalidInput, p, want)
	}
	return u, nil
}

// problemResult is the result of an operation that failed before it ran.
func problemResult(parent *http.Request, err error) batchResult {
	p := problemFor(err)
	p.Instance = RequestIDFrom(parent.Context())
	body, merr := json.Marshal(p)
	if merr != nil {
		// A Problem holds only strings and ints; this cannot fail.
		panic("api: marshal problem: " + merr.Error())
	}
	return batchResult{Status: p.Status, Body: body, Headers: map[string]string{"Content-Type": ProblemContentType}}
}

// opRecorder captures the answer of one operation.
type opRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newOpRecorder() *opRecorder { return &opRecorder{header: http.Header{}} }

// Header returns the response headers.
func (o *opRecorder) Header() http.Header { return o.header }

// WriteHeader records the status; later calls are ignored, as on a
// connection.
func (o *opRecorder) WriteHeader(status int) {
	if o.status == 0 {
		o.status = status
	}
}

// Write records body bytes.
func (o *opRecorder) Write(p []byte) (int, error) {
	o.WriteHeader(http.StatusOK)
	return o.body.Write(p)
}

// result is the recorded answer: a JSON body as is, another body as a
// JSON string, no body as null.
func (o *opRecorder) result() batchResult {
	res := batchResult{Status: o.status, Headers: map[string]string{}}
	if res.Status == 0 {
		res.Status = http.StatusOK
	}
	for _, k := range batchResultHeaders {
		if v := o.header.Get(k); v != "" {
			res.Headers[k] = v
		}
	}
	raw := bytes.TrimSpace(o.body.Bytes())
	switch {
	case len(raw) == 0:
		res.Body = json.RawMessage("null")
	case json.Valid(raw):
		res.Body = raw
	default:
		res.Body, _ = json.Marshal(string(raw))
	}
	return res
}

// describeBatch registers POST /v1/batch in the OpenAPI document.
func describeBatch(spec *apiSpec) {
	spec.schema("BatchOperation", strictObject(map[string]any{
		"method": enumOf(http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete),
		"path":   str("An object route: /v1/collections/{col}/objects (POST, or GET with list parameters) or /v1/collections/{col}/objects/{id}."),
		"body":   map[string]any{"description": "The operation's JSON body (an object for POST, PUT and PATCH)."},
		"headers": map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"},
			"description": "Request headers of the operation: If-Match, If-None-Match, Content-Type, Idempotency-Key."},
	}, "method", "path"))
	spec.schema("BatchRequest", strictObject(map[string]any{
		"operations": map[string]any{"type": "array", "minItems": 1, "maxItems": MaxBatchOperations, "items": ref("BatchOperation"),
			"description": "Run in order, each with the caller's key and token; a failed one does not stop the others."},
	}, "operations"))
	spec.schema("BatchResult", object(map[string]any{
		"status": integer("The operation's HTTP status."),
		"body":   map[string]any{"description": "The operation's answer: the object, the list, a problem (RFC 9457), or null."},
		"headers": map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"},
			"description": "Response headers of the operation: Content-Type, ETag, Location, Allow, Retry-After, Idempotent-Replayed."},
	}, "status", "body", "headers"))
	spec.schema("BatchResponse", object(map[string]any{
		"results": arrayOf(ref("BatchResult")),
	}, "results"))
	spec.route(http.MethodPost, "/v1/batch", operation{
		ID: "batch", Tag: "objects", Summary: "Run up to 100 object operations in order, each with its own status (user access token in Authorization: Bearer, or the server key).",
		Security:  []string{schemeAppKey},
		Request:   "BatchRequest",
		Responses: []response{{Status: 200, Description: "One result per operation, in order.", Schema: "BatchResponse"}},
		Problems:  []int{400, 401, 413, 415},
	})
}
