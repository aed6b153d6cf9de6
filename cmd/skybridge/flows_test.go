package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/internal/server"
	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
	"github.com/skybridgehq/skybridge/orchestration/deploy/deploytest"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, text := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFlowsCommands runs `skybridge flows deploy|list|promote|rollback`
// against an in-process server with deploy tokens: the bundle is read
// from a directory, refusals print file:line:column and exit 1, and the
// token is never printed.
func TestFlowsCommands(t *testing.T) {
	s := testnode.Start(t, testnode.Options{Node: &server.Options{
		Auth:        auth.Config{Password: auth.PasswordParams{Memory: 1024, Time: 1, Threads: 1}},
		FlowBuilder: &deploytest.Builder{},
	}})
	app := s.CreateApp(t, "pipelines")
	admin := map[string]string{"Authorization": "Bearer " + s.AdminToken(t)}
	token := func(env string) string {
		resp, body := s.Do(t, "POST", "/admin/api/apps/"+app.ID+"/environments/"+env+"/deploy-tokens", map[string]string{"name": "ci"}, admin)
		var out struct{ Token string }
		if resp.StatusCode != 201 || json.Unmarshal(body, &out) != nil {
			t.Fatalf("deploy token: %d %s", resp.StatusCode, body)
		}
		return out.Token
	}
	devToken, prodToken := token("dev"), token("prod")
	if resp, body := s.Do(t, "PUT", "/admin/api/apps/"+app.ID+"/environments/dev/variables", map[string]string{"ERP_URL": "http://dev"}, admin); resp.StatusCode != 200 {
		t.Fatalf("variables: %d %s", resp.StatusCode, body)
	}

	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"orders.yaml":        "kind: Flow\nname: orders\nurl: ${env.ERP_URL}\n",
		"nested/tickets.yml": "kind: Flow\nname: tickets\n",
		"README.md":          "not part of the bundle",
		".git/config.yaml":   "kind: [ignored",
	})
	flows := func(environ []string, args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run(append([]string{"flows"}, args...), environ, &out, &errOut)
		return code, out.String(), errOut.String()
	}
	base := []string{"--url", s.URL, "--app", app.ID}
	withDev := []string{"SKYBRIDGE_DEPLOY_TOKEN=" + devToken}

	code, out, errOut := flows(withDev, append(append([]string{"deploy"}, base...), "--env", "dev", dir)...)
	if code != 0 || !strings.Contains(out, "as version 1") || !strings.Contains(out, "+Flow/orders") || !strings.Contains(out, "+Flow/tickets") {
		t.Fatalf("deploy: exit %d\n%s%s", code, out, errOut)
	}
	// Flags after the directory, and the token as a flag.
	writeFiles(t, dir, map[string]string{"nested/tickets.yml": "kind: Flow\nname: tickets\nv: 2\n"})
	code, out, errOut = flows(nil, append([]string{"deploy", dir, "--token", devToken, "--env", "dev"}, base...)...)
	if code != 0 || !strings.Contains(out, "as version 2: ~Flow/tickets") {
		t.Fatalf("second deploy: exit %d\n%s%s", code, out, errOut)
	}

	bad := t.TempDir()
	writeFiles(t, bad, map[string]string{"flows/bad.yaml": "kind: Flow\nname: ok\n---\nkind: Flow\nname: [x]\n"})
	code, out, errOut = flows(withDev, append(append([]string{"deploy"}, base...), "--env", "dev", bad)...)
	if code != 1 || !strings.Contains(errOut, "flows/bad.yaml:5:7: name: name must be a non-empty string") {
		t.Fatalf("bad deploy: exit %d\n%s%s", code, out, errOut)
	}

	// Promote into prod needs prod's token and prod's variables.
	promote := append(append([]string{"promote"}, base...), "--env", "dev", "--version", "2", "--to", "prod")
	code, _, errOut = flows([]string{"SKYBRIDGE_DEPLOY_TOKEN=" + prodToken}, promote...)
	if code != 1 || !strings.Contains(errOut, "variables.ERP_URL: variable ERP_URL is not set in environment prod") {
		t.Fatalf("promote without variables: exit %d\n%s", code, errOut)
	}
	if resp, body := s.Do(t, "PUT", "/admin/api/apps/"+app.ID+"/environments/prod/variables", map[string]string{"ERP_URL": "http://prod"}, admin); resp.StatusCode != 200 {
		t.Fatalf("variables: %d %s", resp.StatusCode, body)
	}
	code, _, errOut = flows(withDev, promote...)
	if code != 1 || !strings.Contains(errOut, "403") {
		t.Fatalf("promote with the dev token: exit %d\n%s", code, errOut)
	}
	code, out, errOut = flows([]string{"SKYBRIDGE_DEPLOY_TOKEN=" + prodToken}, promote...)
	if code != 0 || !strings.Contains(out, "promoted dev version 2 to prod as version 1") {
		t.Fatalf("promote: exit %d\n%s%s", code, out, errOut)
	}

	code, out, errOut = flows(withDev, append(append([]string{"rollback"}, base...), "--env", "dev")...)
	if code != 0 || !strings.Contains(out, "rolled dev back to version 1 as version 3") {
		t.Fatalf("rollback: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = flows(withDev, append(append([]string{"list"}, base...), "--env", "dev")...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 4 || !strings.HasPrefix(lines[1], "3 ") || !strings.Contains(lines[1], "*") ||
		!strings.Contains(lines[1], "rollback (dev v1)") || strings.Contains(lines[2], "*") {
		t.Fatalf("list: exit %d\n%s%s", code, out, errOut)
	}

	for _, c := range []struct {
		environ []string
		args    []string
		code    int
	}{
		{nil, append(append([]string{"list"}, base...), "--env", "dev"), 2}, // no token
		{withDev, []string{"list", "--app", app.ID, "--env", "dev"}, 2},     // no url
		{withDev, []string{"explode"}, 2},
		{withDev, nil, 2},
		{withDev, append(append([]string{"deploy"}, base...), "--env", "dev"), 2}, // no dir
		{withDev, append(append([]string{"promote"}, base...), "--env", "dev"), 2},
		{[]string{"SKYBRIDGE_DEPLOY_TOKEN=sbd_wrong"}, append(append([]string{"list"}, base...), "--env", "dev"), 1},
	} {
		code, out, errOut := flows(c.environ, c.args...)
		if code != c.code {
			t.Errorf("flows %v: exit %d, want %d\n%s%s", c.args, code, c.code, out, errOut)
		}
		if strings.Contains(out+errOut, devToken) {
			t.Errorf("flows %v printed the token", c.args)
		}
	}
}

// TestFlowsValidate: `flows validate DIR` checks a bundle with the real
// engine, without a server: a good one is summarised, a bad one lists
// each problem as file:line:column and exits 1.
func TestFlowsValidate(t *testing.T) {
	good := map[string]string{
		"connectors/crm.yaml": "apiVersion: skybridge/v1\nkind: Connector\nname: crm\ntype: rest\nconfig: {baseURL: \"${env.CRM_URL}\", auth: {type: bearer, token: \"${secret.CRM_TOKEN}\"}}\noperations:\n  getCustomer: {method: GET, path: \"/customers/{id}\"}\n",
		"flows/customer.yaml": "apiVersion: skybridge/v1\nkind: Flow\nname: customer\nauth: public\ninput: {id: {type: string, required: true}}\nsteps:\n  - {id: c, call: crm.getCustomer, with: {id: \"${input.id}\"}}\noutput: {name: \"${steps.c.name}\"}\n",
	}
	dir := t.TempDir()
	writeFiles(t, dir, good)
	var out, errOut bytes.Buffer
	if code := run([]string{"flows", "validate", dir}, nil, &out, &errOut); code != 0 {
		t.Fatalf("validate a good bundle: exit %d, %s", code, errOut.String())
	}
	if s := out.String(); !strings.Contains(s, "1 flows, 1 connectors") || !strings.Contains(s, "CRM_URL") || !strings.Contains(s, "CRM_TOKEN") {
		t.Fatalf("validate summary: %q", s)
	}
	bad := t.TempDir()
	writeFiles(t, bad, map[string]string{
		"connectors/crm.yaml": good["connectors/crm.yaml"],
		"flows/customer.yaml": strings.Replace(good["flows/customer.yaml"], "crm.getCustomer", "crm.getCustomr", 1),
	})
	out.Reset()
	errOut.Reset()
	if code := run([]string{"flows", "validate", bad}, nil, &out, &errOut); code != 1 {
		t.Fatalf("validate a bad bundle: exit %d, %s", code, errOut.String())
	}
	if s := errOut.String(); !strings.Contains(s, "flows/customer.yaml:7:") || !strings.Contains(s, "getCustomr") {
		t.Fatalf("validate errors: %q", s)
	}
	if code := run([]string{"flows", "validate"}, nil, &out, &errOut); code != 2 {
		t.Fatalf("validate without DIR: exit %d", code)
	}
}
