package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/orchestration/deploy"
)

// bindDeployments binds the flow environments of one app environment: its
// variables, its secrets (write-only: listed by name), its deployments
// (deploy, history, promote into another environment, rollback). Owners
// and developers write, viewers read. A deploy token may deploy, roll back
// and read the history of its own environment, read its variables and
// secret names, and promote a version of any environment of its app into
// its own; it never changes variables or secrets (adminAuth's policy and
// promoteDeployment). Every request is audited with its environment; the
// route names the resource, bodies (and so secret values) are never
// recorded.
func (a *API) bindDeployments(g chi.Router, spec *apiSpec) {
	const base = "/apps/{id}/environments/{env}"
	g.Get(base+"/variables", a.getVariables)
	g.Put(base+"/variables", a.putVariables)
	g.Get(base+"/secrets", a.listSecrets)
	g.Put(base+"/secrets/{name}", a.putSecret)
	g.Delete(base+"/secrets/{name}", a.deleteSecret)
	g.Get(base+"/deployments", a.listDeployments)
	g.Post(base+"/deployments", a.createDeployment)
	g.Post(base+"/deployments/{version}/promote", a.promoteDeployment)
	g.Post(base+"/rollback", a.rollbackDeployment)
	describeDeployments(spec, "/admin/api"+base)
}

// deployRequest is the body of POST .../deployments.
type deployRequest struct {
	Files map[string]string `json:"files"`
}

// promoteRequest is the body of POST .../deployments/{version}/promote.
type promoteRequest struct {
	To string `json:"to"`
}

// secretRequest is the body of PUT .../secrets/{name}.
type secretRequest struct {
	Value *string `json:"value"`
}

type secretJSON struct {
	Name      string    `json:"name"`
	UpdatedAt time.Time `json:"updatedAt"`
}

type originJSON struct {
	Env     string `json:"env"`
	Version int    `json:"version"`
}

type changesJSON struct {
	Added   []deploy.DocumentRef `json:"added"`
	Removed []deploy.DocumentRef `json:"removed"`
	Changed []deploy.DocumentRef `json:"changed"`
}

// deploymentJSON is a deployment as the admin API shows it.
type deploymentJSON struct {
	Version      int               `json:"version"`
	Actor        string            `json:"actor"`
	CreatedAt    time.Time         `json:"createdAt"`
	Source       string            `json:"source"`
	Origin       *originJSON       `json:"origin,omitempty"`
	Live         bool              `json:"live"`
	PreviousLive int               `json:"previousLive,omitempty"`
	Changes      changesJSON       `json:"changes"`
	Documents    []deploy.Document `json:"documents"`
}

