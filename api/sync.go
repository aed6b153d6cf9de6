package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/skybridgehq/skybridge/audit"
	"github.com/skybridgehq/skybridge/objectstore"
	"github.com/skybridgehq/skybridge/store"
	skysync "github.com/skybridgehq/skybridge/sync"
)

// bindSync binds the offline sync routes: POST /v1/sync/pull, /push and
// /check (DESIGN.md §5). They run behind the app key and user session
// middleware, as the object routes do, with the same caller.
func (a *API) bindSync(keyed chi.Router, spec *apiSpec) {
	keyed.Post("/sync/pull", a.syncPull)
	keyed.Post("/sync/push", a.syncPush)
	keyed.Post("/sync/check", a.syncCheck)
	describeSync(spec)
}

// syncFail maps a sync error as objectFail does object errors.
func (a *API) syncFail(w http.ResponseWriter, r *http.Request, err error) {
	var fe *objectstore.FieldError
	if errors.As(err, &fe) && !errors.Is(err, objectstore.ErrForbidden) {
		a.fail(w, r, onField(fe.Field, fe.Err))
		return
	}
	a.objectFail(w, r, err)
}

// syncPull serves POST /v1/sync/pull.
func (a *API) syncPull(w http.ResponseWriter, r *http.Request) {
	call, err := a.objectCallFrom(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var req skysync.PullRequest
	if err := decodeJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.deps.Sync.Pull(r.Context(), call.env, call.p, req)
	if err != nil {
		a.syncFail(w, r, err)
		return
	}
	a.respond(w, r, http.StatusOK, res)
}

// syncPush serves POST /v1/sync/push: 200 with applied, conflicts and
// rejected changes. Every conflict, with its resolution, is recorded in
// the audit trail as its own record.
func (a *API) syncPush(w http.ResponseWriter, r *http.Request) {
	call, err := a.objectCallFrom(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var req skysync.PushRequest
	if err := decodeJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	start := time.Now()
	res, err := a.deps.Sync.Push(r.Context(), call.env, call.p, req)
	for _, c := range res.Conflicts {
		a.auditConflict(r, req.Collection, c.ID, "sync.conflict."+c.Resolution, http.StatusConflict, start)
	}
	for _, ap := range res.Applied {
		if ap.Resolution != "" {
			a.auditConflict(r, req.Collection, ap.ID, "sync.conflict."+ap.Resolution, http.StatusOK, start)
		}
	}
	if err != nil {
		a.syncFail(w, r, err)
		return
	}
	a.respond(w, r, http.StatusOK, res)
}

// syncCheck serves POST /v1/sync/check.
func (a *API) syncCheck(w http.ResponseWriter, r *http.Request) {
	call, err := a.objectCallFrom(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var req skysync.CheckRequest
	if err := decodeJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.deps.Sync.Check(r.Context(), call.env, call.p, req)
	if err != nil {
		a.syncFail(w, r, err)
		return
	}
	a.respond(w, r, http.StatusOK, res)
}

// auditConflict records one sync conflict and how it was resolved, with
// the app, environment and actor of the push.
func (a *API) auditConflict(r *http.Request, col, id, action string, status int, start time.Time) {
	if a.deps.Audit == nil {
		return
	}
	note := noteFrom(r.Context())
	if note == nil {
		return
	}
	ctx := context.WithoutCancel(r.Context())
	_ = a.deps.Audit.Record(ctx, audit.Record{
		Time:       start,
		App:        note.app,
		Env:        note.env,
		Actor:      note.actor,
		AppVersion: clip(r.Header.Get("X-App-Version"), 64),
		UserAgent:  clip(r.Header.Get("User-Agent"), 256),
		IP:         clientHost(r),
		Method:     r.Method,
		Route:      "/v1/sync/push",
		Resource:   clip(strings.Join([]string{"collections", col, "objects", id}, "/"), 512),
		Action:     action,
		Status:     status,
		LatencyMs:  float64(time.Since(start).Microseconds()) / 1000,
		RequestID:  RequestIDFrom(r.Context()),
	})
}

func describeSync(spec *apiSpec) {
	spec.schema("SyncPullRequest", strictObject(map[string]any{
		"collections": map[string]any{"type": "object", "description": "Collection name → {checkpoint, limit (default 100, max 1000), filter | scope}.",
			"additionalProperties": strictObject(map[string]any{
				"checkpoint": str("The opaque checkpoint of the previous pull; absent on the first."),
				"limit":      integer("At most this many documents. Default: 100; max 1000."),
				"filter":     map[string]any{"type": "object", "description": "A filter in the object list filter language."},
				"scope":      str("A prefetch scope of the collection, instead of filter."),
			})},
	}, "collections"))
	spec.schema("SyncPullResult", object(map[string]any{
		"collections": map[string]any{"type": "object", "additionalProperties": object(map[string]any{
			"documents":  arrayOf(ref("Object")),
			"checkpoint": str("Where the next pull continues."),
			"hasMore":    boolean("More changes wait past checkpoint."),
		})},
	}, "collections"))
	spec.schema("SyncPushRequest", strictObject(map[string]any{
		"collection": str("The collection."),
		"changes": arrayOf(strictObject(map[string]any{
			"id":          str("The object's _id."),
			"baseVersion": integer("The _v the change was made on; 0 for a new object."),
			"doc":         map[string]any{"type": "object", "description": "The new content."},
			"deleted":     boolean("Delete the object."),
			"clientTime":  dateTime("When the edit was made on the device (last-write-wins)."),
			"changeId":    str("Makes the change idempotent: a replay gets the first result."),
		}, "id", "baseVersion")),
	}, "collection", "changes"))
	spec.schema("SyncPushResult", object(map[string]any{
		"applied":   arrayOf(object(map[string]any{"id": str("The object."), "_v": integer("Its new version."), "_seq": integer("Its change sequence."), "resolution": str("Set when the change conflicted and won.")})),
		"conflicts": arrayOf(object(map[string]any{"id": str("The object."), "server": ref("Object"), "resolution": enumOf("rejected", "server-wins", "merged")})),
		"rejected":  arrayOf(object(map[string]any{"id": str("The object."), "error": str("Why the object store refused it.")})),
	}, "applied", "conflicts"))
	spec.schema("SyncCheckRequest", strictObject(map[string]any{
		"collection": str("The collection."),
		"known":      arrayOf(map[string]any{"type": "array", "description": "[id, _v]"}),
	}, "collection", "known"))
	spec.schema("SyncCheckResult", object(map[string]any{
		"changed": arrayOf(str("An id whose _v moved on.")),
		"deleted": arrayOf(str("An id deleted since (or no longer readable).")),
	}, "changed", "deleted"))
	key := []string{schemeAppKey}
	spec.route(http.MethodPost, "/v1/sync/pull", operation{
		ID: "syncPull", Tag: "sync", Security: key, Request: "SyncPullRequest",
		Summary:   "Pull the changes of several collections after their checkpoints, tombstones included, in _seq order.",
		Responses: []response{{Status: 200, Description: "One batch per collection.", Schema: "SyncPullResult"}},
		Problems:  []int{400, 401, 403, 410},
	})
	spec.route(http.MethodPost, "/v1/sync/push", operation{
		ID: "syncPush", Tag: "sync", Security: key, Request: "SyncPushRequest",
		Summary:   "Push offline changes; conflicts are resolved by the collection's strategy and answered with 200.",
		Responses: []response{{Status: 200, Description: "Applied, conflicting and rejected changes.", Schema: "SyncPushResult"}},
		Problems:  []int{400, 401, 403},
	})
	spec.route(http.MethodPost, "/v1/sync/check", operation{
		ID: "syncCheck", Tag: "sync", Security: key, Request: "SyncCheckRequest",
		Summary:   "Say which of the client's known (id, _v) pairs changed or were deleted.",
		Responses: []response{{Status: 200, Description: "The stale ids.", Schema: "SyncCheckResult"}},
		Problems:  []int{400, 401, 403},
	})
}

// syncScope resolves the sync scope a realtime subscription names into
// its filter for the connection's caller.
func (c *rtConn) syncScope(ctx context.Context, m rtClientMessage) (store.Filter, error) {
	if c.a.deps.Sync == nil {
		return nil, onField("scope", fmt.Errorf("%w: sync is not served here", ErrInvalidInput))
	}
	f, err := c.a.deps.Sync.ScopeFilter(ctx, c.id.env, c.id.p, m.Collection, m.Scope)
	if err != nil {
		if errors.Is(err, objectstore.ErrForbidden) {
			return nil, objectstoreErr(err)
		}
		return nil, onField("scope", fmt.Errorf("%w: %v", ErrInvalidInput, err))
	}
	return f, nil
}

// syncScopesPath is the admin route of a collection's prefetch scopes.
const syncScopesPath = "/apps/{id}/environments/{env}/collections/{col}/scopes"

// bindSyncAdmin binds GET and PUT of a collection's sync prefetch scopes
// under /admin/api.
func (a *API) bindSyncAdmin(g chi.Router, spec *apiSpec) {
	g.Get(syncScopesPath, a.getSyncScopes)
	g.Put(syncScopesPath, a.putSyncScopes)
	spec.schema("SyncScopes", strictObject(map[string]any{
		"scopes": map[string]any{"type": "object", "description": "Scope name → filter in the object list filter language; the string ${user.id} stands for the caller's user id.",
			"additionalProperties": map[string]any{"type": "object"}},
	}, "scopes"))
	admin := []string{schemeBearer}
	spec.route(http.MethodGet, "/admin/api"+syncScopesPath, operation{
		ID: "getSyncScopes", Tag: "objects-admin", Summary: "Get a collection's sync prefetch scopes.", Security: admin,
		Responses: []response{{Status: 200, Description: "The scopes.", Schema: "SyncScopes"}},
		Problems:  []int{400, 401, 403, 404},
	})
	spec.route(http.MethodPut, "/admin/api"+syncScopesPath, operation{
		ID: "putSyncScopes", Tag: "objects-admin", Summary: "Replace a collection's sync prefetch scopes.", Security: admin,
		Request:   "SyncScopes",
		Responses: []response{{Status: 200, Description: "The scopes.", Schema: "SyncScopes"}},
		Problems:  []int{400, 401, 403, 404},
	})
}

type syncScopesJSON struct {
	Scopes skysync.Scopes `json:"scopes"`
}

func (a *API) getSyncScopes(w http.ResponseWriter, r *http.Request) {
	_, env, err := a.objectEnvironment(r)
	if err != nil {
		a.settingsFail(w, r, err)
		return
	}
	sc, err := a.deps.Sync.GetScopes(r.Context(), env, pathParam(r, "col"))
	if err != nil {
		a.settingsFail(w, r, err)
		return
	}
	a.respond(w, r, http.StatusOK, syncScopesJSON{Scopes: sc})
}

func (a *API) putSyncScopes(w http.ResponseWriter, r *http.Request) {
	_, env, err := a.objectEnvironment(r)
	if err != nil {
		a.settingsFail(w, r, err)
		return
	}
	var req syncScopesJSON
	if err := decodeJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	sc, err := a.deps.Sync.SetScopes(r.Context(), env, pathParam(r, "col"), req.Scopes)
	if err != nil {
		a.settingsFail(w, r, err)
		return
	}
	a.respond(w, r, http.StatusOK, syncScopesJSON{Scopes: sc})
}
