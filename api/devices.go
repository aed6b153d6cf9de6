package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/skybridgehq/skybridge/iotbridge"
)

// bindDevices binds the device routes under /v1/devices: the registry
// (server key), and the shadow and commands of a device, which the server
// key and the users the device's _owner and _acl name may reach.
func (a *API) bindDevices(keyed chi.Router, spec *apiSpec) {
	const (
		devices = "/devices"
		device  = devices + "/{id}"
	)
	keyed.Post(devices, a.registerDevice)
	keyed.Get(devices, a.listDevices)
	keyed.Get(device, a.getDevice)
	keyed.Patch(device, a.patchDevice)
	keyed.Delete(device, a.deleteDevice)
	keyed.Post(device+"/secret", a.rotateDeviceSecret)
	keyed.Get(device+"/shadow", a.getShadow)
	keyed.Patch(device+"/shadow", a.patchShadow)
	keyed.Post(device+"/commands", a.sendCommand)
	keyed.Get(device+"/commands", a.listCommands)
	keyed.Get(device+"/commands/{cmd}", a.getCommand)
	describeDevices(spec)
	a.bindDeviceTelemetry(keyed, spec)
}

// deviceCall is what every device handler starts from.
type deviceCall struct {
	env iotbridge.Env
	c   iotbridge.Caller
}

func deviceCallFrom(r *http.Request) (deviceCall, error) {
	env, ok := EnvironmentFrom(r.Context())
	if !ok {
		return deviceCall{}, errors.New("api: device route outside the app-key middleware")
	}
	c := iotbridge.Caller{Server: IsServerCall(r.Context())}
	if u, ok := UserFrom(r.Context()); ok {
		c.UserID, c.Roles = u.ID, u.Roles
	}
	return deviceCall{env: iotbridge.Env{AppID: env.AppID, Name: env.Name, DB: env.DB}, c: c}, nil
}

// deviceFail answers err, naming the request field iotbridge blamed.
func (a *API) deviceFail(w http.ResponseWriter, r *http.Request, err error) {
	if f := iotbridge.FieldOf(err); f != "" {
		err = onField(f, err)
	}
	a.fail(w, r, err)
}

// deviceInput is the body of POST /v1/devices.
type deviceInput struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Attributes map[string]any `json:"attributes"`
	Owner      string         `json:"owner"`
	ACL        map[string]any `json:"_acl"`
}

