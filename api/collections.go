package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/objectstore"
	"github.com/skybridgehq/skybridge/store"
)

// bindCollectionsAdmin binds the admin routes of the object store of one
// app environment: the collections' settings (rules, JSON Schema,
// indexes, sync conflict strategy, read cache) under .../collections, and
// the environment's own object settings under .../object-settings. The
// group's admin middleware authenticates and applies the role policy.
func (a *API) bindCollectionsAdmin(g chi.Router, spec *apiSpec) {
	const (
		base        = "/apps/{id}/environments/{env}"
		collections = base + "/collections"
		collection  = collections + "/{col}"
		envSettings = base + "/object-settings"
	)
	g.Get(collections, a.listCollectionSettings)
	g.Get(collection, a.getCollectionSettings)
	g.Put(collection, a.putCollectionSettings)
	g.Delete(collection, a.dropCollection)
	g.Get(envSettings, a.getObjectSettings)
	g.Put(envSettings, a.putObjectSettings)
	describeCollectionsAdmin(spec, "/admin/api"+collections, "/admin/api"+collection, "/admin/api"+envSettings)
}

// collectionSettingsRequest is the body of PUT .../collections/{col}
// (DESIGN.md §4). Every key is optional and an absent one keeps its
// value, the rules one by one; "schema": null removes the schema.
type collectionSettingsRequest struct {
	Rules    *rulesRequest   `json:"rules"`
	Schema   json.RawMessage `json:"schema"` // nil: absent; "null": remove
	Indexes  *[]indexJSON    `json:"indexes"`
	Conflict *string         `json:"conflict"`
	Cache    *cacheJSON      `json:"cache"`
}

type rulesRequest struct {
	Read   *string `json:"read"`
	Create *string `json:"create"`
	Update *string `json:"update"`
	Delete *string `json:"delete"`
}

// indexJSON is a declared index, in requests and answers.
type indexJSON struct {
	Name   string   `json:"name,omitempty"`
	Fields []string `json:"fields"`
	Unique bool     `json:"unique"`
}

// cacheJSON is the read cache setting; TTL is a Go duration ("30s",
// "5m"), "0s" for none.
type cacheJSON struct {
	TTL *string `json:"ttl"`
}

// collectionSettingsJSON is a collection's settings as the admin API
// shows them.
type collectionSettingsJSON struct {
	Name      string            `json:"name"`
	Rules     objectstore.Rules `json:"rules"`
	Schema    json.RawMessage   `json:"schema"` // null when there is none
	Indexes   []indexJSON       `json:"indexes"`
	Conflict  string            `json:"conflict"`
	Cache     cacheJSON         `json:"cache"`
	CreatedAt time.Time         `json:"createdAt"`
	UpdatedAt time.Time         `json:"updatedAt"`
}

// objectSettingsJSON is the body and answer of .../object-settings.
type objectSettingsJSON struct {
	AllowClientCreate *bool `json:"allowClientCreate"`
}

func toCollectionSettingsJSON(s objectstore.Settings) collectionSettingsJSON {
	ttl := s.CacheTTL.String()
	out := collectionSettingsJSON{
		Name: s.Name, Rules: s.Rules, Schema: s.Schema, Indexes: make([]indexJSON, 0, len(s.Indexes)),
		Conflict: s.Conflict, Cache: cacheJSON{TTL: &ttl}, CreatedAt: s.CreatedAt.UTC(), UpdatedAt: s.UpdatedAt.UTC(),
	}
	if len(bytes.TrimSpace(out.Schema)) == 0 {
		out.Schema = json.RawMessage("null")
	}
	for _, idx := range s.Indexes {
		out.Indexes = append(out.Indexes, indexJSON{Name: idx.IndexName(), Fields: idx.Fields, Unique: idx.Unique})
	}
	return out
}

