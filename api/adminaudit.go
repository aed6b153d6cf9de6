package api

import (
	"net/http"

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
	spec.schema("AuditRecord", object(map[string]any{
		"time":       dateTime("When the request arrived."),
		"app":        str("The app id."),
		"env":        str("The environment."),
		"actor":      object(map[string]any{"kind": enumOf(audit.ActorUser, audit.ActorAdmin, audit.ActorServer, audit.ActorDevice, audit.ActorAnonymous), "id": str("Who.")}, "kind"),
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
