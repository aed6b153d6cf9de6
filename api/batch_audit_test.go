package api

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skybridgehq/skybridge/audit"
	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/internal/testenv/teststore"
	"github.com/skybridgehq/skybridge/keyring"
	"github.com/skybridgehq/skybridge/objectstore"
	"github.com/skybridgehq/skybridge/store"
)

// TestBatchOperationsAudited: every operation a batch runs gets an audit
// record of its own, with the batch's environment, actor and request id;
// operations refused before they ran get none.
func TestBatchOperationsAudited(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	p := teststore.SQLite(t)
	sys, err := p.DB(ctx, store.SystemDB)
	if err != nil {
		t.Fatal(err)
	}
	for _, idx := range []map[string][]store.Index{auth.SystemIndexes(), audit.Indexes()} {
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
	if _, err := svc.CreateAdmin(ctx, testAdminEmail, testAdminPassword, auth.RoleOwner); err != nil {
		t.Fatal(err)
	}
	trail, err := audit.NewService(sys, audit.Config{Key: kr.Derive(audit.KeyPurpose), FlushInterval: time.Millisecond, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	trail.Start()
	t.Cleanup(func() { _ = trail.Close(t.Context()) })
	reg := prometheus.NewRegistry()
	objects := objectstore.NewService(p, objectstore.Config{Logger: log})
	a, err := New(Deps{Auth: svc, Store: p, Objects: objects, Logger: log, Registry: reg, Audit: trail, Version: "test"}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	te := &testEnv{t: t, api: a, srv: srv, auth: svc, store: p, reg: reg, log: buf}
	e := &settingsEnv{userEnv: &userEnv{testEnv: te, app: te.createApp(te.login(), "Audited")}}

	s := e.signup("dev", "audited@example.com", "violet tractor at noon")
	resp := e.do(request{method: "POST", path: "/v1/batch", headers: e.userHeaders("dev", s.AccessToken), body: map[string]any{"operations": []map[string]any{
		op("POST", "/v1/collections/notes/objects", map[string]any{"_id": "n1"}),
		op("DELETE", "/v1/collections/notes/objects/n1", nil),
		op("GET", "/v1/auth/me", nil),
	}}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("batch: %d", resp.StatusCode)
	}
	reqID := resp.Header.Get(RequestIDHeader)
	if err := trail.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// The batch's own record comes from the audit middleware, after the
	// handler returns: poll for it.
	var mine []audit.Record
	deadline := time.Now().Add(10 * time.Second)
	for {
		page, err := trail.Query(ctx, audit.Query{App: e.app.ID, Env: "dev", Limit: audit.MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		mine = mine[:0]
		for _, r := range page.Items {
			if r.RequestID == reqID {
				mine = append(mine, r)
			}
		}
		if len(mine) >= 3 || time.Now().After(deadline) {
			break
		}
		if err := trail.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]audit.Record{
		"POST /v1/batch":                            {Resource: "batch", Status: 200},
		"POST /v1/collections/{col}/objects":        {Resource: "collections/notes/objects", Status: 201, Action: "create"},
		"DELETE /v1/collections/{col}/objects/{id}": {Resource: "collections/notes/objects/n1", Status: 204, Action: "delete"},
	}
	if len(mine) != len(want) {
		t.Fatalf("records of the batch request: %+v", mine)
	}
	for _, r := range mine {
		w, ok := want[r.Method+" "+r.Route]
		if !ok || r.Resource != w.Resource || r.Status != w.Status || (w.Action != "" && r.Action != w.Action) ||
			r.Actor.Kind != audit.ActorUser || r.Actor.ID != s.User.ID || r.Env != "dev" {
			t.Errorf("record %+v", r)
		}
	}
}
