package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/skybridgehq/skybridge/audit"
)

// bindAudit serves the audit trail to admins: GET /admin/api/audit with
// the filters of audit.ParseQuery (app, env, actor, resource, action,
// from, to, limit, cursor), as a JSON page or, with format=ndjson, as
// newline-delimited JSON of every matching record.
func (a *API) bindAudit(g chi.Router, spec *apiSpec) {
	if a.deps.Audit == nil {
		return
	}
	g.Get("/audit", a.listAudit)
	g.Get("/apps/{id}/environments/{env}/audit/retention", a.getAuditRetention)
	g.Put("/apps/{id}/environments/{env}/audit/retention", a.putAuditRetention)
	describeAuditRetention(spec)
	spec.schema("AuditRecord", object(map[string]any{
		"time":       dateTime("When the request arrived."),
		"app":        str("The app id."),
		"env":        str("The environment."),
		"actor":      object(map[string]any{"kind": enumOf(audit.ActorUser, audit.ActorAdmin, audit.ActorServer, audit.ActorDevice, audit.ActorAnonymous, audit.ActorDeployToken), "id": str("Who.")}, "kind"),
		"appVersion": str("X-App-Version of the client."),
		"userAgent":  str("User-Agent of the client."),
		"ip":         str("The client address."),
		"method":     str("The HTTP method."),
		"route":      str("The route pattern, e.g. /v1/auth/login."),
		"resource":   str("What was touched, as a slash path."),
		"action":     str("read, create, update or delete."),
		"status":     integer("The HTTP status answered."),
		"latencyMs":  map[string]any{"type": "number", "description": "How long the request took."},
		"requestId":  str("X-Request-Id of the request."),
		"chain":      str("The hash chain the record belongs to."),
		"n":          integer("The record's position in its chain."),
		"prev":       str("The hash of the previous record."),
		"hash":       str("This record's hash."),
	}, "time", "actor", "method", "route", "status", "chain", "n", "prev", "hash"))
	spec.schema("AuditPage", object(map[string]any{
		"items":  arrayOf(ref("AuditRecord")),
		"cursor": str("Continues after the last item; absent on the last page."),
	}, "items"))
	spec.route(http.MethodGet, "/admin/api/audit", operation{
		ID: "listAudit", Tag: "admin", Summary: "Query the audit trail (app, env, actor=kind[:id], resource, action, from, to, limit, cursor; format=ndjson exports).",
		Security: []string{schemeBearer},
		Responses: []response{
			{Status: 200, Description: "Matching records, newest first.", Schema: "AuditPage"},
		},
		Problems: []int{400, 401},
	})
}

func (a *API) listAudit(w http.ResponseWriter, r *http.Request) {
	params := r.URL.Query()
	ndjson := params.Get("format") == "ndjson"
	params.Del("format")
	q, err := audit.ParseQuery(params)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if ndjson {
		w.Header().Set("Content-Type", "application/x-ndjson")
		if err := a.deps.Audit.Export(r.Context(), q, w); err != nil {
			a.log.Error("audit export failed", "err", err, "requestId", RequestIDFrom(r.Context()))
		}
		return
	}
	page, err := a.deps.Audit.Query(r.Context(), q)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.respond(w, r, http.StatusOK, page)
}

// retentionJSON is the audit retention of an environment.
type retentionJSON struct {
	// Days the environment keeps its records; 0: the server default.
	Days int `json:"days"`
	// EffectiveDays is what applies; 0 means forever.
	EffectiveDays int `json:"effectiveDays"`
}

func (a *API) auditChain(r *http.Request) (string, error) {
	env, err := a.adminEnv(r)
	if err != nil {
		return "", err
	}
	return audit.ChainOf(env.AppID, env.Name), nil
}

func (a *API) getAuditRetention(w http.ResponseWriter, r *http.Request) {
	chain, err := a.auditChain(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.respondRetention(w, r, chain)
}

func (a *API) putAuditRetention(w http.ResponseWriter, r *http.Request) {
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
	chain, err := a.auditChain(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.deps.Audit.SetRetention(r.Context(), chain, *req.Days); err != nil {
		if errors.Is(err, audit.ErrInvalid) {
			err = onField("days", err)
		}
		a.fail(w, r, err)
		return
	}
	a.respondRetention(w, r, chain)
}

func (a *API) respondRetention(w http.ResponseWriter, r *http.Request, chain string) {
	ret, err := a.deps.Audit.RetentionOf(r.Context(), chain)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	day := 24 * time.Hour
	a.respond(w, r, http.StatusOK, retentionJSON{Days: ret.Days, EffectiveDays: int((ret.Effective + day - 1) / day)})
}

// describeAuditRetention registers the retention routes in the OpenAPI
// document.
func describeAuditRetention(spec *apiSpec) {
	spec.schema("AuditRetention", object(map[string]any{
		"days":          integer("Days this environment keeps its audit records; 0 follows the server default (SKYBRIDGE_AUDIT_RETENTION)."),
		"effectiveDays": integer("The retention that applies, in days; 0 keeps records forever."),
	}, "days", "effectiveDays"))
	spec.schema("AuditRetentionRequest", strictObject(map[string]any{
		"days": integer("1 to 3650 days, or 0 for the server default."),
	}, "days"))
	path := "/admin/api/apps/{id}/environments/{env}/audit/retention"
	spec.route(http.MethodGet, path, operation{
		ID: "getAuditRetention", Tag: "admin", Summary: "How long the environment keeps audit records.",
		Security:  []string{schemeBearer},
		Responses: []response{{Status: 200, Description: "The retention.", Schema: "AuditRetention"}},
		Problems:  []int{401, 403, 404},
	})
	spec.route(http.MethodPut, path, operation{
		ID: "putAuditRetention", Tag: "admin", Summary: "Set how long the environment keeps audit records; older ones are pruned by the hourly maintenance run, keeping the chain verifiable.",
		Security:  []string{schemeBearer},
		Request:   "AuditRetentionRequest",
		Responses: []response{{Status: 200, Description: "The retention.", Schema: "AuditRetention"}},
		Problems:  []int{400, 401, 403, 404},
	})
}
