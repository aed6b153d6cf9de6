package api

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"
)

// bindDeploymentFiles binds GET .../deployments/{version}: one version
// of the environment's bundle with its files, so that the admin portal
// can show a version and diff two. Read like the history
// (deployments.go): admins of every role.
func (a *API) bindDeploymentFiles(g chi.Router, spec *apiSpec) {
	const path = "/apps/{id}/environments/{env}/deployments/{version}"
	g.Get(path, a.getDeployment)
	describeDeploymentFiles(spec, "/admin/api"+path)
}

// deploymentFilesJSON is a deployment with its bundle's files.
type deploymentFilesJSON struct {
	deploymentJSON
	Files map[string]string `json:"files"`
}

// getDeployment serves one version with its files; 404 when the
// environment has no such version.
func (a *API) getDeployment(w http.ResponseWriter, r *http.Request) {
	version, err := strconv.Atoi(pathParam(r, "version"))
	if err != nil || version < 1 {
		a.fail(w, r, onField("version", fmt.Errorf("%w: the version is a positive integer", ErrInvalidInput)))
		return
	}
	env, err := a.deployEnv(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	v, err := a.deps.Deployments.Version(r.Context(), env.AppID, env.Name, version)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	files := v.Files
	if files == nil {
		files = map[string]string{}
	}
	a.respond(w, r, http.StatusOK, deploymentFilesJSON{deploymentJSON: toDeploymentJSON(v.Deployment), Files: files})
}

// describeDeploymentFiles documents the route.
func describeDeploymentFiles(spec *apiSpec, path string) {
	spec.schema("DeploymentFiles", map[string]any{"allOf": []any{
		ref("Deployment"),
		object(map[string]any{
			"files": map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"},
				"description": "The bundle's files: path → content, as deployed."},
		}, "files"),
	}})
	spec.route(http.MethodGet, path, operation{
		ID: "getDeployment", Tag: "admin", Security: []string{schemeBearer},
		Summary:   "One version of the environment's bundle with its files (to show it, or diff two versions).",
		Responses: []response{{Status: 200, Description: "The version and its files.", Schema: "DeploymentFiles"}},
		Problems:  []int{400, 401, 403, 404},
	})
}
