package api

import (
	"fmt"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/skybridgehq/skybridge/iotbridge"
)

// bindDeviceTelemetry binds GET /v1/devices/{id}/telemetry (the server
// key and the users who may read the device's shadow) and, for admins,
// the telemetry retention of an environment.
func (a *API) bindDeviceTelemetry(keyed chi.Router, spec *apiSpec) {
	keyed.Get("/devices/{id}/telemetry", a.listTelemetry)
	describeDeviceTelemetry(spec)
}

// bindTelemetryAdmin binds GET and PUT
// /admin/api/apps/{id}/environments/{env}/telemetry/retention.
func (a *API) bindTelemetryAdmin(g chi.Router, spec *apiSpec) {
	g.Get(telemetryRetentionPath, a.getTelemetryRetention)
	g.Put(telemetryRetentionPath, a.putTelemetryRetention)
	describeTelemetryAdmin(spec)
}

const telemetryRetentionPath = "/apps/{id}/environments/{env}/telemetry/retention"

// listTelemetry serves GET /v1/devices/{id}/telemetry?stream=&from=&to=&limit=&cursor=&order=,
// oldest first unless order=desc.
func (a *API) listTelemetry(w http.ResponseWriter, r *http.Request) {
	dc, err := deviceCallFrom(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	q, err := iotbridge.ParseTelemetryQuery(r.URL.Query())
	if err != nil {
		a.deviceFail(w, r, err)
		return
	}
	list, cursor, err := a.deps.Devices.ListTelemetry(r.Context(), dc.env, dc.c, pathParam(r, "id"), q)
	if err != nil {
		a.deviceFail(w, r, err)
		return
	}
	a.respond(w, r, http.StatusOK, map[string]any{"items": list, "cursor": nullable(cursor)})
}

func (a *API) telemetryEnv(r *http.Request) (iotbridge.Env, error) {
	env, err := a.adminEnv(r)
	if err != nil {
		return iotbridge.Env{}, err
	}
	return iotbridge.Env{AppID: env.AppID, Name: env.Name, DB: env.DB}, nil
}

func (a *API) getTelemetryRetention(w http.ResponseWriter, r *http.Request) {
	env, err := a.telemetryEnv(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ret, err := a.deps.Devices.TelemetryRetention(r.Context(), env)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.respond(w, r, http.StatusOK, ret)
}

func (a *API) putTelemetryRetention(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Days *int `json:"days"`
	}
	if err := decodeJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	if req.Days == nil {
		a.fail(w, r, onField("days", fmt.Errorf("%w: required", ErrInvalidInput)))
		return
	}
	env, err := a.telemetryEnv(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ret, err := a.deps.Devices.SetTelemetryRetention(r.Context(), env, *req.Days)
	if err != nil {
		a.deviceFail(w, r, err)
		return
	}
	a.respond(w, r, http.StatusOK, ret)
}
