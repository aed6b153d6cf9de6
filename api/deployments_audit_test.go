package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skybridgehq/skybridge/audit"
	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/internal/testenv/teststore"
	"github.com/skybridgehq/skybridge/keyring"
	"github.com/skybridgehq/skybridge/orchestration/deploy"
	"github.com/skybridgehq/skybridge/orchestration/deploy/deploytest"
	"github.com/skybridgehq/skybridge/store"
)

// TestDeploymentRoutesAudited: each flow change leaves an audit record
// naming its environment, resource and admin, and no record holds a
// secret value.
func TestDeploymentRoutesAudited(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	p := teststore.SQLite(t)
	sys, err := p.DB(ctx, store.SystemDB)
	if err != nil {
		t.Fatal(err)
	}
	for _, idx := range []map[string][]store.Index{auth.SystemIndexes(), audit.Indexes(), deploy.Indexes()} {
		if err := store.EnsureIndexes(ctx, sys, idx); err != nil {
			t.Fatal(err)
		}
	}
	kr, _, err := keyring.Generate()
	if err != nil {
		t.Fatal(err)
	}
	log, buf := newTestLogger()
	svc := auth.NewService(sys, kr, auth.Config{Password: auth.PasswordParams{Memory: 1024, Time: 1, Threads: 1}, Logger: log})
	owner, err := svc.CreateAdmin(ctx, testAdminEmail, testAdminPassword, auth.RoleOwner)
	if err != nil {
		t.Fatal(err)
	}
	trail, err := audit.NewService(sys, audit.Config{Key: kr.Derive(audit.KeyPurpose), FlushInterval: time.Millisecond, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	trail.Start()
	t.Cleanup(func() { _ = trail.Close(t.Context()) })
	deployments := deploy.NewService(sys, kr, &deploytest.Builder{}, deploy.Config{Logger: log})
	t.Cleanup(func() { _ = deployments.Close() })
	a, err := New(Deps{Auth: svc, Store: p, Logger: log, Registry: prometheus.NewRegistry(), Audit: trail, Deployments: deployments, Version: "test"}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	te := &testEnv{t: t, api: a, srv: srv, auth: svc, store: p, log: buf}
	d := &deployEnvT{testEnv: te, owner: te.login()}
	d.app = te.createApp(d.owner, "Audited")

	d.call(d.owner, "PUT", d.path("dev", "/variables"), map[string]any{"URL": "u"}, 200, nil)
	d.call(d.owner, "PUT", d.path("dev", "/secrets/TOKEN"), map[string]string{"value": testSecretValue}, 200, nil)
	d.call(d.owner, "POST", d.path("dev", "/deployments"), map[string]any{"files": map[string]string{"a.yaml": "kind: Flow\nname: a\nx: ${secret.TOKEN}\n"}}, 201, nil)
	d.call(d.owner, "POST", d.path("dev", "/deployments"), map[string]any{"files": map[string]string{"a.yaml": "kind: Flow\nname: a\n"}}, 201, nil)
	d.call(d.owner, "POST", d.path("dev", "/rollback"), nil, 201, nil)
	d.call(d.owner, "PUT", d.path("prod", "/secrets/TOKEN"), map[string]string{"value": testSecretValue}, 200, nil)
	d.call(d.owner, "POST", d.path("dev", "/deployments/1/promote"), map[string]string{"to": "prod"}, 201, nil)
	d.call(d.owner, "DELETE", d.path("dev", "/secrets/TOKEN"), nil, 400, nil)

	want := map[string]string{ // resource → environment of its record
		"variables": "dev", "secrets/TOKEN": "dev", "deployments": "dev", "rollback": "dev", "deployments/1/promote": "prod",
	}
	base := "apps/" + d.app.ID + "/environments/dev/"
	found := map[string]bool{}
	deadline := time.Now().Add(10 * time.Second)
	for len(found) < len(want) && time.Now().Before(deadline) {
		if err := trail.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		for _, env := range []string{"dev", "prod"} {
			page, err := trail.Query(ctx, audit.Query{App: d.app.ID, Env: env, Limit: audit.MaxLimit})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range page.Items {
				raw, _ := json.Marshal(r)
				if strings.Contains(string(raw), testSecretValue) {
					t.Fatalf("an audit record holds a secret: %s", raw)
				}
				res, ok := strings.CutPrefix(r.Resource, base)
				if ok && want[res] == r.Env && r.Actor.Kind == audit.ActorAdmin && r.Actor.ID == owner.ID {
					found[res] = true
				}
			}
		}
	}
	if len(found) != len(want) {
		t.Errorf("audited %v, want every one of %v", found, want)
	}
	if resp := d.do(request{method: "GET", path: d.path("dev", "/secrets"), headers: bearer(d.owner)}); resp.StatusCode != http.StatusOK {
		t.Errorf("list secrets: %d", resp.StatusCode)
	}
}
