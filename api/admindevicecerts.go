package api

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/iotbridge"
)

// bindDeviceCertsAdmin binds the certificates an environment trusts for
// MQTT client-certificate authentication (mTLS): CAs whose device
// certificates authenticate devices by their common name, and single
// pinned device certificates.
func (a *API) bindDeviceCertsAdmin(g chi.Router, spec *apiSpec) {
	const path = "/apps/{id}/environments/{env}/device-certificates"
	g.Post(path, a.addDeviceCert)
	g.Get(path, a.listDeviceCerts)
	g.Delete(path+"/{certId}", a.removeDeviceCert)
	describeDeviceCertsAdmin(spec, "/admin/api"+path)
}

// deviceCertInput is the body of POST .../device-certificates.
type deviceCertInput struct {
	PEM  string `json:"pem"`
	Kind string `json:"kind"`
}

// deviceCertPage is the list of an environment's trusted certificates.
type deviceCertPage struct {
	Items []iotbridge.TrustedCert `json:"items"`
}

func iotEnv(env auth.Environment) iotbridge.Env {
	return iotbridge.Env{AppID: env.AppID, Name: env.Name, DB: env.DB}
}

func (a *API) addDeviceCert(w http.ResponseWriter, r *http.Request) {
	var in deviceCertInput
	if err := decodeJSON(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	env, err := a.auditedAdminEnv(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	c, err := a.deps.Devices.AddTrustedCert(r.Context(), iotEnv(env), in.PEM, in.Kind)
	if err != nil {
		a.deviceFail(w, r, err)
		return
	}
	a.respond(w, r, http.StatusCreated, c)
}

func (a *API) listDeviceCerts(w http.ResponseWriter, r *http.Request) {
	env, err := a.auditedAdminEnv(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	list, err := a.deps.Devices.TrustedCerts(r.Context(), iotEnv(env))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.respond(w, r, http.StatusOK, deviceCertPage{Items: list})
}

func (a *API) removeDeviceCert(w http.ResponseWriter, r *http.Request) {
	env, err := a.auditedAdminEnv(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.deps.Devices.RemoveTrustedCert(r.Context(), iotEnv(env), pathParam(r, "certId")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