// patch turns the request into an objectstore.SettingsPatch, refusing
// (all at once, each by name) the rules, indexes and cache TTL it can
// check without the store; the schema and conflict strategy are checked
// by the object store.
func (req collectionSettingsRequest) patch() (objectstore.SettingsPatch, error) {
	var p objectstore.SettingsPatch
	var errs []error
	if r := req.Rules; r != nil {
		for _, f := range []struct {
			name string
			v    *string
		}{{"rules.read", r.Read}, {"rules.create", r.Create}, {"rules.update", r.Update}, {"rules.delete", r.Delete}} {
			if f.v != nil && objectstore.ValidRule(*f.v) != nil {
				errs = append(errs, onField(f.name, fmt.Errorf("%w: %q is not a rule (public, authenticated, owner, server or role:<name>)", ErrInvalidInput, *f.v)))
			}
		}
		p.Rules = &objectstore.RulesPatch{Read: r.Read, Create: r.Create, Update: r.Update, Delete: r.Delete}
	}
	if req.Schema != nil {
		schema := req.Schema
		p.Schema = &schema
	}
	if req.Indexes != nil {
		idxs := make([]store.Index, 0, len(*req.Indexes))
		for i, ix := range *req.Indexes {
			idx := store.Index{Name: ix.Name, Fields: ix.Fields, Unique: ix.Unique}
			if idx.Name != "" {
				if err := (store.Index{Name: idx.Name, Fields: []string{"x"}}).Validate(); err != nil {
					errs = append(errs, onField(fmt.Sprintf("indexes[%d].name", i), fmt.Errorf("%w: %q is not an index name (a letter or '_', then up to 63 letters, digits or '_')", ErrInvalidInput, idx.Name)))
				}
			}
			if err := (store.Index{Fields: idx.Fields}).Validate(); err != nil {
				errs = append(errs, onField(fmt.Sprintf("indexes[%d].fields", i), fmt.Errorf("%w: %v", ErrInvalidInput, err)))
			}
			idxs = append(idxs, idx)
		}
		p.Indexes = &idxs
	}
	p.Conflict = req.Conflict
	if req.Cache != nil && req.Cache.TTL != nil {
		ttl, err := time.ParseDuration(*req.Cache.TTL)
		if err != nil {
			errs = append(errs, onField("cache.ttl", fmt.Errorf("%w: %q is not a duration such as \"30s\" or \"5m\"", ErrInvalidInput, *req.Cache.TTL)))
		}
		p.CacheTTL = &ttl
	}
	return p, errors.Join(errs...)
}

// objectEnvironment resolves the admin route's environment for the
// object store and notes it for the audit trail.
func (a *API) objectEnvironment(r *http.Request) (auth.Environment, objectstore.Env, error) {
	env, err := a.auditedAdminEnv(r)
	if err != nil {
		return auth.Environment{}, objectstore.Env{}, err
	}
	return env, objectstore.Env{DB: env.DB}, nil
}

// settingsFail answers with the problem for an error of the settings
// routes: an object store *FieldError names its field, and a missing
// collection is a 404 here (on /v1 it means a refused creation).
func (a *API) settingsFail(w http.ResponseWriter, r *http.Request, err error) {
	var fe *objectstore.FieldError
	switch {
	case errors.As(err, &fe):
		err = onField(fe.Field, fe.Err)
	case errors.Is(err, objectstore.ErrCollectionNotFound):
		err = fmt.Errorf("%w: collection %q", objectstore.ErrNotFound, pathParam(r, "col"))
	}
	a.fail(w, r, err)
}

// listCollectionSettings serves GET .../collections: every collection's
// settings, by name.
func (a *API) listCollectionSettings(w http.ResponseWriter, r *http.Request) {
	_, env, err := a.objectEnvironment(r)
	if err != nil {
		a.settingsFail(w, r, err)
		return
	}
	list, err := a.deps.Objects.ListCollections(r.Context(), env)
	if err != nil {
		a.settingsFail(w, r, err)
		return
	}
	items := make([]collectionSettingsJSON, 0, len(list))
	for _, s := range list {
		items = append(items, toCollectionSettingsJSON(s))
	}
	a.respond(w, r, http.StatusOK, map[string]any{"items": items})
}