// registerDevice serves POST /v1/devices: 201 {"id", "secret"}, the
// secret shown this once.
func (a *API) registerDevice(w http.ResponseWriter, r *http.Request) {
	dc, err := deviceCallFrom(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var in deviceInput
	if err := decodeJSON(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	d, secret, err := a.deps.Devices.Register(r.Context(), dc.env, dc.c, iotbridge.DeviceInput{
		ID: in.ID, Name: in.Name, Type: in.Type, Attributes: in.Attributes, Owner: in.Owner, ACL: in.ACL,
	})
	if err != nil {
		a.deviceFail(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/devices/"+d.ID)
	w.Header().Set("Cache-Control", "no-store")
	a.respond(w, r, http.StatusCreated, map[string]any{"id": d.ID, "secret": secret, "device": d})
}

// listDevices serves GET /v1/devices?type=&owner=&disabled=&limit=&cursor=.
func (a *API) listDevices(w http.ResponseWriter, r *http.Request) {
	dc, err := deviceCallFrom(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	lq := iotbridge.ListQuery{Type: q.Get("type"), Owner: q.Get("owner"), Cursor: q.Get("cursor")}
	if v := q.Get("disabled"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			a.fail(w, r, onField("disabled", fmt.Errorf("%w: want true or false", ErrInvalidInput)))
			return
		}
		lq.Disabled = &b
	}
	if lq.Limit, err = queryLimit(q.Get("limit")); err != nil {
		a.fail(w, r, err)
		return
	}
	list, cursor, err := a.deps.Devices.List(r.Context(), dc.env, dc.c, lq)
	if err != nil {
		a.deviceFail(w, r, err)
		return
	}
	a.respond(w, r, http.StatusOK, map[string]any{"items": list, "cursor": nullable(cursor)})
}

// queryLimit reads a limit query parameter ("" is 0, the default).
func queryLimit(v string) (int, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > iotbridge.MaxListLimit {
		return 0, onField("limit", fmt.Errorf("%w: want 1 to %d", ErrInvalidInput, iotbridge.MaxListLimit))
	}
	return n, nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// getDevice serves GET /v1/devices/{id}.
func (a *API) getDevice(w http.ResponseWriter, r *http.Request) {
	dc, err := deviceCallFrom(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	d, err := a.deps.Devices.Get(r.Context(), dc.env, dc.c, pathParam(r, "id"))
	if err != nil {
		a.deviceFail(w, r, err)
		return
	}
	w.Header().Set("ETag", etag(d.Version))
	a.respond(w, r, http.StatusOK, d)
}

// devicePatch is the body of PATCH /v1/devices/{id}.
type devicePatch struct {
	Name       *string        `json:"name"`
	Type       *string        `json:"type"`
	Attributes map[string]any `json:"attributes"`
	Owner      *string        `json:"owner"`
	ACL        map[string]any `json:"_acl"`
	Disabled   *bool          `json:"disabled"`
}

// patchDevice serves PATCH /v1/devices/{id} (server key): name, type,
// attributes, owner, _acl, disabled (which disconnects the device).
func (a *API) patchDevice(w http.ResponseWriter, r *http.Request) {
	dc, err := deviceCallFrom(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var p devicePatch
	if err := decodeJSON(r, &p); err != nil {
		a.fail(w, r, err)
		return
	}
	version, err := singleIfMatch(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	d, err := a.deps.Devices.Update(r.Context(), dc.env, dc.c, pathParam(r, "id"), version, iotbridge.DevicePatch{
		Name: p.Name, Type: p.Type, Attributes: p.Attributes, Owner: p.Owner, ACL: p.ACL, Disabled: p.Disabled,
	})
	if err != nil {
		if version != 0 && errors.Is(err, iotbridge.ErrVersionConflict) {
			err = fmt.Errorf("%w: %v", errPreconditionFailed, err)
		}
		a.deviceFail(w, r, err)
		return
	}
	w.Header().Set("ETag", etag(d.Version))
	a.respond(w, r, http.StatusOK, d)
}

// errPreconditionFailed marks a failed If-Match of a device route.
var errPreconditionFailed = errors.New("precondition failed")

// singleIfMatch reads an If-Match of one version; 0 when absent or *.
func singleIfMatch(r *http.Request) (int64, error) {
	versions, err := ifMatchVersions(r.Header.Values("If-Match"))
	if err != nil {
		return 0, err
	}
	switch len(versions) {
	case 0:
		return 0, nil
	case 1:
		return versions[0], nil
	}
	return 0, onField("If-Match", fmt.Errorf("%w: name one version", ErrInvalidInput))
}

// deleteDevice serves DELETE /v1/devices/{id} (server key): 204; the id
// is free again.
func (a *API) deleteDevice(w http.ResponseWriter, r *http.Request) {
	dc, err := deviceCallFrom(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.deps.Devices.Delete(r.Context(), dc.env, dc.c, pathParam(r, "id")); err != nil {
		a.deviceFail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// rotateDeviceSecret serves POST /v1/devices/{id}/secret (server key):
// a new secret, shown once; the device's connections drop.
func (a *API) rotateDeviceSecret(w http.ResponseWriter, r *http.Request) {
	dc, err := deviceCallFrom(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	id := pathParam(r, "id")
	secret, err := a.deps.Devices.RotateSecret(r.Context(), dc.env, dc.c, id)
	if err != nil {
		a.deviceFail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	a.respond(w, r, http.StatusOK, map[string]any{"id": id, "secret": secret})
}

// getShadow serves GET /v1/devices/{id}/shadow?name=: the shadow
// document, with its delta.
func (a *API) getShadow(w http.ResponseWriter, r *http.Request) {
	dc, err := deviceCallFrom(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	doc, err := a.deps.Devices.GetShadow(r.Context(), dc.env, dc.c, pathParam(r, "id"), r.URL.Query().Get("name"))
	if err != nil {
		a.deviceFail(w, r, err)
		return
	}
	w.Header().Set("ETag", etag(doc.Version))
	w.Header().Set("Cache-Control", "private, no-cache")
	a.respond(w, r, http.StatusOK, doc)
}

// patchShadow serves PATCH /v1/devices/{id}/shadow?name= with
// {"state": {"desired": ...}}: 200 with the shadow document. If-Match
// names the version the shadow must still have (else 412).
func (a *API) patchShadow(w http.ResponseWriter, r *http.Request) {
	dc, err := deviceCallFrom(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := checkJSONContentType(r.Header.Get("Content-Type")); err != nil {
		a.fail(w, r, err)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			a.fail(w, r, err)
			return
		}
		a.fail(w, r, fmt.Errorf("%w: reading the body: %v", ErrMalformedBody, err))
		return
	}
	version, err := singleIfMatch(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var ifVersion *int64
	if version != 0 {
		ifVersion = &version
	}
	doc, err := a.deps.Devices.UpdateShadow(r.Context(), dc.env, dc.c, pathParam(r, "id"), r.URL.Query().Get("name"), body, ifVersion)
	if err != nil {
		if ifVersion != nil && errors.Is(err, iotbridge.ErrVersionConflict) {
			err = fmt.Errorf("%w: the shadow is not at version %d", errPreconditionFailed, version)
		}
		a.deviceFail(w, r, err)
		return
	}
	w.Header().Set("ETag", etag(doc.Version))
	a.respond(w, r, http.StatusOK, doc)
}

// commandInput is the body of POST /v1/devices/{id}/commands.
type commandInput struct {
	Name       string          `json:"name"`
	Payload    json.RawMessage `json:"payload"`
	TimeoutSec *int64          `json:"timeoutSec"`
}

// sendCommand serves POST /v1/devices/{id}/commands: 202 {"id",
// "status": "queued"}; the device gets it at once or when it subscribes.
func (a *API) sendCommand(w http.ResponseWriter, r *http.Request) {
	dc, err := deviceCallFrom(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var in commandInput
	if err := decodeJSON(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	var timeout time.Duration
	if in.TimeoutSec != nil {
		if *in.TimeoutSec < 1 || *in.TimeoutSec > int64(365*24*3600) {
			a.fail(w, r, onField("timeoutSec", fmt.Errorf("%w: want a whole number of seconds, at least 1", ErrInvalidInput)))
			return
		}
		timeout = time.Duration(*in.TimeoutSec) * time.Second
	}
	id := pathParam(r, "id")
	cmd, err := a.deps.Devices.SendCommand(r.Context(), dc.env, dc.c, id, iotbridge.CommandInput{Name: in.Name, Payload: in.Payload, Timeout: timeout})
	if err != nil {
		a.deviceFail(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/devices/"+id+"/commands/"+cmd.ID)
	a.respond(w, r, http.StatusAccepted, cmd)
}

// getCommand serves GET /v1/devices/{id}/commands/{cmd}.
func (a *API) getCommand(w http.ResponseWriter, r *http.Request) {
	dc, err := deviceCallFrom(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	cmd, err := a.deps.Devices.GetCommand(r.Context(), dc.env, dc.c, pathParam(r, "id"), pathParam(r, "cmd"))
	if err != nil {
		a.deviceFail(w, r, err)
		return
	}
	a.respond(w, r, http.StatusOK, cmd)
}

// listCommands serves GET /v1/devices/{id}/commands?status=&limit=&cursor=,
// newest first.
func (a *API) listCommands(w http.ResponseWriter, r *http.Request) {
	dc, err := deviceCallFrom(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	cq := iotbridge.CommandQuery{Status: iotbridge.CommandStatus(q.Get("status")), Cursor: q.Get("cursor")}
	if cq.Limit, err = queryLimit(q.Get("limit")); err != nil {
		a.fail(w, r, err)
		return
	}
	list, cursor, err := a.deps.Devices.ListCommands(r.Context(), dc.env, dc.c, pathParam(r, "id"), cq)
	if err != nil {
		a.deviceFail(w, r, err)
		return
	}
	a.respond(w, r, http.StatusOK, map[string]any{"items": list, "cursor": nullable(cursor)})
}
