package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/skybridgehq/skybridge/auth"
)

// appVersionsPath is the admin route of an environment's minimum app
// version.
const appVersionsPath = "/apps/{id}/environments/{env}/app-versions"

// appVersionsJSON is its body: {"minimum": "2.1.0"}, "" for none.
type appVersionsJSON struct {
	Minimum *string `json:"minimum"`
}

// bindAppVersionsAdmin binds GET and PUT of an environment's minimum app
// version under /admin/api.
func (a *API) bindAppVersionsAdmin(g chi.Router, spec *apiSpec) {
	g.Get(appVersionsPath, a.getAppVersions)
	g.Put(appVersionsPath, a.putAppVersions)
	spec.schema("AppVersions", strictObject(map[string]any{
		"minimum": str("The oldest app version (X-App-Version, semver such as 2.1.0) the environment serves; older apps get 426. Empty: every version."),
	}, "minimum"))
	admin := []string{schemeBearer}
	spec.route(http.MethodGet, "/admin/api"+appVersionsPath, operation{
		ID: "getAppVersions", Tag: "admin", Summary: "Get an environment's minimum app version.", Security: admin,
		Responses: []response{{Status: 200, Description: "The minimum.", Schema: "AppVersions"}},
		Problems:  []int{400, 401, 403, 404},
	})
	spec.route(http.MethodPut, "/admin/api"+appVersionsPath, operation{
		ID: "putAppVersions", Tag: "admin", Summary: "Set an environment's minimum app version: older apps get 426 Upgrade Required on every /v1 route.", Security: admin,
		Request:   "AppVersions",
		Responses: []response{{Status: 200, Description: "The minimum.", Schema: "AppVersions"}},
		Problems:  []int{400, 401, 403, 404},
	})
}

func (a *API) getAppVersions(w http.ResponseWriter, r *http.Request) {
	env, err := a.adminEnv(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.respond(w, r, http.StatusOK, appVersionsJSON{Minimum: &env.MinAppVersion})
}

func (a *API) putAppVersions(w http.ResponseWriter, r *http.Request) {
	var req appVersionsJSON
	if err := decodeJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	if req.Minimum == nil {
		a.fail(w, r, onField("minimum", fmt.Errorf("%w: is required (\"\" for none)", ErrInvalidInput)))
		return
	}
	env, err := a.deps.Auth.SetMinAppVersion(r.Context(), pathParam(r, "id"), pathParam(r, "env"), *req.Minimum)
	if errors.Is(err, auth.ErrInvalid) {
		err = onField("minimum", err)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.respond(w, r, http.StatusOK, appVersionsJSON{Minimum: &env.MinAppVersion})
}
