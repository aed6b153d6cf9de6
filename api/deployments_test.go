package api

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/skybridgehq/skybridge/auth"
)

// deployEnv is a testEnv with an app and helpers for the flow routes.
type deployEnvT struct {
	*testEnv
	app    createdApp
	owner  string
	bodies []string // every response body seen, for the secret check
}

func newDeployEnv(t *testing.T) *deployEnvT {
	e := newTestEnv(t, envOptions{})
	tok := e.login()
	return &deployEnvT{testEnv: e, app: e.createApp(tok, "Flows"), owner: tok}
}

func (d *deployEnvT) path(env, rest string) string {
	return "/admin/api/apps/" + d.app.ID + "/environments/" + env + rest
}

// call sends a request with a bearer token, expects status, keeps the
// body and decodes it into out (when not nil).
func (d *deployEnvT) call(token, method, path string, body any, status int, out any) {
	d.t.Helper()
	resp := d.do(request{method: method, path: path, body: body, headers: bearer(token)})
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	d.bodies = append(d.bodies, string(raw))
	if resp.StatusCode != status {
		d.t.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, status, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			d.t.Fatalf("%s %s: decode %s: %v", method, path, raw, err)
		}
	}
}

type bundleProblemT struct {
	Type   string `json:"type"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		File    string `json:"file"`
		Line    int    `json:"line"`
		Column  int    `json:"column"`
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

type deploymentT struct {
	Version int    `json:"version"`
	Actor   string `json:"actor"`
	Source  string `json:"source"`
	Live    bool   `json:"live"`
	Origin  *struct {
		Env     string `json:"env"`
		Version int    `json:"version"`
	} `json:"origin"`
	Changes struct {
		Added, Removed, Changed []struct{ Kind, Name string }
	} `json:"changes"`
}

const testSecretValue = "pa55-Wörd-never-shown"

// TestDeploymentRoutes walks every flow route over HTTP as the owner:
// variables, secrets, deploy (with a refused bundle and missing
// configuration), history, promote, rollback.
func TestDeploymentRoutes(t *testing.T) {
	t.Parallel()
	d := newDeployEnv(t)
	o := d.owner
	bundle := map[string]any{"files": map[string]string{
		"flows/orders.yaml": "kind: Flow\nname: orders\nurl: ${env.ERP_URL}\npassword: ${secret.ERP_PASSWORD}\n",
	}}

	// Missing configuration: 400 naming each, nothing live.
	var p bundleProblemT
	d.call(o, "POST", d.path("dev", "/deployments"), bundle, 400, &p)
	if p.Type != problemTypePrefix+"missing-configuration" || len(p.Errors) != 2 || p.Errors[0].Field != "variables.ERP_URL" || p.Errors[1].Field != "secrets.ERP_PASSWORD" {
		t.Fatalf("missing configuration problem = %+v", p)
	}
	// A refused bundle: errors[] with file, line, column and message.
	p = bundleProblemT{}
	d.call(o, "POST", d.path("dev", "/deployments"), map[string]any{"files": map[string]string{"a.yaml": "kind: Flow\nname: a\n---\nkind: Flow\nname: {x: 1}\n"}}, 400, &p)
	if p.Type != problemTypePrefix+"invalid-bundle" || len(p.Errors) != 1 || p.Errors[0].File != "a.yaml" || p.Errors[0].Line != 5 || p.Errors[0].Column != 7 ||
		p.Errors[0].Field != "name" || p.Errors[0].Message == "" || !strings.Contains(p.Detail, "a.yaml:5:7") {
		t.Fatalf("invalid bundle problem = %+v", p)
	}
	var history struct{ Items []deploymentT }
	d.call(o, "GET", d.path("dev", "/deployments"), nil, 200, &history)
	if len(history.Items) != 0 {
		t.Fatalf("refused deploys left history %+v", history.Items)
	}

	vars := map[string]any{"ERP_URL": "https://erp.dev", "RETRIES": 3, "NESTED": map[string]any{"a.b": []any{1, "x"}}}
	var gotVars map[string]any
	d.call(o, "PUT", d.path("dev", "/variables"), vars, 200, &gotVars)
	d.call(o, "GET", d.path("dev", "/variables"), nil, 200, &gotVars)
	if gotVars["ERP_URL"] != "https://erp.dev" || gotVars["RETRIES"] != float64(3) || gotVars["NESTED"].(map[string]any)["a.b"] == nil {
		t.Errorf("variables = %v", gotVars)
	}
	var sec struct {
		Name      string
		UpdatedAt string
	}
	d.call(o, "PUT", d.path("dev", "/secrets/ERP_PASSWORD"), map[string]string{"value": testSecretValue}, 200, &sec)
	if sec.Name != "ERP_PASSWORD" || sec.UpdatedAt == "" {
		t.Errorf("put secret = %+v", sec)
	}
	var secrets struct{ Items []map[string]any }
	d.call(o, "GET", d.path("dev", "/secrets"), nil, 200, &secrets)
	if len(secrets.Items) != 1 || secrets.Items[0]["name"] != "ERP_PASSWORD" || len(secrets.Items[0]) != 2 {
		t.Errorf("secrets = %v", secrets.Items)
	}

	var dep deploymentT
	d.call(o, "POST", d.path("dev", "/deployments"), bundle, 201, &dep)
	if dep.Version != 1 || !dep.Live || dep.Actor != testAdminEmail || dep.Source != "deploy" || len(dep.Changes.Added) != 1 {
		t.Fatalf("deploy = %+v", dep)
	}
	l, err := d.deployments.Acquire(t.Context(), d.app.ID, "dev")
	if err != nil || l.Version() != 1 {
		t.Fatalf("live after deploy: %v", err)
	}
	l.Release()

	// Promote to prod: refused until prod has its own configuration.
	p = bundleProblemT{}
	d.call(o, "POST", d.path("dev", "/deployments/1/promote"), map[string]string{"to": "prod"}, 400, &p)
	if len(p.Errors) != 2 || !strings.Contains(p.Errors[0].Message, "prod") {
		t.Fatalf("promote without configuration = %+v", p)
	}
	d.call(o, "PUT", d.path("prod", "/variables"), map[string]any{"ERP_URL": "https://erp.prod"}, 200, nil)
	d.call(o, "PUT", d.path("prod", "/secrets/ERP_PASSWORD"), map[string]string{"value": testSecretValue + "-prod"}, 200, nil)
	d.call(o, "POST", d.path("dev", "/deployments/1/promote"), map[string]string{"to": "prod"}, 201, &dep)
	if dep.Version != 1 || dep.Source != "promote" || dep.Origin == nil || dep.Origin.Env != "dev" || dep.Origin.Version != 1 {
		t.Fatalf("promote = %+v", dep)
	}
	d.call(o, "POST", d.path("dev", "/deployments/9/promote"), map[string]string{"to": "prod"}, 404, nil)
	d.call(o, "POST", d.path("dev", "/deployments/x/promote"), map[string]string{"to": "prod"}, 400, nil)
	d.call(o, "POST", d.path("dev", "/deployments/1/promote"), map[string]string{"to": "dev"}, 400, nil)
	d.call(o, "POST", d.path("dev", "/deployments/1/promote"), map[string]string{"to": "nope"}, 404, nil)

	// Rollback: nothing before version 1; after a second deploy, back.
	d.call(o, "POST", d.path("dev", "/rollback"), nil, 409, nil)
	d.call(o, "POST", d.path("stage", "/rollback"), nil, 409, nil)
	bundle2 := map[string]any{"files": map[string]string{"flows/orders.yaml": "kind: Flow\nname: orders\nurl: ${env.ERP_URL}/v2\n", "flows/more.yml": "kind: Flow\nname: more\n"}}
	d.call(o, "POST", d.path("dev", "/deployments"), bundle2, 201, &dep)
	if dep.Version != 2 || len(dep.Changes.Added) != 1 || len(dep.Changes.Changed) != 1 {
		t.Fatalf("second deploy = %+v", dep)
	}
	d.call(o, "POST", d.path("dev", "/rollback"), nil, 201, &dep)
	if dep.Version != 3 || dep.Source != "rollback" || dep.Origin.Version != 1 || len(dep.Changes.Removed) != 1 {
		t.Fatalf("rollback = %+v", dep)
	}
	var page struct {
		Items  []deploymentT
		Cursor string
	}
	d.call(o, "GET", d.path("dev", "/deployments?limit=2"), nil, 200, &page)
	if len(page.Items) != 2 || page.Items[0].Version != 3 || !page.Items[0].Live || page.Items[1].Live || page.Cursor == "" {
		t.Fatalf("history page = %+v", page)
	}
	d.call(o, "GET", d.path("dev", "/deployments?cursor="+page.Cursor), nil, 200, &page)
	if len(page.Items) != 1 || page.Items[0].Version != 1 {
		t.Fatalf("second page = %+v", page)
	}
	d.call(o, "GET", d.path("dev", "/deployments?limit=0"), nil, 400, nil)
	d.call(o, "GET", d.path("dev", "/deployments?cursor=zz!"), nil, 400, nil)

	// Deleting a secret the live version needs is refused; others go.
	d.call(o, "DELETE", d.path("prod", "/secrets/ERP_PASSWORD"), nil, 400, nil)
	d.call(o, "PUT", d.path("dev", "/secrets/SPARE"), map[string]string{"value": "spare-value"}, 200, nil)
	d.call(o, "DELETE", d.path("dev", "/secrets/SPARE"), nil, 204, nil)
	d.call(o, "DELETE", d.path("dev", "/secrets/SPARE"), nil, 404, nil)
	d.call(o, "PUT", d.path("dev", "/secrets/bad-name"), map[string]string{"value": "x"}, 400, nil)
	d.call(o, "PUT", d.path("dev", "/secrets/OK"), map[string]string{}, 400, nil)
	d.call(o, "PUT", d.path("dev", "/variables"), map[string]any{"bad-name": 1}, 400, nil)
	d.call(o, "GET", d.path("qa", "/variables"), nil, 404, nil)

	for _, b := range d.bodies {
		if strings.Contains(b, testSecretValue) || strings.Contains(b, "spare-value") {
			t.Errorf("a response holds a secret: %s", b)
		}
	}
	if strings.Contains(d.log.String(), testSecretValue) || strings.Contains(d.log.String(), "spare-value") {
		t.Errorf("the log holds a secret")
	}
}

// TestDeploymentPermissions: viewers read, developers write; a deploy
// token deploys, rolls back and reads its own environment, promotes only
// into it, and never changes variables or secrets.
func TestDeploymentPermissions(t *testing.T) {
	t.Parallel()
	d := newDeployEnv(t)
	ctx := t.Context()
	for _, a := range []struct{ email, role string }{{"viewer@example.com", auth.RoleViewer}, {"dev@example.com", auth.RoleDeveloper}} {
		if _, err := d.auth.CreateAdmin(ctx, a.email, testAdminPassword, a.role); err != nil {
			t.Fatal(err)
		}
	}
	login := func(email string) string {
		var out struct{ Token string }
		d.json(request{method: "POST", path: "/admin/api/login", body: map[string]string{"email": email, "password": testAdminPassword}}, 200, &out)
		return out.Token
	}
	viewer, developer := login("viewer@example.com"), login("dev@example.com")
	var tok struct{ ID, Token string }
	d.call(d.owner, "POST", d.path("prod", "/deploy-tokens"), map[string]string{"name": "ci"}, 201, &tok)
	prodToken := tok.Token
	files := func(v int) map[string]any {
		return map[string]any{"files": map[string]string{"a.yaml": fmt.Sprintf("kind: Flow\nname: a\nv: %d\n", v)}}
	}

	d.call(developer, "POST", d.path("dev", "/deployments"), files(1), 201, nil)
	d.call(developer, "PUT", d.path("dev", "/variables"), map[string]any{"A": 1}, 200, nil)
	d.call(developer, "PUT", d.path("dev", "/secrets/S"), map[string]string{"value": "dev-secret-value"}, 200, nil)
	for _, c := range []struct{ method, path string }{
		{"GET", "/variables"}, {"GET", "/secrets"}, {"GET", "/deployments"},
	} {
		d.call(viewer, c.method, d.path("dev", c.path), nil, 200, nil)
	}
	d.call(viewer, "POST", d.path("dev", "/deployments"), files(2), 403, nil)
	d.call(viewer, "PUT", d.path("dev", "/variables"), map[string]any{}, 403, nil)
	d.call(viewer, "PUT", d.path("dev", "/secrets/S"), map[string]string{"value": "x"}, 403, nil)
	d.call(viewer, "POST", d.path("dev", "/rollback"), nil, 403, nil)
	d.call(viewer, "POST", d.path("dev", "/deployments/1/promote"), map[string]string{"to": "prod"}, 403, nil)

	// The prod deploy token.
	var dep deploymentT
	d.call(prodToken, "POST", d.path("dev", "/deployments/1/promote"), map[string]string{"to": "prod"}, 201, &dep)
	if dep.Actor != "deploy-token:"+tok.ID {
		t.Errorf("actor = %q", dep.Actor)
	}
	d.call(prodToken, "POST", d.path("prod", "/deployments"), files(2), 201, nil)
	d.call(prodToken, "POST", d.path("prod", "/rollback"), nil, 201, nil)
	d.call(prodToken, "GET", d.path("prod", "/deployments"), nil, 200, nil)
	d.call(prodToken, "GET", d.path("prod", "/variables"), nil, 200, nil)
	d.call(prodToken, "GET", d.path("prod", "/secrets"), nil, 200, nil)
	d.call(prodToken, "PUT", d.path("prod", "/variables"), map[string]any{}, 403, nil)
	d.call(prodToken, "PUT", d.path("prod", "/secrets/S"), map[string]string{"value": "x"}, 403, nil)
	d.call(prodToken, "DELETE", d.path("prod", "/secrets/S"), nil, 403, nil)
	d.call(prodToken, "POST", d.path("dev", "/deployments"), files(3), 403, nil)
	d.call(prodToken, "GET", d.path("dev", "/deployments"), nil, 403, nil)
	d.call(prodToken, "POST", d.path("dev", "/rollback"), nil, 403, nil)
	d.call(prodToken, "POST", d.path("dev", "/deployments/1/promote"), map[string]string{"to": "stage"}, 403, nil)
	d.call(prodToken, "POST", d.path("prod", "/deployments/1/promote"), map[string]string{"to": "stage"}, 403, nil)
	other := d.createApp(d.owner, "Other")
	d.call(prodToken, "POST", "/admin/api/apps/"+other.ID+"/environments/dev/deployments/1/promote", map[string]string{"to": "prod"}, 403, nil)
}