func toDeploymentJSON(d deploy.Deployment) deploymentJSON {
	out := deploymentJSON{
		Version: d.Version, Actor: d.Actor, CreatedAt: d.CreatedAt.UTC(), Source: d.Source, Live: d.Live, PreviousLive: d.PreviousLive,
		Changes:   changesJSON{Added: nonNil(d.Changes.Added), Removed: nonNil(d.Changes.Removed), Changed: nonNil(d.Changes.Changed)},
		Documents: nonNil(d.Documents),
	}
	if d.Origin != nil {
		out.Origin = &originJSON{Env: d.Origin.Env, Version: d.Origin.Version}
	}
	return out
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// deployEnv resolves the route's environment (404 when unknown) and notes
// it for the audit record.
func (a *API) deployEnv(r *http.Request) (auth.Environment, error) {
	env, err := a.auditedAdminEnv(r)
	if err != nil {
		return auth.Environment{}, err
	}
	return env, nil
}

// deployActor names who acts, for the deployment history: the admin's
// email, or deploy-token:<id>.
func deployActor(r *http.Request) string {
	if c, ok := AdminFrom(r.Context()); ok {
		return c.Email
	}
	if t, ok := DeployTokenFrom(r.Context()); ok {
		return "deploy-token:" + t.ID
	}
	return "unknown"
}

func (a *API) getVariables(w http.ResponseWriter, r *http.Request) {
	env, err := a.deployEnv(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	vars, err := a.deps.Deployments.Variables(r.Context(), env.AppID, env.Name)
	if err != nil {
		a.deployFail(w, r, err)
		return
	}
	a.respond(w, r, http.StatusOK, vars)
}

// putVariables replaces the environment's variables with the body's JSON
// object and answers with them.
func (a *API) putVariables(w http.ResponseWriter, r *http.Request) {
	env, err := a.deployEnv(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	vars, err := decodeVariables(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out, err := a.deps.Deployments.SetVariables(r.Context(), env.AppID, env.Name, vars)
	if err != nil {
		a.deployFail(w, r, err)
		return
	}
	a.respond(w, r, http.StatusOK, out)
}

// decodeVariables reads the body of PUT .../variables: a JSON object.
func decodeVariables(r *http.Request) (map[string]any, error) {
	var vars map[string]any
	if err := decodeJSON(r, &vars); err != nil {
		return nil, err
	}
	if vars == nil { // the body was null
		return nil, fmt.Errorf("%w: the body must be a JSON object of variables", ErrMalformedBody)
	}
	return vars, nil
}

func (a *API) listSecrets(w http.ResponseWriter, r *http.Request) {
	env, err := a.deployEnv(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	list, err := a.deps.Deployments.Secrets(r.Context(), env.AppID, env.Name)
	if err != nil {
		a.deployFail(w, r, err)
		return
	}
	items := make([]secretJSON, 0, len(list))
	for _, s := range list {
		items = append(items, secretJSON{Name: s.Name, UpdatedAt: s.UpdatedAt.UTC()})
	}
	a.respond(w, r, http.StatusOK, map[string]any{"items": items})
}

// putSecret sets a secret; the answer names it, never repeats the value.
func (a *API) putSecret(w http.ResponseWriter, r *http.Request) {
	env, err := a.deployEnv(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var req secretRequest
	if err := decodeJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	if req.Value == nil {
		a.fail(w, r, onField("value", fmt.Errorf("%w: is required", ErrInvalidInput)))
		return
	}
	info, err := a.deps.Deployments.SetSecret(r.Context(), env.AppID, env.Name, pathParam(r, "name"), *req.Value)
	if err != nil {
		a.deployFail(w, r, err)
		return
	}
	a.respond(w, r, http.StatusOK, secretJSON{Name: info.Name, UpdatedAt: info.UpdatedAt.UTC()})
}

func (a *API) deleteSecret(w http.ResponseWriter, r *http.Request) {
	env, err := a.deployEnv(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.deps.Deployments.DeleteSecret(r.Context(), env.AppID, env.Name, pathParam(r, "name")); err != nil {
		a.deployFail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// listDeployments serves the history, newest first: ?limit= (1 to 1000,
// default 100) and ?cursor= from the previous page.
func (a *API) listDeployments(w http.ResponseWriter, r *http.Request) {
	env, err := a.deployEnv(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	limit := 0
	if s := r.URL.Query().Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > 1000 {
			a.fail(w, r, onField("limit", fmt.Errorf("%w: must be an integer from 1 to 1000", ErrInvalidInput)))
			return
		}
	}
	page, err := a.deps.Deployments.History(r.Context(), env.AppID, env.Name, limit, r.URL.Query().Get("cursor"))
	if err != nil {
		a.deployFail(w, r, onField("cursor", err))
		return
	}
	items := make([]deploymentJSON, 0, len(page.Items))
	for _, d := range page.Items {
		items = append(items, toDeploymentJSON(d))
	}
	out := map[string]any{"items": items}
	if page.Cursor != "" {
		out["cursor"] = page.Cursor
	}
	a.respond(w, r, http.StatusOK, out)
}

// createDeployment deploys the body's bundle as the next version (201).
func (a *API) createDeployment(w http.ResponseWriter, r *http.Request) {
	env, err := a.deployEnv(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	req, err := decodeDeployRequest(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	d, err := a.deps.Deployments.Deploy(r.Context(), env.AppID, env.Name, req.Files, deployActor(r))
	if err != nil {
		a.deployFail(w, r, err)
		return
	}
	a.respond(w, r, http.StatusCreated, toDeploymentJSON(d))
}

// decodeDeployRequest reads the body of POST .../deployments.
func decodeDeployRequest(r *http.Request) (deployRequest, error) {
	var req deployRequest
	if err := decodeJSON(r, &req); err != nil {
		return req, err
	}
	if req.Files == nil {
		return req, onField("files", fmt.Errorf("%w: is required: an object of path to YAML text", ErrInvalidInput))
	}
	return req, nil
}

// promoteDeployment copies a version of this environment into the body's
// "to" environment as its next version (201). A deploy token must be
// scoped to the target.
func (a *API) promoteDeployment(w http.ResponseWriter, r *http.Request) {
	from, err := a.adminEnv(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	version, err := strconv.Atoi(pathParam(r, "version"))
	if err != nil || version < 1 {
		a.fail(w, r, onField("version", fmt.Errorf("%w: the version is a positive integer", ErrInvalidInput)))
		return
	}
	var req promoteRequest
	if err := decodeJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	if err := required("to", req.To); err != nil {
		a.fail(w, r, err)
		return
	}
	if req.To == from.Name {
		a.fail(w, r, onField("to", fmt.Errorf("%w: the target must be another environment than %q", ErrInvalidInput, from.Name)))
		return
	}
	if t, ok := DeployTokenFrom(r.Context()); ok && (t.App != from.AppID || t.Env != req.To) {
		a.fail(w, r, fmt.Errorf("%w: this deploy token may only promote into environment %q", ErrForbidden, t.Env))
		return
	}
	to, err := a.deps.Auth.GetEnvironment(r.Context(), from.AppID, req.To)
	if err != nil {
		a.fail(w, r, onField("to", err))
		return
	}
	// The audit record names the environment that changes: the target.
	noteEnvironment(r.Context(), to, false)
	d, err := a.deps.Deployments.Promote(r.Context(), from.AppID, from.Name, version, to.Name, deployActor(r))
	if err != nil {
		a.deployFail(w, r, err)
		return
	}
	a.respond(w, r, http.StatusCreated, toDeploymentJSON(d))
}

// rollbackDeployment makes the version live before the current one live
// again, as a new version (201).
func (a *API) rollbackDeployment(w http.ResponseWriter, r *http.Request) {
	env, err := a.deployEnv(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	d, err := a.deps.Deployments.Rollback(r.Context(), env.AppID, env.Name, deployActor(r))
	if err != nil {
		a.deployFail(w, r, err)
		return
	}
	a.respond(w, r, http.StatusCreated, toDeploymentJSON(d))
}

// bundleErrorJSON is one entry of errors[] in a refused bundle's problem:
// where in which file, or (for a missing variable or secret) which field.
type bundleErrorJSON struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// bundleProblem is a Problem whose errors[] are bundleErrorJSON: the
// outer Errors hides the embedded one in JSON.
type bundleProblem struct {
	Problem
	Errors []bundleErrorJSON `json:"errors"`
}

// deployFail answers with the problem for an error of the deploy service:
// a refused bundle or missing configuration lists each error, an input
// error names its field.
func (a *API) deployFail(w http.ResponseWriter, r *http.Request, err error) {
	var (
		ve *deploy.ValidationError
		me *deploy.MissingError
	)
	switch {
	case errors.As(err, &ve):
		items := make([]bundleErrorJSON, 0, len(ve.Errors))
		for _, fe := range ve.Errors {
			items = append(items, bundleErrorJSON{File: fe.File, Line: fe.Line, Column: fe.Column, Field: fe.Field, Message: fe.Message})
		}
		a.writeBundleProblem(w, r, err, items)
	case errors.As(err, &me):
		var items []bundleErrorJSON
		for _, v := range me.Variables {
			items = append(items, bundleErrorJSON{Field: "variables." + v, Message: fmt.Sprintf("variable %s is not set in environment %s", v, me.Env)})
		}
		for _, s := range me.Secrets {
			items = append(items, bundleErrorJSON{Field: "secrets." + s, Message: fmt.Sprintf("secret %s is not set in environment %s", s, me.Env)})
		}
		a.writeBundleProblem(w, r, err, items)
	default:
		a.fail(w, r, deployFields(err))
	}
}

// deployFields turns the deploy service's *InputErrors (joined or not)
// into field errors the problem names.
func deployFields(err error) error {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		errs := joined.Unwrap()
		out := make([]error, 0, len(errs))
		for _, e := range errs {
			out = append(out, deployFields(e))
		}
		return errors.Join(out...)
	}
	if ie := (*deploy.InputError)(nil); errors.As(err, &ie) {
		return onField(ie.Field, ie.Err)
	}
	return err
}

// writeBundleProblem sends the problem for err with items as errors[].
func (a *API) writeBundleProblem(w http.ResponseWriter, r *http.Request, err error, items []bundleErrorJSON) {
	p := problemFor(err)
	p.Instance = RequestIDFrom(r.Context())
	a.log.LogAttrs(r.Context(), slog.LevelDebug, "request failed",
		slog.String("requestId", p.Instance), slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.Int("status", p.Status), slog.String("error", err.Error()))
	body, merr := json.Marshal(bundleProblem{Problem: p, Errors: nonNil(items)})
	if merr != nil {
		a.fail(w, r, fmt.Errorf("api: marshal problem: %w", merr))
		return
	}
	h := w.Header()
	h.Set("Content-Type", ProblemContentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	_, _ = w.Write(body)
}
