package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
)

// The OpenAPI 3.1 document at /v1/openapi.json is built in Go, next to the
// routes it describes: each route family registers its operations and
// schemas on an apiSpec in the function that binds its routes, and a test
// walks the router to check that the document and the routes agree both
// ways.

// Security scheme names.
const (
	schemeAppKey    = "appKey"
	schemeServerKey = "serverKey"
	schemeBearer    = "bearer"
)

// apiSpec collects the operations and schemas of the OpenAPI document.
type apiSpec struct {
	version string
	paths   map[string]map[string]any // path → lower-case method → operation
	schemas map[string]any
	tags    map[string]bool
	errs    []error
}

// operation describes one route.
type operation struct {
	// ID is the unique operationId.
	ID string
	// Tag groups operations ("ops", "admin" ...).
	Tag     string
	Summary string
	// Security lists the schemes the route needs, all together; nil means
	// public.
	Security []string
	// Request names the schema of the JSON request body; "" means none.
	Request string
	// Responses are the success answers; every operation also documents
	// 4XX and 5XX as problem+json.
	Responses []response
	// Problems are the error statuses worth naming for this route.
	Problems []int
}

// response describes one success answer.
type response struct {
	Status      int
	Description string
	// Schema names the body's schema; "" means no body, or a body with
	// ContentType and no schema.
	Schema string
	// ContentType defaults to application/json.
	ContentType string
	// Headers names response headers beyond X-Request-Id (e.g. Location).
	Headers []string
}

func newSpec(version string) *apiSpec {
	if version == "" {
		version = "dev"
	}
	s := &apiSpec{version: version, paths: map[string]map[string]any{}, schemas: map[string]any{}, tags: map[string]bool{}}
	s.schema("Problem", object(map[string]any{
		"type":     map[string]any{"type": "string", "format": "uri", "description": "A URI naming the kind of problem."},
		"title":    str("A short summary of the kind of problem."),
		"status":   integer("The HTTP status code."),
		"detail":   str("What went wrong this time."),
		"instance": str("The request id (X-Request-Id) of the failed request."),
		"errors":   arrayOf(ref("FieldError")),
	}, "type", "title", "status"))
	s.schema("FieldError", object(map[string]any{
		"field":  str("The refused field: a body field (dotted path), header or query parameter."),
		"detail": str("What is wrong with it."),
	}, "field", "detail"))
	return s
}

var pathParamRe = regexp.MustCompile(`\{([^}]+)\}`)

