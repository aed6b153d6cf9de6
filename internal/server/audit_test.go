package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/skybridgehq/skybridge/audit"
	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
)

// TestAuditRecordsEachActor acts as an app user, a trusted server and an
// admin, and finds each request in the audit trail with the right actor,
// route and resource; the chains then verify.
func TestAuditRecordsEachActor(t *testing.T) {
	for _, st := range stores {
		t.Run("store="+st, func(t *testing.T) {
			s := testnode.Start(t, testnode.Options{Store: st})
			app := s.CreateApp(t, "audited")
			dev := app.Env(t, "dev")
			key := map[string]string{"X-Skybridge-Key": dev.AppKey, "User-Agent": "demo-ios/1.0", "X-App-Version": "1.0.3"}

			resp, body := s.Do(t, "POST", "/v1/auth/signup", map[string]any{"email": "ann@example.com", "password": "a-fine-passphrase"}, key)
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("signup %d %s", resp.StatusCode, body)
			}
			var signed struct {
				User        struct{ ID string }
				AccessToken string
			}
			if err := json.Unmarshal(body, &signed); err != nil || signed.User.ID == "" {
				t.Fatalf("signup answer %s", body)
			}
			withUser := map[string]string{"X-Skybridge-Key": dev.AppKey, "Authorization": "Bearer " + signed.AccessToken, "User-Agent": "demo-ios/1.0", "X-App-Version": "1.0.3"}
			if resp, body := s.Do(t, "GET", "/v1/auth/me", nil, withUser); resp.StatusCode != 200 {
				t.Fatalf("me %d %s", resp.StatusCode, body)
			}
			server := map[string]string{"X-Skybridge-Key": dev.AppKey, "X-Skybridge-Server-Key": dev.ServerKey}
			if resp, body := s.Do(t, "POST", "/v1/auth/anonymous", map[string]any{"deviceId": "kiosk-0007-device"}, server); resp.StatusCode != 200 {
				t.Fatalf("anonymous %d %s", resp.StatusCode, body)
			}
			tok := s.AdminToken(t)
			admin := map[string]string{"Authorization": "Bearer " + tok}
			if resp, _ := s.Do(t, "GET", "/admin/api/apps/"+app.ID, nil, admin); resp.StatusCode != 200 {
				t.Fatalf("get app %d", resp.StatusCode)
			}
			if err := s.Node.Audit.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}

			find := func(query string) []audit.Record {
				t.Helper()
				resp, body := s.Do(t, "GET", "/admin/api/audit?"+query, nil, admin)
				if resp.StatusCode != 200 {
					t.Fatalf("audit query %s: %d %s", query, resp.StatusCode, body)
				}
				var page audit.Page
				if err := json.Unmarshal(body, &page); err != nil {
					t.Fatal(err)
				}
				return page.Items
			}
			has := func(recs []audit.Record, method, route string, check func(audit.Record) bool) {
				t.Helper()
				for _, r := range recs {
					if r.Method == method && r.Route == route && check(r) {
						return
					}
				}
				t.Errorf("no %s %s record among %+v", method, route, recs)
			}
			users := find("app=" + app.ID + "&env=dev&actor=user:" + signed.User.ID)
			has(users, "GET", "/v1/auth/me", func(r audit.Record) bool {
				return r.Status == 200 && r.Resource == "auth/me" && r.UserAgent == "demo-ios/1.0" && r.AppVersion == "1.0.3" && r.IP == "127.0.0.1" && r.RequestID != ""
			})
			has(users, "POST", "/v1/auth/signup", func(r audit.Record) bool { return r.Status == 201 && r.Action == "create" })
			has(find("actor=server"), "POST", "/v1/auth/anonymous", func(r audit.Record) bool { return r.App == app.ID && r.Env == "dev" })
			admins := find("actor=admin")
			has(admins, "GET", "/admin/api/apps/{id}", func(r audit.Record) bool {
				return r.Resource == "apps/"+app.ID && r.Actor.ID != "" && r.App == ""
			})
			for _, recs := range [][]audit.Record{users, admins} {
				for _, r := range recs {
					raw, _ := json.Marshal(r)
					for _, secret := range []string{signed.AccessToken, dev.ServerKey, tok, "a-fine-passphrase"} {
						if strings.Contains(string(raw), secret) {
							t.Fatalf("audit record carries a secret: %s", raw)
						}
					}
				}
			}
			for _, chain := range []string{audit.ChainOf(app.ID, "dev"), audit.SystemChain} {
				rep, err := s.Node.Audit.Verify(context.Background(), chain)
				if err != nil || !rep.OK || rep.Records == 0 {
					t.Fatalf("verify %s: %+v %v", chain, rep, err)
				}
			}
			resp, _ = s.Do(t, "GET", "/admin/api/audit?actor=nobody", nil, admin)
			if resp.StatusCode != 400 || !isProblem(resp) {
				t.Fatalf("bad audit query: %d", resp.StatusCode)
			}
		})
	}
}
