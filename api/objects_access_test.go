package api

import (
	"encoding/json"
	"net/url"
	"testing"
)

// listQuery is a list path with query parameters given as name/value
// pairs.
func listQuery(col string, kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return objectsPath(col) + "?" + v.Encode()
}

// listIDs lists col as c (one page of up to 1000) and returns the ids.
func (o *objEnv) listIDs(t *testing.T, c caller, col string) map[string]bool {
	t.Helper()
	var page struct {
		Items []map[string]any `json:"items"`
	}
	r := o.call(t, c, "GET", objectsPath(col)+"?limit=1000", nil).want(t, 200)
	if err := json.Unmarshal(r.body, &page); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, it := range page.Items {
		ids[it["_id"].(string)] = true
	}
	return ids
}

func testObjectUserIsolation(t *testing.T, o *objEnv) {
	ada, bob := o.user("dev", "ada"), o.user("dev", "bob")
	col := "private"
	adas := o.call(t, ada, "POST", objectsPath(col), map[string]any{"_id": "ada-1", "secret": "a"}).want(t, 201).header.Get("Location")
	o.call(t, bob, "POST", objectsPath(col), map[string]any{"_id": "bob-1", "secret": "b"}).want(t, 201)

	// Another user's object does not exist for bob: 404 on every route,
	// absent from his lists, and nothing he sends changes it.
	o.call(t, bob, "GET", adas, nil).problem(t, 404, "")
	o.call(t, bob, "PUT", adas, map[string]any{"secret": "stolen"}).problem(t, 404, "")
	o.call(t, bob, "PATCH", adas, map[string]any{"secret": "stolen"}).problem(t, 404, "")
	o.call(t, bob, "DELETE", adas, nil).problem(t, 404, "")
	o.call(t, bob, "GET", adas, nil, "If-None-Match", "*").problem(t, 404, "")
	if ids := o.listIDs(t, bob, col); ids["ada-1"] || !ids["bob-1"] || len(ids) != 1 {
		t.Fatalf("bob lists %v", ids)
	}
	if ids := o.listIDs(t, ada, col); !ids["ada-1"] || ids["bob-1"] || len(ids) != 1 {
		t.Fatalf("ada lists %v", ids)
	}
	// A filter on another owner finds nothing either.
	r := o.call(t, bob, "GET", listQuery(col, "filter", `{"_owner":"`+ada.id+`"}`, "count", "true"), nil).want(t, 200)
	if got := r.object(t); len(got["items"].([]any)) != 0 || num(t, got["count"]) != 0 {
		t.Fatalf("bob filtering on ada's objects: %s", r.body)
	}
	if got := o.call(t, ada, "GET", adas, nil).want(t, 200).object(t); got["secret"] != "a" || num(t, got["_v"]) != 1 {
		t.Fatalf("ada's object after bob's tries: %v", got)
	}

	// Sharing through _acl: read lets bob see it but not write it (403,
	// since he knows it exists).
	o.call(t, ada, "PATCH", adas, map[string]any{"_acl": map[string]any{"read": []string{bob.id}}}).want(t, 200)
	o.call(t, bob, "GET", adas, nil).want(t, 200)
	o.call(t, bob, "PUT", adas, map[string]any{"secret": "stolen"}).problem(t, 403, "")
	o.call(t, bob, "DELETE", adas, nil).problem(t, 403, "")
	if ids := o.listIDs(t, bob, col); !ids["ada-1"] || !ids["bob-1"] {
		t.Fatalf("bob lists %v after the share", ids)
	}
	o.call(t, ada, "PATCH", adas, map[string]any{"_acl": map[string]any{"write": []string{bob.id}, "read": []string{bob.id}}}).want(t, 200)
	got := o.call(t, bob, "PATCH", adas, map[string]any{"note": "by bob"}).want(t, 200).object(t)
	if got["_owner"] != ada.id || got["note"] != "by bob" {
		t.Fatalf("bob's write through the ACL: %v", got)
	}
}