// route registers an operation on a chi path pattern.
func (s *apiSpec) route(method, path string, op operation) {
	m := strings.ToLower(method)
	if s.paths[path] == nil {
		s.paths[path] = map[string]any{}
	}
	if _, dup := s.paths[path][m]; dup {
		s.errs = append(s.errs, fmt.Errorf("api: OpenAPI: %s %s described twice", method, path))
		return
	}
	o := map[string]any{"operationId": op.ID, "summary": op.Summary, "tags": []string{op.Tag}}
	s.tags[op.Tag] = true
	var params []any
	for _, p := range pathParamRe.FindAllStringSubmatch(path, -1) {
		params = append(params, map[string]any{"name": p[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
	}
	if params != nil {
		o["parameters"] = params
	}
	if op.Request != "" {
		o["requestBody"] = map[string]any{"required": true, "content": map[string]any{
			"application/json": map[string]any{"schema": ref(op.Request)},
		}}
	}
	req := map[string]any{}
	for _, name := range op.Security {
		req[name] = []string{}
	}
	o["security"] = []any{}
	if len(req) > 0 {
		o["security"] = []any{req}
	}
	responses := map[string]any{}
	for _, r := range op.Responses {
		responses[strconv.Itoa(r.Status)] = r.object()
	}
	for _, st := range op.Problems {
		responses[strconv.Itoa(st)] = map[string]any{"$ref": "#/components/responses/Problem", "description": http.StatusText(st)}
	}
	responses["4XX"] = map[string]any{"$ref": "#/components/responses/Problem"}
	responses["5XX"] = map[string]any{"$ref": "#/components/responses/Problem"}
	o["responses"] = responses
	s.paths[path][m] = o
}

func (r response) object() map[string]any {
	o := map[string]any{"description": r.Description}
	headers := map[string]any{"X-Request-Id": map[string]any{"$ref": "#/components/headers/RequestId"}}
	for _, h := range r.Headers {
		headers[h] = map[string]any{"schema": map[string]any{"type": "string"}}
	}
	o["headers"] = headers
	ct := r.ContentType
	if ct == "" {
		ct = "application/json"
	}
	switch {
	case r.Schema != "":
		o["content"] = map[string]any{ct: map[string]any{"schema": ref(r.Schema)}}
	case r.ContentType != "":
		o["content"] = map[string]any{ct: map[string]any{"schema": map[string]any{"type": "string"}}}
	}
	return o
}

// schema registers a named schema under components.schemas.
func (s *apiSpec) schema(name string, schema map[string]any) {
	if _, dup := s.schemas[name]; dup {
		s.errs = append(s.errs, fmt.Errorf("api: OpenAPI: schema %s registered twice", name))
		return
	}
	s.schemas[name] = schema
}

// marshal renders the document.
func (s *apiSpec) marshal() ([]byte, error) {
	if len(s.errs) > 0 {
		return nil, s.errs[0]
	}
	tags := make([]string, 0, len(s.tags))
	for t := range s.tags {
		tags = append(tags, t)
	}
	sort.Strings(tags)
	tagList := make([]any, len(tags))
	for i, t := range tags {
		tagList[i] = map[string]any{"name": t}
	}
	doc := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       "Skybridge API",
			"version":     s.version,
			"description": "Mobile backend-as-a-service. Errors are application/problem+json (RFC 9457); every response carries X-Request-Id.",
		},
		"tags":  tagList,
		"paths": s.paths,
		"components": map[string]any{
			"schemas": s.schemas,
			"responses": map[string]any{"Problem": map[string]any{
				"description": "An error, as RFC 9457 problem details.",
				"headers":     map[string]any{"X-Request-Id": map[string]any{"$ref": "#/components/headers/RequestId"}},
				"content":     map[string]any{ProblemContentType: map[string]any{"schema": ref("Problem")}},
			}},
			"headers": map[string]any{"RequestId": map[string]any{
				"description": "The request id: the client's own when sane (1 to 64 of A-Z a-z 0-9 . _ -), else a new one.",
				"schema":      map[string]any{"type": "string"},
			}},
			"securitySchemes": map[string]any{
				schemeAppKey:    map[string]any{"type": "apiKey", "in": "header", "name": AppKeyHeader, "description": "The public key of an app environment; every /v1 call."},
				schemeServerKey: map[string]any{"type": "apiKey", "in": "header", "name": ServerKeyHeader, "description": "The secret key of an app environment, for trusted servers."},
				schemeBearer:    map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "An admin token from POST /admin/api/login."},
			},
		},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("api: OpenAPI: %w", err)
	}
	return b, nil
}

// bindOpenAPI serves the document, public, at /v1/openapi.json.
func (a *API) bindOpenAPI(r chi.Router, spec *apiSpec) {
	r.Get("/openapi.json", a.serveOpenAPI)
	spec.route(http.MethodGet, "/v1/openapi.json", operation{
		ID: "getOpenAPI", Tag: "ops", Summary: "This OpenAPI 3.1 document. Public: no key needed.",
		Responses: []response{{Status: 200, Description: "The document.", ContentType: "application/json"}},
	})
}

func (a *API) serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(a.openapi)
}

// JSON Schema builders for the document.

func ref(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }

// object is the schema of an answer: it may gain properties later.
func object(props map[string]any, required ...string) map[string]any {
	o := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

// strictObject is the schema of a request body: unknown properties are
// refused (decodeJSON does so).
func strictObject(props map[string]any, required ...string) map[string]any {
	o := object(props, required...)
	o["additionalProperties"] = false
	return o
}

func str(desc string) map[string]any {
	return map[string]any{"type": "string", "description": desc}
}

func integer(desc string) map[string]any {
	return map[string]any{"type": "integer", "description": desc}
}

func boolean(desc string) map[string]any {
	return map[string]any{"type": "boolean", "description": desc}
}

func dateTime(desc string) map[string]any {
	return map[string]any{"type": "string", "format": "date-time", "description": desc}
}

func arrayOf(item map[string]any) map[string]any {
	return map[string]any{"type": "array", "items": item}
}

func enumOf(values ...string) map[string]any {
	return map[string]any{"type": "string", "enum": values}
}
