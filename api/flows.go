package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/cache"
	"github.com/skybridgehq/skybridge/orchestration"
	"github.com/skybridgehq/skybridge/orchestration/deploy"
)

// bindFlows binds GET and POST /v1/flows/{name}: the live deployment's
// flow of that name, run for the caller (DESIGN.md §7). It runs behind the
// app key and user session middleware.
func (a *API) bindFlows(keyed chi.Router, spec *apiSpec) {
	keyed.Get("/flows/{name}", a.runFlow)
	keyed.Post("/flows/{name}", a.runFlow)
	describeFlows(spec)
}

// ErrFlowNotFound: no flow of that name is live in the environment.
var ErrFlowNotFound = errors.New("no such flow")

// livePlan leases the live plan of env; release it when done.
func (a *API) livePlan(ctx context.Context, appID, env string) (*orchestration.Plan, *deploy.Lease, error) {
	lease, err := a.deps.Deployments.Acquire(ctx, appID, env)
	if errors.Is(err, deploy.ErrNoDeployment) {
		return nil, nil, fmt.Errorf("%w: nothing is deployed in environment %s", ErrFlowNotFound, env)
	}
	if err != nil {
		return nil, nil, err
	}
	plan, ok := lease.Plan().(*orchestration.Plan)
	if !ok {
		lease.Release()
		return nil, nil, fmt.Errorf("api: the live plan of %s/%s is a %T, not an orchestration plan", appID, env, lease.Plan())
	}
	return plan, lease, nil
}

// runFlow serves GET|POST /v1/flows/{name}: 200 with the flow's output.
// A GET takes its input from the query string; a POST from a JSON object
// body, over the query's parameters.
func (a *API) runFlow(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	env, ok := EnvironmentFrom(ctx)
	if !ok {
		a.fail(w, r, errors.New("api: flow route outside the app-key middleware"))
		return
	}
	name := pathParam(r, "name")
	input, err := flowInput(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	plan, lease, err := a.livePlan(ctx, env.AppID, env.Name)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	defer lease.Release()
	appVersion := r.Header.Get(AppVersionHeader)
	flow, err := plan.Resolve(name, appVersion)
	if err != nil {
		if errors.Is(err, orchestration.ErrFlowNotFound) {
			err = fmt.Errorf("%w: %q in version %d of environment %s", ErrFlowNotFound, name, lease.Version(), env.Name)
		}
		a.flowFail(w, r, err)
		return
	}
	if d := flow.Deprecated(); d != nil {
		announceDeprecation(w, d)
	}
	user, hasUser := UserFrom(ctx)
	switch flow.Auth() {
	case orchestration.AuthServer:
		if !IsServerCall(ctx) {
			a.fail(w, r, fmt.Errorf("%w: flow %q needs the server key (X-Skybridge-Server-Key)", ErrUnauthenticated, name))
			return
		}
	case orchestration.AuthUser:
		if !hasUser {
			a.fail(w, r, fmt.Errorf("%w: flow %q needs a signed-in user (Authorization: Bearer)", ErrUnauthenticated, name))
			return
		}
	}
	// The resolved flow runs as itself: it routes no further.
	call := orchestration.Call{Input: input, Traceparent: r.Header.Get("Traceparent"), AppVersion: appVersion}
	if hasUser {
		call.User = flowUser(user)
	}
	res, err := plan.Run(ctx, flow.Name(), call)
	if err != nil {
		a.flowFail(w, r, err)
		return
	}
	writeFlowResult(w, r, a, res)
}

// AppVersionHeader carries the calling app's version (semver): flows may
// route by it and an environment may refuse versions below a minimum.
const AppVersionHeader = "X-App-Version"

// announceDeprecation sets the headers of a deprecated flow's answer:
// Deprecation (RFC 9745), Sunset (RFC 8594) and a Link to what replaces
// it, as chi's Deprecation and Sunset middleware write them.
func announceDeprecation(w http.ResponseWriter, d *orchestration.Deprecation) {
	noop := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	var links []string
	if d.Link != "" {
		links = append(links, "<"+d.Link+`>; rel="deprecation"`)
	}
	h := middleware.Deprecation(d.Since, links...)(noop)
	if !d.Sunset.IsZero() {
		h = middleware.Sunset(d.Sunset)(h)
	}
	h.ServeHTTP(w, nil)
}

// flowUser is the `user` of a flow's expressions.
func flowUser(u auth.User) *orchestration.User {
	return &orchestration.User{ID: u.ID, Email: u.Email, Roles: u.Roles, Anonymous: u.Anonymous}
}

// writeFlowResult sends a flow's output, as stored in the cache when it
// came through it, with X-Skybridge-Cache.
func writeFlowResult(w http.ResponseWriter, r *http.Request, a *API, res *orchestration.Result) {
	h := w.Header()
	if res.Cache != "" {
		h[CacheHeader] = cacheStateValue(res.Cache)
	}
	h["Cache-Control"] = noStoreValue
	if res.JSON != nil {
		h["Content-Type"] = jsonContentTypeValue
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(res.JSON)
		_, _ = w.Write(newline)
		return
	}
	a.respond(w, r, http.StatusOK, res.Output)
}

// Header values every flow answer sends, shared rather than allocated per
// answer. Each has capacity 1, so that an Add to a header that holds one
// copies it instead of writing into the shared array.
var (
	noStoreValue         = []string{"no-store"}[:1:1]
	jsonContentTypeValue = []string{"application/json"}[:1:1]
	cacheStateValues     = map[cache.State][]string{
		cache.Hit:   []string{string(cache.Hit)}[:1:1],
		cache.Miss:  []string{string(cache.Miss)}[:1:1],
		cache.Stale: []string{string(cache.Stale)}[:1:1],
	}
	newline = []byte{'\n'}
)

// cacheStateValue is the X-Skybridge-Cache value of state.
func cacheStateValue(state cache.State) []string {
	if v, ok := cacheStateValues[state]; ok {
		return v
	}
	return []string{string(state)}
}

// maxQueryInputs bounds the query parameters a flow takes.
const maxQueryInputs = 100

// flowInput reads a flow call's input: the query parameters (a repeated
// one as a list of strings), then, for a POST with a body, the members of
// its JSON object. A malformed query parameter is a 400 naming it.
func flowInput(r *http.Request) (map[string]any, error) {
	in, err := queryInput(r.URL.RawQuery)
	if err != nil {
		return nil, err
	}
	if r.Method != http.MethodPost || r.Body == nil || r.ContentLength == 0 {
		return in, nil
	}
	var body map[string]any
	if err := decodeFlowBody(r, &body); err != nil {
		return nil, err
	}
	for k, v := range body {
		in[k] = v
	}
	return in, nil
}

// queryInput parses a raw query string into flow inputs: each parameter
// once as a string, a repeated one as a list of strings. It reads the
// query once, straight into the input map (url.ParseQuery would build a
// map of lists first).
func queryInput(raw string) (map[string]any, error) {
	in := make(map[string]any, min(strings.Count(raw, "&")+1, maxQueryInputs))
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		if strings.Contains(pair, ";") {
			return nil, fmt.Errorf("%w: query parameter %q: ';' does not separate parameters, '&' does", ErrInvalidInput, pair)
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return nil, onField(k, fmt.Errorf("%w: the parameter name is not URL-encoded correctly", ErrInvalidInput))
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return nil, onField(key, fmt.Errorf("%w: the value is not URL-encoded correctly", ErrInvalidInput))
		}
		switch prev := in[key].(type) {
		case nil:
			if len(in) == maxQueryInputs {
				return nil, fmt.Errorf("%w: at most %d query parameters", ErrInvalidInput, maxQueryInputs)
			}
			in[key] = val
		case string:
			in[key] = []string{prev, val}
		case []string:
			in[key] = append(prev, val)
		}
	}
	return in, nil
}