func testObjectEnvironmentIsolation(t *testing.T, o *objEnv) {
	devUser, stageUser := o.user("dev", "dev"), o.user("stage", "stage")
	col := "shared"
	// The collection exists in stage through the server key.
	o.call(t, o.server("stage"), "POST", objectsPath(col), map[string]any{"_id": "same", "_owner": stageUser.id, "where": "stage"}).want(t, 201)
	o.call(t, devUser, "POST", objectsPath(col), map[string]any{"_id": "same", "where": "dev"}).want(t, 201)
	if got := o.call(t, devUser, "GET", objectPath(col, "same"), nil).want(t, 200).object(t); got["where"] != "dev" || got["_owner"] != devUser.id {
		t.Fatalf("dev reads %v", got)
	}
	if got := o.call(t, stageUser, "GET", objectPath(col, "same"), nil).want(t, 200).object(t); got["where"] != "stage" {
		t.Fatalf("stage reads %v", got)
	}
	o.call(t, devUser, "DELETE", objectPath(col, "same"), nil).want(t, 204)
	o.call(t, stageUser, "GET", objectPath(col, "same"), nil).want(t, 200)

	// A dev token is no token on stage, a dev server key no server key.
	devOnStage := caller{env: "stage", token: devUser.token}
	o.call(t, devOnStage, "GET", objectPath(col, "same"), nil).problem(t, 401, "")
	o.call(t, devOnStage, "POST", objectsPath(col), map[string]any{"x": 1}).problem(t, 401, "")
	_, devServerKey := o.app.keys(t, "dev")
	o.call(t, caller{env: "stage", server: true, srvKey: devServerKey}, "GET", objectPath(col, "same"), nil).problem(t, 401, "")

	// Another app's server key reaches only its own database.
	otherKey, otherServer := o.other.keys(t, "stage")
	other := caller{env: "stage", server: true, appKey: otherKey, srvKey: otherServer}
	o.call(t, other, "GET", objectPath(col, "same"), nil).problem(t, 404, "")
	if ids := o.listIDs(t, other, col); len(ids) != 0 {
		t.Fatalf("another app lists %v", ids)
	}
}

func testObjectServerKeyAndAnonymous(t *testing.T, o *objEnv) {
	ada := o.user("dev", "ada")
	srv, anon := o.server("dev"), o.anon("dev")
	col := "guarded"
	loc := o.call(t, ada, "POST", objectsPath(col), map[string]any{"_id": "g1", "n": 1}).want(t, 201).header.Get("Location")

	// The server key bypasses the rules: it reads, lists, writes and
	// deletes any object, and may set the owner.
	o.call(t, srv, "GET", loc, nil).want(t, 200)
	if ids := o.listIDs(t, srv, col); !ids["g1"] {
		t.Fatalf("the server key lists %v", ids)
	}
	o.call(t, srv, "PATCH", loc, map[string]any{"n": 2}).want(t, 200)
	made := o.call(t, srv, "POST", objectsPath(col), map[string]any{"_owner": ada.id, "n": 3}).want(t, 201).object(t)
	if made["_owner"] != ada.id {
		t.Fatalf("server-made object %v", made)
	}
	unowned := o.call(t, srv, "POST", objectsPath(col), map[string]any{"n": 4}).want(t, 201).object(t)
	if _, has := unowned["_owner"]; has {
		t.Fatalf("the server key's object has an owner: %v", unowned)
	}
	if ids := o.listIDs(t, ada, col); !ids[made["_id"].(string)] || ids[unowned["_id"].(string)] {
		t.Fatalf("ada lists %v", ids)
	}
	o.call(t, srv, "DELETE", loc, nil).want(t, 204)

	// Anonymous callers (app key only): create needs a user (401 with a
	// challenge), owned objects do not exist for them, lists are empty.
	r := o.call(t, anon, "POST", objectsPath(col), map[string]any{"n": 5})
	r.problem(t, 401, "")
	if r.header.Get("WWW-Authenticate") == "" {
		t.Errorf("the 401 has no challenge")
	}
	o.call(t, anon, "GET", objectPath(col, made["_id"].(string)), nil).problem(t, 404, "")
	if ids := o.listIDs(t, anon, col); len(ids) != 0 {
		t.Fatalf("anonymous lists %v", ids)
	}
	// Unless an object's _acl names everyone.
	o.call(t, ada, "POST", objectsPath(col), map[string]any{"_id": "open", "_acl": map[string]any{"read": []string{"*"}}}).want(t, 201)
	o.call(t, anon, "GET", objectPath(col, "open"), nil).want(t, 200)
	if ids := o.listIDs(t, anon, col); !ids["open"] || len(ids) != 1 {
		t.Fatalf("anonymous lists %v", ids)
	}
	// Writing it needs a user: a 401 asks the anonymous caller to sign in.
	o.call(t, anon, "DELETE", objectPath(col, "open"), nil).problem(t, 401, "")
}

func testObjectCollectionCreation(t *testing.T, o *objEnv) {
	devUser, prodUser := o.user("dev", "dev"), o.user("prod", "prod")
	// dev: a client's first write creates the collection.
	o.call(t, devUser, "POST", objectsPath("fresh"), map[string]any{"n": 1}).want(t, 201)
	// prod: refused, until the server key (or an admin) creates it.
	p := o.call(t, prodUser, "POST", objectsPath("fresh"), map[string]any{"n": 1}).problem(t, 403, "")
	if p.Type != problemTypePrefix+"collection-creation-refused" {
		t.Fatalf("problem %+v", p)
	}
	o.call(t, prodUser, "GET", objectsPath("fresh"), nil).want(t, 200)
	o.call(t, o.server("prod"), "POST", objectsPath("fresh"), map[string]any{"n": 2}).want(t, 201)
	o.call(t, prodUser, "POST", objectsPath("fresh"), map[string]any{"n": 3}).want(t, 201)
}
