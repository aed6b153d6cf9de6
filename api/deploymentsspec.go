package api

import (
	"fmt"
	"net/http"

	"github.com/skybridgehq/skybridge/orchestration/deploy"
)

// describeDeployments registers the flow environment routes under base
// (/admin/api/apps/{id}/environments/{env}) in the OpenAPI document.
func describeDeployments(spec *apiSpec, base string) {
	docRef := object(map[string]any{
		"kind": str("The document's kind, e.g. Flow."),
		"name": str("The document's name."),
	}, "kind", "name")
	spec.schema("FlowVariables", map[string]any{"type": "object", "additionalProperties": true,
		"description": "The environment's variables (${env.NAME} in flows): names are a letter or '_', then up to 63 letters, digits or '_'; values any JSON."})
	spec.schema("SecretRequest", strictObject(map[string]any{
		"value": str(fmt.Sprintf("The secret's value, at most %d bytes. Sealed at rest and never shown again.", deploy.DefaultMaxSecretBytes)),
	}, "value"))
	spec.schema("Secret", object(map[string]any{
		"name":      str("The secret's name (${secret.NAME} in flows)."),
		"updatedAt": dateTime("When the value was last set."),
	}, "name", "updatedAt"))
	spec.schema("SecretList", object(map[string]any{"items": arrayOf(ref("Secret"))}, "items"))
	spec.schema("DeployRequest", strictObject(map[string]any{
		"files": map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"},
			"description": fmt.Sprintf("The bundle: relative path (forward slashes, ending .yaml or .yml) to YAML text; at most %d files and %d bytes.",
				deploy.DefaultMaxBundleFiles, deploy.DefaultMaxBundleBytes)},
	}, "files"))
	spec.schema("PromoteRequest", strictObject(map[string]any{
		"to": str("The target environment: it gets this version's files, unchanged, as its next version."),
	}, "to"))
	spec.schema("Deployment", object(map[string]any{
		"version":   integer("The version, numbered from 1 per app environment; the highest is live."),
		"actor":     str("Who made it: an admin's email or deploy-token:<id>."),
		"createdAt": dateTime("When it was made."),
		"source":    enumOf(deploy.SourceDeploy, deploy.SourcePromote, deploy.SourceRollback),
		"origin": object(map[string]any{
			"env":     str("The environment the files came from."),
			"version": integer("The version there."),
		}, "env", "version"),
		"live":         boolean("Whether this version is live."),
		"previousLive": integer("The version live before this one (a rollback restores it); absent for the first."),
		"changes": object(map[string]any{
			"added": arrayOf(docRef), "removed": arrayOf(docRef), "changed": arrayOf(docRef),
		}, "added", "removed", "changed"),
		"documents": arrayOf(object(map[string]any{
			"kind": str("The document's kind."), "name": str("Its name."), "file": str("The file it is in."),
			"digest": str("Changes when the document changes."),
		}, "kind", "name", "file", "digest")),
	}, "version", "actor", "createdAt", "source", "live", "changes", "documents"))
	spec.schema("DeploymentList", object(map[string]any{
		"items":  arrayOf(ref("Deployment")),
		"cursor": str("Continues with older versions (?cursor=); absent on the last page."),
	}, "items"))
	spec.schema("BundleError", object(map[string]any{
		"file":    str("The bundle file."),
		"line":    integer("The line, from 1."),
		"column":  integer("The column, from 1."),
		"field":   str("The document field, or variables.NAME / secrets.NAME for what the environment lacks."),
		"message": str("What is wrong."),
	}, "message"))
	spec.schema("BundleProblem", object(map[string]any{
		"type":     str("urn:skybridge:problem:invalid-bundle, missing-configuration ..."),
		"title":    str("A short summary of the kind of problem."),
		"status":   integer("400."),
		"detail":   str("Every error, as file:line:column: message."),
		"instance": str("The request id."),
		"errors":   arrayOf(ref("BundleError")),
	}, "type", "title", "status", "errors"))

	bearer := []string{schemeBearer}
	bundleRefused := response{Status: 400, Description: "The bundle is invalid, or the environment lacks variables or secrets it needs: errors[] names each (a BundleProblem).",
		Schema: "BundleProblem", ContentType: ProblemContentType}
	spec.route(http.MethodGet, base+"/variables", operation{
		ID: "getFlowVariables", Tag: "flows-admin", Summary: "Get the environment's flow variables.", Security: bearer,
		Responses: []response{{Status: 200, Description: "The variables.", Schema: "FlowVariables"}},
		Problems:  []int{401, 403, 404},
	})
	spec.route(http.MethodPut, base+"/variables", operation{
		ID: "putFlowVariables", Tag: "flows-admin", Summary: "Replace the environment's flow variables; the live version is rebuilt with them, and the change refused if it would lack one.", Security: bearer,
		Request:   "FlowVariables",
		Responses: []response{{Status: 200, Description: "The variables now.", Schema: "FlowVariables"}, bundleRefused},
		Problems:  []int{401, 403, 404, 413},
	})
	spec.route(http.MethodGet, base+"/secrets", operation{
		ID: "listFlowSecrets", Tag: "flows-admin", Summary: "List the environment's flow secrets: names and update times, never values.", Security: bearer,
		Responses: []response{{Status: 200, Description: "The secrets, by name.", Schema: "SecretList"}},
		Problems:  []int{401, 403, 404},
	})
	spec.route(http.MethodPut, base+"/secrets/{name}", operation{
		ID: "putFlowSecret", Tag: "flows-admin", Summary: "Set a flow secret, sealed at rest; the live version is rebuilt with it.", Security: bearer,
		Request:   "SecretRequest",
		Responses: []response{{Status: 200, Description: "Set (the value is not repeated).", Schema: "Secret"}, bundleRefused},
		Problems:  []int{401, 403, 404, 413},
	})
	spec.route(http.MethodDelete, base+"/secrets/{name}", operation{
		ID: "deleteFlowSecret", Tag: "flows-admin", Summary: "Delete a flow secret; refused while the live version needs it.", Security: bearer,
		Responses: []response{{Status: 204, Description: "Deleted."}, bundleRefused},
		Problems:  []int{401, 403, 404},
	})
	spec.route(http.MethodGet, base+"/deployments", operation{
		ID: "listDeployments", Tag: "flows-admin", Summary: "The deployment history, newest first (?limit=1..1000, ?cursor=).", Security: bearer,
		Responses: []response{{Status: 200, Description: "A page of versions.", Schema: "DeploymentList"}},
		Problems:  []int{400, 401, 403, 404},
	})
	spec.route(http.MethodPost, base+"/deployments", operation{
		ID: "createDeployment", Tag: "flows-admin", Summary: "Deploy a bundle as the next version and make it live; nothing goes live when it is refused.", Security: bearer,
		Request:   "DeployRequest",
		Responses: []response{{Status: 201, Description: "Deployed and live.", Schema: "Deployment"}, bundleRefused},
		Problems:  []int{401, 403, 404, 413},
	})
	spec.route(http.MethodPost, base+"/deployments/{version}/promote", operation{
		ID: "promoteDeployment", Tag: "flows-admin", Summary: "Copy this version's files unchanged to another environment as its next version, checked against that environment's variables and secrets (a deploy token must be scoped to the target).", Security: bearer,
		Request:   "PromoteRequest",
		Responses: []response{{Status: 201, Description: "Promoted and live in the target.", Schema: "Deployment"}, bundleRefused},
		Problems:  []int{401, 403, 404},
	})
	spec.route(http.MethodPost, base+"/rollback", operation{
		ID: "rollbackDeployment", Tag: "flows-admin", Summary: "Make the version live before the current one live again, as a new version (source rollback).", Security: bearer,
		Responses: []response{{Status: 201, Description: "Rolled back.", Schema: "Deployment"}, bundleRefused},
		Problems:  []int{401, 403, 404, 409},
	})
}