// decodeFlowBody decodes a POST body, which may be empty.
func decodeFlowBody(r *http.Request, v *map[string]any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return fmt.Errorf("%w: send application/json", ErrUnsupportedMediaType)
	}
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return fmt.Errorf("%w: the body must be a JSON object of the flow's inputs: %v", ErrMalformedBody, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: one JSON object only", ErrMalformedBody)
	}
	return nil
}

// flowFail answers a failed flow run (flowProblem), logging failures
// of the systems behind it.
func (a *API) flowFail(w http.ResponseWriter, r *http.Request, err error) {
	p, ok := flowProblem(err)
	if !ok {
		a.fail(w, r, err)
		return
	}
	if p.Status >= 500 {
		a.log.Warn("flow failed", "requestId", RequestIDFrom(r.Context()), "path", r.URL.Path, "status", p.Status, "error", err.Error())
	}
	writeProblem(w, r, p)
}

// flowProblem is the problem of a failed flow run: bad input 400 naming
// the input, a `fail` step or mapped error with its own status and
// words, a passed deadline 504. ok is false for errors problemFor maps.
func flowProblem(err error) (Problem, bool) {
	var ie *orchestration.InputError
	var fe *orchestration.FlowError
	switch {
	case errors.As(err, &ie):
		return problemFor(onField(ie.Field, fmt.Errorf("%w: %s", ErrInvalidInput, ie.Message))), true
	case errors.Is(err, orchestration.ErrUnauthenticated):
		return problemFor(fmt.Errorf("%w: %v", ErrUnauthenticated, err)), true
	case errors.Is(err, orchestration.ErrFlowNotFound):
		return problemFor(fmt.Errorf("%w: %v", ErrFlowNotFound, err)), true
	case errors.As(err, &fe) && !errors.Is(err, context.DeadlineExceeded):
		p := Problem{Type: problemTypePrefix + "flow", Title: fe.Title, Status: fe.Status, Detail: fe.Detail}
		if p.Title == "" {
			p.Title = http.StatusText(fe.Status)
		}
		return p, true
	}
	return Problem{}, false
}

// flowTestRequest is the body of the admin flow test route.
type flowTestRequest struct {
	Input map[string]any `json:"input"`
	// User, when set, runs the flow as that user id of the environment.
	User string `json:"user,omitempty"`
}

