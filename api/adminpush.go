package api

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/skybridgehq/skybridge/push"
)

// bindPushAdmin binds the push credentials of an environment: shown
// without their keys, replaced after a real call proves them, deleted.
func (a *API) bindPushAdmin(g chi.Router, spec *apiSpec) {
	const path = "/apps/{id}/environments/{env}/push"
	g.Get(path, a.getPushCredentials)
	g.Put(path+"/apns", a.putAPNsCredentials)
	g.Put(path+"/fcm", a.putFCMCredentials)
	g.Delete(path+"/{kind}", a.deletePushCredentials)
	describePushAdmin(spec, "/admin/api"+path)
}

func (a *API) getPushCredentials(w http.ResponseWriter, r *http.Request) {
	env, err := a.auditedAdminEnv(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	info, err := a.deps.Push.Credentials(r.Context(), pushEnv(env))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.respond(w, r, http.StatusOK, info)
}

func (a *API) putAPNsCredentials(w http.ResponseWriter, r *http.Request) {
	var c push.APNsCredentials
	if err := decodeJSON(r, &c); err != nil {
		a.fail(w, r, err)
		return
	}
	env, err := a.auditedAdminEnv(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	info, err := a.deps.Push.SetAPNs(r.Context(), pushEnv(env), c)
	if err != nil {
		a.pushFail(w, r, err)
		return
	}
	a.respond(w, r, http.StatusOK, info)
}

func (a *API) putFCMCredentials(w http.ResponseWriter, r *http.Request) {
	var c push.FCMCredentials
	if err := decodeJSON(r, &c); err != nil {
		a.fail(w, r, err)
		return
	}
	env, err := a.auditedAdminEnv(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	info, err := a.deps.Push.SetFCM(r.Context(), pushEnv(env), c)
	if err != nil {
		a.pushFail(w, r, err)
		return
	}
	a.respond(w, r, http.StatusOK, info)
}

func (a *API) deletePushCredentials(w http.ResponseWriter, r *http.Request) {
	env, err := a.auditedAdminEnv(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.deps.Push.DeleteCredentials(r.Context(), pushEnv(env), pathParam(r, "kind")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
