package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/objectstore"
)

// mergePatchContentType is the media type of a JSON merge patch (RFC
// 7396); an object PATCH also takes application/json, read as one.
const mergePatchContentType = "application/merge-patch+json"

// bindObjects binds the object routes under /v1/collections: create,
// list, and get, replace, patch and delete by id. They run behind the app
// key and user session middleware; the caller is the request's user, the
// server key, or nobody (objectPrincipal).
func (a *API) bindObjects(keyed chi.Router, spec *apiSpec) {
	const (
		objects = "/collections/{col}/objects"
		object  = objects + "/{id}"
	)
	keyed.Post(objects, a.idempotent(a.createObject))
	keyed.Get(objects, a.listObjects)
	keyed.Get(object, a.getObject)
	keyed.Put(object, a.replaceObject)
	keyed.Patch(object, a.patchObject)
	keyed.Delete(object, a.deleteObject)
	describeObjects(spec)
}

// objectCall is what every object handler starts from: the environment
// the key reached and the caller.
type objectCall struct {
	env objectstore.Env
	p   objectstore.Principal
}

// objectCallFrom reads the environment and the caller of r.
func (a *API) objectCallFrom(r *http.Request) (objectCall, error) {
	ctx := r.Context()
	env, ok := EnvironmentFrom(ctx)
	if !ok {
		return objectCall{}, errors.New("api: object route outside the app-key middleware")
	}
	oenv, err := a.objectEnv(ctx, env)
	if err != nil {
		return objectCall{}, err
	}
	return objectCall{env: oenv, p: objectPrincipal(ctx)}, nil
}

// objectEnv is the object store's view of the environment a request
// reached: its database and its per-environment settings (whether clients
// may create collections by their first write: by default in "dev" only,
// as Parse's allowClientClassCreation; admins change it).
func (a *API) objectEnv(ctx context.Context, env auth.Environment) (objectstore.Env, error) {
	st, err := a.deps.Objects.EnvSettings(ctx, env.DB, env.Name)
	if err != nil {
		return objectstore.Env{}, fmt.Errorf("object settings of %s/%s: %w", env.AppID, env.Name, err)
	}
	return objectstore.Env{DB: env.DB, AllowClientCreate: st.AllowClientCreate}, nil
}

// objectPrincipal is the caller of an object route: the user of the
// access token (with his roles), the server key, both, or nobody.
func objectPrincipal(ctx context.Context) objectstore.Principal {
	p := objectstore.Principal{Server: IsServerCall(ctx)}
	if u, ok := UserFrom(ctx); ok {
		p.UserID, p.Roles = u.ID, u.Roles
	}
	return p
}

// createObject serves POST /v1/collections/{col}/objects: 201 with the
// stored object, its Location and ETag.
func (a *API) createObject(w http.ResponseWriter, r *http.Request) {
	c, err := a.objectCallFrom(r)
	if err != nil {
		a.objectFail(w, r, err)
		return
	}
	body, err := decodeObject(r, false)
	if err != nil {
		a.objectFail(w, r, err)
		return
	}
	col := pathParam(r, "col")
	obj, err := a.deps.Objects.Create(r.Context(), c.env, c.p, col, body)
	if err != nil {
		a.objectFail(w, r, err)
		return
	}
	w.Header().Set("Location", objectLocation(col, obj.ID()))
	a.respondObject(w, r, http.StatusCreated, obj)
}

// getObject serves GET /v1/collections/{col}/objects/{id}: 200 with the
// object and its ETag, or 304 when If-None-Match names its version.
func (a *API) getObject(w http.ResponseWriter, r *http.Request) {
	c, err := a.objectCallFrom(r)
	if err != nil {
		a.objectFail(w, r, err)
		return
	}
	obj, err := a.readObject(w, r, c, pathParam(r, "col"), pathParam(r, "id"))
	if err != nil {
		a.objectFail(w, r, err)
		return
	}
	// Objects are private to their readers; clients may keep them and
	// revalidate with If-None-Match.
	w.Header().Set("Cache-Control", "private, no-cache")
	if noneMatch(r.Header.Values("If-None-Match"), obj.Version()) {
		w.Header().Set("ETag", etag(obj.Version()))
		w.WriteHeader(http.StatusNotModified)
		return
	}
	a.respondObject(w, r, http.StatusOK, obj)
}

// replaceObject serves PUT /v1/collections/{col}/objects/{id}.
func (a *API) replaceObject(w http.ResponseWriter, r *http.Request) {
	a.updateObject(w, r, false)
}

// patchObject serves PATCH /v1/collections/{col}/objects/{id} with a JSON
// merge patch.
func (a *API) patchObject(w http.ResponseWriter, r *http.Request) {
	a.updateObject(w, r, true)
}

