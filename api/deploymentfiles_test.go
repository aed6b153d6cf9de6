package api

import (
	"fmt"
	"testing"

	"github.com/skybridgehq/skybridge/auth"
)

// TestDeploymentFiles reads versions with their files, as the portal's
// diff does, and refuses bad versions.
func TestDeploymentFiles(t *testing.T) {
	t.Parallel()
	d := newDeployEnv(t)
	o := d.owner
	file := func(v int) string { return fmt.Sprintf("kind: Flow\nname: a\nv: %d\n", v) }
	for v := 1; v <= 2; v++ {
		d.call(o, "POST", d.path("dev", "/deployments"), map[string]any{"files": map[string]string{"a.yaml": file(v)}}, 201, nil)
	}
	var got struct {
		deploymentT
		Documents []struct{ Kind, Name, File string }
		Files     map[string]string
	}
	for v := 1; v <= 2; v++ {
		got.Files = nil
		d.call(o, "GET", d.path("dev", fmt.Sprintf("/deployments/%d", v)), nil, 200, &got)
		if got.Version != v || got.Live != (v == 2) || len(got.Files) != 1 || got.Files["a.yaml"] != file(v) ||
			len(got.Documents) != 1 || got.Documents[0].File != "a.yaml" {
			t.Errorf("version %d: %+v", v, got)
		}
	}
	if len(got.Changes.Changed) != 1 || got.Changes.Changed[0].Name != "a" {
		t.Errorf("changes of version 2: %+v", got.Changes)
	}
	if _, err := d.auth.CreateAdmin(t.Context(), "viewer@example.com", testAdminPassword, auth.RoleViewer); err != nil {
		t.Fatal(err)
	}
	var login struct{ Token string }
	d.json(request{method: "POST", path: "/admin/api/login", body: map[string]string{"email": "viewer@example.com", "password": testAdminPassword}}, 200, &login)
	d.call(login.Token, "GET", d.path("dev", "/deployments/1"), nil, 200, nil)

	d.call(o, "GET", d.path("dev", "/deployments/3"), nil, 404, nil)
	d.call(o, "GET", d.path("prod", "/deployments/1"), nil, 404, nil)
	d.call(o, "GET", "/admin/api/apps/"+d.app.ID+"/environments/nope/deployments/1", nil, 404, nil)
	for _, bad := range []string{"0", "-1", "x", "1.5"} {
		var p struct {
			Errors []struct{ Field string }
		}
		d.call(o, "GET", d.path("dev", "/deployments/"+bad), nil, 400, &p)
		if len(p.Errors) != 1 || p.Errors[0].Field != "version" {
			t.Errorf("version %q: %+v", bad, p)
		}
	}
	d.call("", "GET", d.path("dev", "/deployments/1"), nil, 401, nil)
}
