package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/skybridgehq/skybridge/auth"
)

// bindDeployTokens binds deploy token management under an environment:
// create (the token is shown once), list with last use, revoke. Owners and
// developers create and revoke, viewers list, deploy tokens themselves
// never reach these routes (adminAuth's policy).
func (a *API) bindDeployTokens(g chi.Router, spec *apiSpec) {
	const base = "/apps/{id}/environments/{env}/deploy-tokens"
	g.Post(base, a.createDeployToken)
	g.Get(base, a.listDeployTokens)
	g.Delete(base+"/{tokenId}", a.revokeDeployToken)
	describeDeployTokens(spec, "/admin/api"+base)
}

// deployTokenJSON is a deploy token as listed: never the token.
type deployTokenJSON struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	App        string     `json:"app"`
	Env        string     `json:"env"`
	CreatedAt  time.Time  `json:"createdAt"`
	CreatedBy  string     `json:"createdBy"`
	LastUsedAt *time.Time `json:"lastUsedAt,omitempty"`
}

// createdDeployTokenJSON is a new deploy token with its secret, shown
// this once.
type createdDeployTokenJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Token     string    `json:"token"`
	App       string    `json:"app"`
	Env       string    `json:"env"`
	CreatedAt time.Time `json:"createdAt"`
	CreatedBy string    `json:"createdBy"`
}

func toDeployTokenJSON(t auth.DeployToken) deployTokenJSON {
	out := deployTokenJSON{ID: t.ID, Name: t.Name, App: t.App, Env: t.Env, CreatedAt: t.CreatedAt.UTC(), CreatedBy: t.CreatedBy}
	if !t.LastUsedAt.IsZero() {
		used := t.LastUsedAt.UTC()
		out.LastUsedAt = &used
	}
	return out
}

func (a *API) createDeployToken(w http.ResponseWriter, r *http.Request) {
	claims, ok := AdminFrom(r.Context())
	if !ok {
		a.fail(w, r, fmt.Errorf("%w: deploy tokens are created by admins", ErrForbidden))
		return
	}
	var req nameRequest
	if err := decodeJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	t, err := a.deps.Auth.CreateDeployToken(r.Context(), pathParam(r, "id"), pathParam(r, "env"), req.Name, claims.AdminID)
	if errors.Is(err, auth.ErrInvalid) {
		err = onField("name", err)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.respond(w, r, http.StatusCreated, createdDeployTokenJSON{
		ID: t.ID, Name: t.Name, Token: t.Token, App: t.App, Env: t.Env, CreatedAt: t.CreatedAt.UTC(), CreatedBy: t.CreatedBy,
	})
}

func (a *API) listDeployTokens(w http.ResponseWriter, r *http.Request) {
	tokens, err := a.deps.Auth.ListDeployTokens(r.Context(), pathParam(r, "id"), pathParam(r, "env"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	items := make([]deployTokenJSON, 0, len(tokens))
	for _, t := range tokens {
		items = append(items, toDeployTokenJSON(t))
	}
	a.respond(w, r, http.StatusOK, map[string]any{"items": items})
}

func (a *API) revokeDeployToken(w http.ResponseWriter, r *http.Request) {
	if err := a.deps.Auth.RevokeDeployToken(r.Context(), pathParam(r, "id"), pathParam(r, "env"), pathParam(r, "tokenId")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// describeDeployTokens registers the deploy token routes under base in the
// OpenAPI document.
func describeDeployTokens(spec *apiSpec, base string) {
	spec.schema("DeployToken", object(map[string]any{
		"id":         str("The token id (what audit records name as the deploy-token actor)."),
		"name":       str("What the token is for, e.g. the CI pipeline."),
		"app":        str("The app the token is limited to."),
		"env":        str("The environment the token is limited to."),
		"createdAt":  dateTime("When the token was created."),
		"createdBy":  str("The id of the admin who created it."),
		"lastUsedAt": dateTime(fmt.Sprintf("When the token last authenticated a request (up to %s stale); absent if never.", auth.DeployTokenUseInterval)),
	}, "id", "name", "app", "env", "createdAt", "createdBy"))
	spec.schema("DeployTokenList", object(map[string]any{
		"items": arrayOf(ref("DeployToken")),
	}, "items"))
	spec.schema("CreatedDeployToken", object(map[string]any{
		"id":        str("The token id."),
		"name":      str("What the token is for."),
		"token":     str("The token for Authorization: Bearer on /admin/api (prefix " + auth.DeployTokenPrefix + "). Shown only now."),
		"app":       str("The app the token is limited to."),
		"env":       str("The environment the token is limited to."),
		"createdAt": dateTime("When the token was created."),
		"createdBy": str("The id of the admin who created it."),
	}, "id", "name", "token", "app", "env", "createdAt", "createdBy"))

	bearer := []string{schemeBearer}
	spec.route(http.MethodPost, base, operation{
		ID: "createDeployToken", Tag: "admin", Summary: "Create a deploy token limited to this environment, for CI (owners and developers).", Security: bearer,
		Request:   "NameRequest",
		Responses: []response{{Status: 201, Description: "Created; the token is shown only now.", Schema: "CreatedDeployToken"}},
		Problems:  []int{400, 401, 403, 404},
	})
	spec.route(http.MethodGet, base, operation{
		ID: "listDeployTokens", Tag: "admin", Summary: "List this environment's deploy tokens with their last use (never the tokens).", Security: bearer,
		Responses: []response{{Status: 200, Description: "The tokens, oldest first.", Schema: "DeployTokenList"}},
		Problems:  []int{401, 403, 404},
	})
	spec.route(http.MethodDelete, base+"/{tokenId}", operation{
		ID: "revokeDeployToken", Tag: "admin", Summary: "Revoke a deploy token; it is refused from the next request on (owners and developers).", Security: bearer,
		Responses: []response{{Status: 204, Description: "Revoked."}},
		Problems:  []int{401, 403, 404},
	})
}
