package api_test

import (
	"net/http"
	"testing"
)

// TestAdminV1OverHTTP: an admin token reaches the environment's object,
// device and push routes as its server; viewers only read, deploy tokens
// not at all, and none of it is app traffic on the dashboard.
func TestAdminV1OverHTTP(t *testing.T) {
	t.Parallel()
	p := startPush(t)
	v1 := p.envPath + "/v1"
	var obj struct{ ID string }
	p.call(t, http.MethodPost, v1+"/collections/notes/objects", map[string]any{"_id": "n:1", "title": "hi"}, p.admin, http.StatusCreated, &obj)
	var list struct{ Items []map[string]any }
	p.call(t, http.MethodGet, v1+"/collections/notes/objects?limit=5", nil, p.admin, http.StatusOK, &list)
	if len(list.Items) != 1 || list.Items[0]["title"] != "hi" {
		t.Fatalf("list %+v", list)
	}
	p.call(t, http.MethodGet, v1+"/collections/notes/objects/n%3A1", nil, p.admin, http.StatusOK, nil)
	p.call(t, http.MethodPatch, v1+"/collections/notes/objects/n%3A1", map[string]any{"title": "ho"}, map[string]string{"Authorization": p.admin["Authorization"], "Content-Type": "application/merge-patch+json"}, http.StatusOK, nil)
	// The same object through the server key: one database.
	var got map[string]any
	p.call(t, http.MethodGet, "/v1/collections/notes/objects/n%3A1", nil, p.server, http.StatusOK, &got)
	if got["title"] != "ho" {
		t.Errorf("object through /v1: %v", got)
	}

	p.call(t, http.MethodPost, v1+"/devices", map[string]any{"id": "adm-dev-1"}, p.admin, http.StatusCreated, nil)
	var devs struct{ Items []struct{ ID string } }
	p.call(t, http.MethodGet, v1+"/devices", nil, p.admin, http.StatusOK, &devs)
	if len(devs.Items) != 1 || devs.Items[0].ID != "adm-dev-1" {
		t.Errorf("devices %+v", devs)
	}
	p.call(t, http.MethodPatch, v1+"/devices/adm-dev-1/shadow", map[string]any{"state": map[string]any{"desired": map[string]any{"led": "on"}}}, p.admin, http.StatusOK, nil)
	var shadow map[string]any
	p.call(t, http.MethodGet, v1+"/devices/adm-dev-1/shadow", nil, p.admin, http.StatusOK, &shadow)
	if st, _ := shadow["state"].(map[string]any); st == nil || st["desired"] == nil {
		t.Errorf("shadow %v", shadow)
	}

	// Telemetry is a device route too (the portal's chart).
	var tele struct{ Items []map[string]any }
	p.call(t, http.MethodGet, v1+"/devices/adm-dev-1/telemetry?limit=5", nil, p.admin, http.StatusOK, &tele)
	if tele.Items == nil {
		t.Errorf("telemetry through the admin API: %+v", tele)
	}
	p.call(t, http.MethodGet, v1+"/devices/adm-dev-1/telemetry?from=yesterday", nil, p.admin, http.StatusBadRequest, nil)

	var sent struct{ ID string }
	p.call(t, http.MethodPost, v1+"/push/send", map[string]any{"target": map[string]any{"topics": []string{"news"}}, "notification": map[string]any{"title": "Hi"}}, p.admin, http.StatusAccepted, &sent)
	p.call(t, http.MethodGet, v1+"/push/notifications/"+sent.ID, nil, p.admin, http.StatusOK, nil)

	p.call(t, http.MethodGet, v1+"/nope", nil, p.admin, http.StatusNotFound, nil)
	p.call(t, http.MethodGet, v1+"/flows/x", nil, p.admin, http.StatusNotFound, nil) // only objects, devices, push
	p.call(t, http.MethodGet, v1+"/devices", nil, nil, http.StatusUnauthorized, nil)
	p.call(t, http.MethodGet, "/admin/api/apps/"+p.app.ID+"/environments/nope/v1/devices", nil, p.admin, http.StatusNotFound, nil)

	// A viewer reads, never writes.
	p.call(t, http.MethodPost, "/admin/api/admins", map[string]any{"email": "viewer@example.com", "password": "viewer pass phrase 1", "role": "viewer"}, p.admin, http.StatusCreated, nil)
	var login struct{ Token string }
	p.call(t, http.MethodPost, "/admin/api/login", map[string]any{"email": "viewer@example.com", "password": "viewer pass phrase 1"}, nil, http.StatusOK, &login)
	viewer := map[string]string{"Authorization": "Bearer " + login.Token}
	p.call(t, http.MethodGet, v1+"/collections/notes/objects", nil, viewer, http.StatusOK, nil)
	p.call(t, http.MethodPost, v1+"/collections/notes/objects", map[string]any{"title": "no"}, viewer, http.StatusForbidden, nil)

	// A deploy token of the environment is refused.
	var tok struct{ Token string }
	p.call(t, http.MethodPost, p.envPath+"/deploy-tokens", map[string]string{"name": "ci"}, p.admin, http.StatusCreated, &tok)
	p.call(t, http.MethodGet, v1+"/devices", nil, map[string]string{"Authorization": "Bearer " + tok.Token}, http.StatusForbidden, nil)

	rep := getDashboard(t, p.s, p.envPath, p.admin, "5")
	for _, r := range rep.Routes { // the signups of startPush and the one server-key read
		if r.Route != "POST /v1/auth/signup" && r.Route != "GET /v1/collections/{col}/objects/{id}" {
			t.Errorf("admin calls counted as app traffic: %+v", r)
		}
	}
}
