package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/push"
)

// bindPush binds the push routes: installations for apps (app key, with
// or without a user), sends and their status for servers (server key).
func (a *API) bindPush(keyed chi.Router, spec *apiSpec) {
	keyed.Post("/push/installations", a.registerInstallation)
	keyed.Patch("/push/installations/{id}", a.updateInstallation)
	keyed.Delete("/push/installations/{id}", a.deleteInstallation)
	keyed.Post("/push/send", a.pushSend)
	keyed.Get("/push/notifications/{id}", a.pushStatus)
	describePush(spec)
}

// pushEnv is the push service's view of an environment.
func pushEnv(env auth.Environment) push.Env {
	return push.Env{AppID: env.AppID, Name: env.Name, DB: env.DB}
}

// pushCall is the environment and caller of a /v1/push request.
func (a *API) pushCall(r *http.Request) (push.Env, string, bool, error) {
	env, ok := EnvironmentFrom(r.Context())
	if !ok {
		return push.Env{}, "", false, errors.New("api: push route outside the app-key middleware")
	}
	uid := ""
	if u, ok := UserFrom(r.Context()); ok {
		uid = u.ID
	}
	return pushEnv(env), uid, IsServerCall(r.Context()), nil
}

// pushFail maps push errors, naming the field of invalid input.
func (a *API) pushFail(w http.ResponseWriter, r *http.Request, err error) {
	var fe *push.FieldError
	if errors.As(err, &fe) {
		a.fail(w, r, onField(fe.Field, fe.Err))
		return
	}
	a.fail(w, r, err)
}

// registerInstallation serves POST /v1/push/installations: 201 with the
// installation, new or updated (upsert by token).
func (a *API) registerInstallation(w http.ResponseWriter, r *http.Request) {
	env, uid, _, err := a.pushCall(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var in push.InstallationInput
	if err := decodeJSON(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	inst, err := a.deps.Push.Register(r.Context(), env, uid, in)
	if err != nil {
		a.pushFail(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/push/installations/"+inst.ID)
	a.respond(w, r, http.StatusCreated, inst)
}

// updateInstallation serves PATCH /v1/push/installations/{id}.
func (a *API) updateInstallation(w http.ResponseWriter, r *http.Request) {
	env, uid, server, err := a.pushCall(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var in push.InstallationInput
	if err := decodeJSON(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	if in.Platform != "" || in.Token != "" {
		a.fail(w, r, onField("token", fmt.Errorf("%w: platform and token cannot change; register the new token", ErrInvalidInput)))
		return
	}
	inst, err := a.deps.Push.Update(r.Context(), env, uid, server, pathParam(r, "id"), in)
	if err != nil {
		a.pushFail(w, r, err)
		return
	}
	a.respond(w, r, http.StatusOK, inst)
}

// deleteInstallation serves DELETE /v1/push/installations/{id}: 204.
func (a *API) deleteInstallation(w http.ResponseWriter, r *http.Request) {
	env, uid, server, err := a.pushCall(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.deps.Push.Delete(r.Context(), env, uid, server, pathParam(r, "id")); err != nil {
		a.pushFail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// requireServer refuses a push route to callers without the server key.
func requireServer(r *http.Request) error {
	if !IsServerCall(r.Context()) {
		return fmt.Errorf("%w: this route needs the environment's server key (X-Skybridge-Server-Key)", ErrForbidden)
	}
	return nil
}

// pushSend serves POST /v1/push/send (server key): 202 {"id"}.
func (a *API) pushSend(w http.ResponseWriter, r *http.Request) {
	env, _, _, err := a.pushCall(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := requireServer(r); err != nil {
		a.fail(w, r, err)
		return
	}
	var req push.SendRequest
	if err := decodeJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	id, err := a.deps.Push.Send(r.Context(), env, req)
	if err != nil {
		a.pushFail(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/push/notifications/"+id)
	a.respond(w, r, http.StatusAccepted, map[string]string{"id": id})
}

// pushStatus serves GET /v1/push/notifications/{id} (server key).
func (a *API) pushStatus(w http.ResponseWriter, r *http.Request) {
	env, _, _, err := a.pushCall(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := requireServer(r); err != nil {
		a.fail(w, r, err)
		return
	}
	st, err := a.deps.Push.Status(r.Context(), env, pathParam(r, "id"))
	if err != nil {
		a.pushFail(w, r, err)
		return
	}
	a.respond(w, r, http.StatusOK, st)
}