// updateObject runs a PUT (whole new content) or a PATCH (merge patch),
// honouring If-Match, and answers 200 with the stored object.
func (a *API) updateObject(w http.ResponseWriter, r *http.Request, patch bool) {
	c, err := a.objectCallFrom(r)
	if err != nil {
		a.objectFail(w, r, err)
		return
	}
	body, err := decodeObject(r, patch)
	if err != nil {
		a.objectFail(w, r, err)
		return
	}
	col, id := pathParam(r, "col"), pathParam(r, "id")
	version, err := a.ifMatch(r, c, col, id)
	if err != nil {
		a.objectFail(w, r, err)
		return
	}
	var obj objectstore.Object
	if patch {
		obj, err = a.deps.Objects.Patch(r.Context(), c.env, c.p, col, id, body, version)
	} else {
		obj, err = a.deps.Objects.Replace(r.Context(), c.env, c.p, col, id, body, version)
	}
	if err != nil {
		a.objectFail(w, r, err)
		return
	}
	a.respondObject(w, r, http.StatusOK, obj)
}

// deleteObject serves DELETE /v1/collections/{col}/objects/{id}: 204, and
// the object reads as 404 from then on.
func (a *API) deleteObject(w http.ResponseWriter, r *http.Request) {
	c, err := a.objectCallFrom(r)
	if err != nil {
		a.objectFail(w, r, err)
		return
	}
	col, id := pathParam(r, "col"), pathParam(r, "id")
	version, err := a.ifMatch(r, c, col, id)
	if err != nil {
		a.objectFail(w, r, err)
		return
	}
	if _, err := a.deps.Objects.Delete(r.Context(), c.env, c.p, col, id, version); err != nil {
		a.objectFail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// respondObject sends obj with its ETag.
func (a *API) respondObject(w http.ResponseWriter, r *http.Request, status int, obj objectstore.Object) {
	w.Header().Set("ETag", etag(obj.Version()))
	a.respond(w, r, status, obj)
}

// objectLocation is the URL path of object id of col.
func objectLocation(col, id string) string {
	return "/v1/collections/" + url.PathEscape(col) + "/objects/" + url.PathEscape(id)
}

// decodeObject reads a request body that must be one JSON object. A
// PATCH body must be declared application/merge-patch+json or
// application/json; other bodies any JSON type.
func decodeObject(r *http.Request, patch bool) (map[string]any, error) {
	if patch {
		if err := checkMergePatchType(r.Header.Get("Content-Type")); err != nil {
			return nil, err
		}
	}
	var body map[string]any
	if err := decodeJSON(r, &body); err != nil {
		return nil, err
	}
	if body == nil {
		return nil, fmt.Errorf("%w: the body must be a JSON object, not null", ErrMalformedBody)
	}
	if err := checkNumbers(body, ""); err != nil {
		return nil, err
	}
	return body, nil
}

// checkNumbers refuses numbers past the float64 range (1e400), which
// would otherwise not be stored as numbers; the error names the dotted
// path.
func checkNumbers(v any, at string) error {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			p := k
			if at != "" {
				p = at + "." + k
			}
			if err := checkNumbers(e, p); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range x {
			if err := checkNumbers(e, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
	case json.Number:
		if _, err := x.Float64(); err != nil {
			return onField(at, fmt.Errorf("%w: %s is out of the range of a JSON number here (float64)", ErrInvalidInput, x))
		}
	}
	return nil
}

// checkMergePatchType accepts the media types of a merge patch, with no
// charset or a UTF-8 one.
func checkMergePatchType(ct string) error {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || (mt != mergePatchContentType && mt != "application/json") {
		return fmt.Errorf("%w: Content-Type %q; send %s (RFC 7396) or application/json", ErrUnsupportedMediaType, ct, mergePatchContentType)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return fmt.Errorf("%w: charset %q; send UTF-8", ErrUnsupportedMediaType, cs)
	}
	return nil
}

// objectFail answers with the problem for an object store error: a
// *FieldError names its field, a *SchemaError lists JSON Pointers, an
// anonymous caller a rule refuses is asked to sign in (401), and a
// request whose Idempotency-Key is in use is told when to retry.
func (a *API) objectFail(w http.ResponseWriter, r *http.Request, err error) {
	var (
		fe *objectstore.FieldError
		se *objectstore.SchemaError
	)
	switch {
	case errors.As(err, &se):
		err = schemaProblem{se}
	case errors.As(err, &fe):
		err = onField(fe.Field, fe.Err)
	case errors.Is(err, objectstore.ErrForbidden):
		if p := objectPrincipal(r.Context()); p.UserID == "" && !p.Server {
			a.refuseUser(w, r, fmt.Errorf("%w: %w; sign in (Authorization: Bearer <access token>)", ErrUnauthenticated, err))
			return
		}
	case errors.Is(err, objectstore.ErrIdempotencyInProgress):
		w.Header().Set("Retry-After", "1")
	}
	a.fail(w, r, err)
}

// schemaProblem shows a schema violation as a problem whose errors name
// the JSON Pointers of the offending values.
type schemaProblem struct{ err *objectstore.SchemaError }

func (e schemaProblem) Error() string { return e.err.Error() }

// Unwrap returns the schema error and one field error per violation.
func (e schemaProblem) Unwrap() []error {
	out := []error{e.err}
	for _, v := range e.err.Violations {
		out = append(out, onField(v.Pointer, errors.New(v.Message)))
	}
	return out
}

// readBody reads the whole request body (bounded by the BodyLimit
// middleware); an over-long body stays a *http.MaxBytesError (413).
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: reading the body: %v", ErrMalformedBody, err)
	}
	return b, nil
}
