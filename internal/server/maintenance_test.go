package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/audit"
	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
	"github.com/skybridgehq/skybridge/store"
)

// TestMaintenancePrunes: a maintenance pass removes revoked sessions and
// the audit records past the retention an admin set for the environment,
// and the chain still verifies.
func TestMaintenancePrunes(t *testing.T) {
	for _, st := range stores {
		t.Run("store="+st, func(t *testing.T) {
			ctx := context.Background()
			s := testnode.Start(t, testnode.Options{Store: st})
			app := s.CreateApp(t, "kept")
			dev := app.Env(t, "dev")
			// Three records of last week open the environment's chain.
			old := time.Now().Add(-7 * 24 * time.Hour)
			for i := range 3 {
				err := s.Node.Audit.Record(ctx, audit.Record{
					Time: old.Add(time.Duration(i) * time.Minute), App: app.ID, Env: "dev",
					Actor: audit.Actor{Kind: audit.ActorAnonymous}, Method: "GET", Route: "/v1/auth/me", Status: 401,
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			key := map[string]string{"X-Skybridge-Key": dev.AppKey}
			for _, email := range []string{"stay@example.com", "leave@example.com"} {
				resp, body := s.Do(t, "POST", "/v1/auth/signup", map[string]any{"email": email, "password": "a-fine-passphrase"}, key)
				if resp.StatusCode != http.StatusCreated {
					t.Fatalf("signup %d %s", resp.StatusCode, body)
				}
				if email == "leave@example.com" {
					var sess struct{ AccessToken string }
					_ = json.Unmarshal(body, &sess)
					h := map[string]string{"X-Skybridge-Key": dev.AppKey, "Authorization": "Bearer " + sess.AccessToken}
					if resp, body := s.Do(t, "POST", "/v1/auth/logout", map[string]any{}, h); resp.StatusCode != http.StatusNoContent {
						t.Fatalf("logout %d %s", resp.StatusCode, body)
					}
				}
			}

			admin := map[string]string{"Authorization": "Bearer " + s.AdminToken(t)}
			path := "/admin/api/apps/" + app.ID + "/environments/dev/audit/retention"
			if resp, body := s.Do(t, "GET", path, nil, admin); resp.StatusCode != 200 || string(body) != `{"days":0,"effectiveDays":0}`+"\n" {
				t.Fatalf("default retention %d %s", resp.StatusCode, body)
			}
			for _, bad := range []string{`{"days":-1}`, `{"days":4000}`, `{}`} {
				resp, body := s.Do(t, "PUT", path, json.RawMessage(bad), admin)
				if resp.StatusCode != 400 || !isProblem(resp) || !json.Valid(body) {
					t.Fatalf("PUT %s: %d %s", bad, resp.StatusCode, body)
				}
				var p struct{ Errors []struct{ Field string } }
				if json.Unmarshal(body, &p); len(p.Errors) == 0 || p.Errors[0].Field != "days" {
					t.Fatalf("PUT %s names no field days: %s", bad, body)
				}
			}
			if resp, body := s.Do(t, "PUT", path, map[string]any{"days": 2}, admin); resp.StatusCode != 200 || string(body) != `{"days":2,"effectiveDays":2}`+"\n" {
				t.Fatalf("set retention %d %s", resp.StatusCode, body)
			}
			if resp, _ := s.Do(t, "GET", "/admin/api/apps/"+app.ID+"/environments/nope/audit/retention", nil, admin); resp.StatusCode != 404 {
				t.Fatalf("unknown environment: %d", resp.StatusCode)
			}
			if err := s.Node.Audit.Flush(ctx); err != nil {
				t.Fatal(err)
			}

			rep, err := s.Node.Maintain(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// The shared FerretDB holds other tests' apps too: their
			// environments and revoked sessions count in the report.
			if rep.Skipped || rep.AuditRecords != 3 || rep.Sessions < 1 || rep.RefreshTokens < 1 || rep.Environments < 3 {
				t.Fatalf("maintenance report %+v", rep)
			}
			chain := audit.ChainOf(app.ID, "dev")
			vr, err := s.Node.Audit.Verify(ctx, chain)
			if err != nil || !vr.OK || vr.First != 4 {
				t.Fatalf("verify after prune: %+v %v", vr, err)
			}
			// The user who stayed is still signed in.
			resp, body := s.Do(t, "POST", "/v1/auth/login", map[string]any{"email": "stay@example.com", "password": "a-fine-passphrase"}, key)
			if resp.StatusCode != 200 {
				t.Fatalf("login after maintenance %d %s", resp.StatusCode, body)
			}
			db, err := s.Node.Store.DB(ctx, store.EnvDBName(app.ID, "dev"))
			if err != nil {
				t.Fatal(err)
			}
			if n, err := db.Collection("sessions").Count(ctx, nil); err != nil || n != 2 { // stay's two; leave's is gone
				t.Fatalf("%d sessions left (%v), want 2", n, err)
			}
			if rep, err := s.Node.Maintain(ctx); err != nil || rep.AuditRecords != 0 {
				t.Fatalf("second pass %+v %v", rep, err)
			}
		})
	}
}