// getCollectionSettings serves GET .../collections/{col}.
func (a *API) getCollectionSettings(w http.ResponseWriter, r *http.Request) {
	_, env, err := a.objectEnvironment(r)
	if err != nil {
		a.settingsFail(w, r, err)
		return
	}
	s, err := a.deps.Objects.GetSettings(r.Context(), env, pathParam(r, "col"))
	if err != nil {
		a.settingsFail(w, r, err)
		return
	}
	a.respond(w, r, http.StatusOK, toCollectionSettingsJSON(s))
}

// putCollectionSettings serves PUT .../collections/{col}: it changes the
// keys the body names, creating the collection when it is missing, and
// answers with the whole settings.
func (a *API) putCollectionSettings(w http.ResponseWriter, r *http.Request) {
	_, env, err := a.objectEnvironment(r)
	if err != nil {
		a.settingsFail(w, r, err)
		return
	}
	var req collectionSettingsRequest
	if err := decodeJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	patch, err := req.patch()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	s, err := a.deps.Objects.PutSettings(r.Context(), env, pathParam(r, "col"), patch)
	if err != nil {
		a.settingsFail(w, r, err)
		return
	}
	a.respond(w, r, http.StatusOK, toCollectionSettingsJSON(s))
}

// dropCollection serves DELETE .../collections/{col}: the collection's
// objects, indexes and settings are deleted (204).
func (a *API) dropCollection(w http.ResponseWriter, r *http.Request) {
	_, env, err := a.objectEnvironment(r)
	if err != nil {
		a.settingsFail(w, r, err)
		return
	}
	if err := a.deps.Objects.DropCollection(r.Context(), env, pathParam(r, "col")); err != nil {
		a.settingsFail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// getObjectSettings serves GET .../object-settings.
func (a *API) getObjectSettings(w http.ResponseWriter, r *http.Request) {
	env, _, err := a.objectEnvironment(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	s, err := a.deps.Objects.EnvSettings(r.Context(), env.DB, env.Name)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.respond(w, r, http.StatusOK, objectSettingsJSON{AllowClientCreate: &s.AllowClientCreate})
}

// putObjectSettings serves PUT .../object-settings; an absent key keeps
// its value.
func (a *API) putObjectSettings(w http.ResponseWriter, r *http.Request) {
	env, _, err := a.objectEnvironment(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var req objectSettingsJSON
	if err := decodeJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	s, err := a.deps.Objects.PutEnvSettings(r.Context(), env.DB, env.Name, objectstore.EnvSettingsPatch{AllowClientCreate: req.AllowClientCreate})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.respond(w, r, http.StatusOK, objectSettingsJSON{AllowClientCreate: &s.AllowClientCreate})
}

// describeCollectionsAdmin registers the collection settings routes in
// the OpenAPI document.
func describeCollectionsAdmin(spec *apiSpec, collections, collection, envSettings string) {
	rule := map[string]any{"type": "string", "pattern": "^(public|authenticated|owner|server|role:[a-z][a-z0-9_-]{0,31})$",
		"description": "public, authenticated, owner (the object's _owner and whom its _acl names), server (the server key only) or role:<name>."}
	spec.schema("CollectionRules", object(map[string]any{
		"read": rule, "create": rule, "update": rule, "delete": rule,
	}, "read", "create", "update", "delete"))
	spec.schema("CollectionRulesPatch", strictObject(map[string]any{
		"read": rule, "create": rule, "update": rule, "delete": rule,
	}))
	spec.schema("CollectionIndex", strictObject(map[string]any{
		"name":   str("The index name; derived from the fields when absent."),
		"fields": map[string]any{"type": "array", "minItems": 1, "maxItems": 8, "items": str("A dotted path; a leading '-' makes it descending.")},
		"unique": boolean("Refuse two objects with the same values in fields (409)."),
	}, "fields"))
	conflict := enumOf(objectstore.ConflictReject, objectstore.ConflictServerWins, objectstore.ConflictClientWins,
		objectstore.ConflictLastWriteWins, objectstore.ConflictMergeFields)
	conflict["description"] = "The offline sync conflict strategy."
	ttl := str("How long reads may be cached, as a Go duration (\"30s\", \"5m\"); 0s for none; at most 24h.")
	schema := map[string]any{"type": []string{"object", "boolean", "null"},
		"description": "A JSON Schema (draft 2020-12) every object write is checked against; null removes it."}
	spec.schema("CollectionSettingsRequest", strictObject(map[string]any{
		"rules":    ref("CollectionRulesPatch"),
		"schema":   schema,
		"indexes":  map[string]any{"type": "array", "maxItems": 16, "items": ref("CollectionIndex"), "description": "The declared indexes; replaces the list."},
		"conflict": conflict,
		"cache":    strictObject(map[string]any{"ttl": ttl}),
	}))
	spec.schema("CollectionSettings", object(map[string]any{
		"name":      str("The collection name."),
		"rules":     ref("CollectionRules"),
		"schema":    schema,
		"indexes":   arrayOf(ref("CollectionIndex")),
		"conflict":  conflict,
		"cache":     object(map[string]any{"ttl": ttl}, "ttl"),
		"createdAt": dateTime("When the collection was created."),
		"updatedAt": dateTime("When its settings last changed."),
	}, "name", "rules", "schema", "indexes", "conflict", "cache", "createdAt", "updatedAt"))
	spec.schema("CollectionSettingsList", object(map[string]any{
		"items": arrayOf(ref("CollectionSettings")),
	}, "items"))
	spec.schema("ObjectSettings", strictObject(map[string]any{
		"allowClientCreate": boolean("Whether a client's first write to a missing collection creates it (Parse's allowClientClassCreation). Default: true in dev, false elsewhere."),
	}))

	admin := []string{schemeBearer}
	spec.route(http.MethodGet, collections, operation{
		ID: "listCollections", Tag: "objects-admin", Summary: "List the settings of every collection of an environment.", Security: admin,
		Responses: []response{{Status: 200, Description: "The collections, by name.", Schema: "CollectionSettingsList"}},
		Problems:  []int{401, 403, 404},
	})
	spec.route(http.MethodGet, collection, operation{
		ID: "getCollection", Tag: "objects-admin", Summary: "Get a collection's settings.", Security: admin,
		Responses: []response{{Status: 200, Description: "The settings.", Schema: "CollectionSettings"}},
		Problems:  []int{400, 401, 403, 404},
	})
	spec.route(http.MethodPut, collection, operation{
		ID: "putCollection", Tag: "objects-admin", Summary: "Change a collection's settings, creating it when missing; absent keys (and rules) keep their value.", Security: admin,
		Request:   "CollectionSettingsRequest",
		Responses: []response{{Status: 200, Description: "The whole settings after the change.", Schema: "CollectionSettings"}},
		Problems:  []int{400, 401, 403, 404, 409},
	})
	spec.route(http.MethodDelete, collection, operation{
		ID: "dropCollection", Tag: "objects-admin", Summary: "Delete a collection: its objects, indexes and settings.", Security: admin,
		Responses: []response{{Status: 204, Description: "Deleted."}},
		Problems:  []int{400, 401, 403, 404},
	})
	spec.route(http.MethodGet, envSettings, operation{
		ID: "getObjectSettings", Tag: "objects-admin", Summary: "Get the environment's object store settings.", Security: admin,
		Responses: []response{{Status: 200, Description: "The settings.", Schema: "ObjectSettings"}},
		Problems:  []int{401, 403, 404},
	})
	spec.route(http.MethodPut, envSettings, operation{
		ID: "putObjectSettings", Tag: "objects-admin", Summary: "Change the environment's object store settings; absent keys keep their value.", Security: admin,
		Request:   "ObjectSettings",
		Responses: []response{{Status: 200, Description: "The whole settings after the change.", Schema: "ObjectSettings"}},
		Problems:  []int{400, 401, 403, 404},
	})
}