// flowTestStep is one step of a test run's answer.
type flowTestStep struct {
	ID         string         `json:"id,omitempty"`
	Kind       string         `json:"kind"`
	DurationMs float64        `json:"durationMs"`
	Attempts   int            `json:"attempts,omitempty"`
	Output     any            `json:"output,omitempty"`
	Error      string         `json:"error,omitempty"`
	Steps      []flowTestStep `json:"steps,omitempty"`
}

func testSteps(in []orchestration.StepTrace) []flowTestStep {
	if len(in) == 0 {
		return nil
	}
	out := make([]flowTestStep, len(in))
	for i, s := range in {
		out[i] = flowTestStep{ID: s.ID, Kind: s.Kind, DurationMs: float64(s.Duration.Microseconds()) / 1000,
			Attempts: s.Attempts, Output: s.Output, Error: s.Error, Steps: testSteps(s.Steps)}
	}
	return out
}

// testFlow serves POST /admin/api/apps/{id}/environments/{env}/flows/{name}/test
// {input, user?}: runs the live flow and answers its output (or its
// problem) with each step's timing and result.
func (a *API) testFlow(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	env, err := a.adminEnv(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var req flowTestRequest
	if err := decodeJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	plan, lease, err := a.livePlan(ctx, env.AppID, env.Name)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	defer lease.Release()
	name := pathParam(r, "name")
	if _, ok := plan.Flow(name); !ok {
		a.fail(w, r, fmt.Errorf("%w: %q in version %d of environment %s", ErrFlowNotFound, name, lease.Version(), env.Name))
		return
	}
	call := orchestration.Call{Input: req.Input, Trace: true, Traceparent: r.Header.Get("Traceparent")}
	if req.User != "" {
		db, err := a.deps.Store.DB(ctx, env.DB)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		u, err := a.deps.Auth.GetUser(ctx, db, req.User)
		if err != nil {
			a.fail(w, r, onField("user", err))
			return
		}
		call.User = flowUser(u)
	}
	if call.Input == nil {
		call.Input = map[string]any{}
	}
	start := time.Now()
	res, err := plan.Run(ctx, name, call)
	out := map[string]any{"version": lease.Version(), "durationMs": float64(time.Since(start).Microseconds()) / 1000}
	if res != nil {
		out["steps"] = testSteps(res.Steps)
		if res.Cache != "" {
			out["cache"] = res.Cache
		}
	}
	if err != nil {
		p, ok := flowProblem(err)
		if !ok {
			p = problemFor(err)
		}
		if p.Status >= 500 {
			a.log.Warn("flow test run failed", "requestId", RequestIDFrom(r.Context()), "path", r.URL.Path, "status", p.Status, "error", err.Error())
		}
		out["error"] = p
	} else {
		out["output"] = res.Output
	}
	a.respond(w, r, http.StatusOK, out)
}

// flowTestPath is the admin route running a live flow with traces.
const flowTestPath = "/apps/{id}/environments/{env}/flows/{name}/test"

// bindFlowsAdmin binds the admin flow test route under /admin/api.
func (a *API) bindFlowsAdmin(g chi.Router, spec *apiSpec) {
	g.Post(flowTestPath, a.testFlow)
	spec.schema("FlowTestRequest", strictObject(map[string]any{
		"input": map[string]any{"type": "object", "description": "The flow's inputs, as a POST body would carry them."},
		"user":  str("Run as this user id of the environment (for flows with auth: user)."),
	}))
	spec.schema("FlowTestResult", object(map[string]any{
		"version":    integer("The live deployment version that ran."),
		"durationMs": map[string]any{"type": "number"},
		"output":     map[string]any{"description": "The flow's output, when it succeeded."},
		"error":      ref("Problem"),
		"cache":      enumOf("hit", "miss", "stale"),
		"steps":      arrayOf(map[string]any{"type": "object", "description": "{id, kind, durationMs, attempts, output, error, steps}"}),
	}, "version", "durationMs"))
	spec.route(http.MethodPost, "/admin/api"+flowTestPath, operation{
		ID: "testFlow", Tag: "flows-admin", Security: []string{schemeBearer}, Request: "FlowTestRequest",
		Summary:   "Run a live flow and answer its output or problem with each step's timing and result.",
		Responses: []response{{Status: 200, Description: "The run.", Schema: "FlowTestResult"}},
		Problems:  []int{400, 401, 403, 404},
	})
}

// describeFlows documents the /v1/flows routes.
func describeFlows(spec *apiSpec) {
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		op := operation{
			ID: "runFlow" + map[string]string{http.MethodGet: "Get", http.MethodPost: "Post"}[m], Tag: "flows", Security: []string{schemeAppKey},
			Summary: "Run the live flow {name} of the key's environment. Inputs come from the query string" +
				map[string]string{http.MethodGet: ".", http.MethodPost: " and a JSON object body."}[m] +
				" Flows with auth: user need a bearer token, auth: server the server key. Cached answers carry X-Skybridge-Cache.",
			Responses: []response{{Status: 200, Description: "The flow's output."}},
			Problems:  []int{400, 401, 404, 502, 504},
		}
		spec.route(m, "/v1/flows/{name}", op)
	}
}
