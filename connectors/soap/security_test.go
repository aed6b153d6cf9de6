package soap_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/connectors"
)

// TestUsernameToken: the service verifies the UsernameToken the way a
// WS-Security server does (PasswordText compared, PasswordDigest
// recomputed from nonce + created + its own copy of the password, Created
// fresh, nonce never seen before), for both versions and password types;
// a wrong password is refused with a FailedAuthentication fault that is
// not retryable.
func TestUsernameToken(t *testing.T) {
	t.Parallel()
	for _, version := range []string{"1.1", "1.2"} {
		for _, pwType := range []string{"digest", "text", ""} {
			t.Run("version="+version+"/passwordType="+pwType, func(t *testing.T) {
				t.Parallel()
				srv := newSOAPServer(t, version, nil)
				srv.users = map[string]string{"svc": "p&ss<word>"}
				srv.handle = func(r *received) (int, string) {
					return http.StatusOK, srv.reply(`<c:Who>` + r.username + `</c:Who>`)
				}
				clk := newClock()
				clk.now = time.Now() // the service keeps the wall clock
				security := func(password string) map[string]any {
					s := map[string]any{"type": "usernameToken", "username": "svc", "password": password}
					if pwType != "" {
						s["passwordType"] = pwType
					}
					return s
				}
				c, _ := connect(t, config(srv.URL, version, func(cfg map[string]any) { cfg["security"] = security("p&ss<word>") }),
					ops(map[string]map[string]any{"get": getCustomer(nil)}), connectors.Options{Now: clk.Now})
				for i := range 3 { // three calls, three fresh nonces
					resp, err := call(t, c, "get", map[string]any{"id": i})
					if err != nil {
						t.Fatalf("call %d: %v", i, err)
					}
					if resp.Body != "svc" {
						t.Fatalf("service saw user %v", resp.Body)
					}
				}
				got := srv.received()
				sec := got[0].env.Header.Security
				wantType := map[string]string{"digest": "#PasswordDigest", "": "#PasswordDigest", "text": "#PasswordText"}[pwType]
				if !strings.HasSuffix(sec.Token.Password.Type, wantType) {
					t.Errorf("password type %q", sec.Token.Password.Type)
				}
				if pwType != "text" && bytes.Contains(got[0].raw, []byte("ss&lt;word")) {
					t.Errorf("digest request carries the password")
				}
				if sec.Token.Created != clk.Now().UTC().Format("2006-01-02T15:04:05.000Z") {
					t.Errorf("Created %q is not the connector's clock", sec.Token.Created)
				}

				// A replayed request is refused: the service remembers
				// nonces, and the connector never reuses one.
				replay, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(got[0].raw))
				replay.Header = got[0].header.Clone()
				resp, err := http.DefaultClient.Do(replay)
				if err != nil {
					t.Fatal(err)
				}
				var body bytes.Buffer
				_, _ = body.ReadFrom(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 500 || !strings.Contains(body.String(), "replayed nonce") {
					t.Fatalf("replay answered %d %s", resp.StatusCode, body.String())
				}

				// A token created too long ago is refused.
				clk.Advance(-time.Hour)
				_, err = call(t, c, "get", map[string]any{"id": 1})
				if ce := wantKind(t, err, connectors.KindStatus); !contains(ce.Body.(map[string]any)["fault"].(map[string]any)["reason"].(string), "stale") {
					t.Fatalf("stale token: %+v", ce)
				}
				clk.Advance(time.Hour)

				wrong, _ := connect(t, config(srv.URL, version, func(cfg map[string]any) { cfg["security"] = security("nope") }),
					ops(map[string]map[string]any{"get": getCustomer(nil)}), connectors.Options{})
				_, err = call(t, wrong, "get", map[string]any{"id": 1})
				ce := wantKind(t, err, connectors.KindStatus)
				fault := ce.Body.(map[string]any)["fault"].(map[string]any)
				if ce.Retryable() || (fault["code"] != "FailedAuthentication" && fault["subcode"] != "FailedAuthentication") {
					t.Fatalf("wrong password: %+v", ce)
				}
			})
		}
	}
}

// TestSecurityHeaderShape: mustUnderstand is set by default and can be
// turned off; without security no Header block is sent.
func TestSecurityHeaderShape(t *testing.T) {
	t.Parallel()
	srv := newSOAPServer(t, "1.1", nil)
	srv.handle = func(r *received) (int, string) { return http.StatusOK, srv.reply("<c:Ok/>") }
	for _, tc := range []struct {
		name     string
		security map[string]any
		want     string // mustUnderstand attribute; "-" for no Security header
	}{
		{"default", map[string]any{"type": "usernameToken", "username": "u", "password": "p"}, "1"},
		{"off", map[string]any{"type": "usernameToken", "username": "u", "password": "p", "mustUnderstand": false}, ""},
		{"none", map[string]any{"type": "none"}, "-"},
	} {
		c, _ := connect(t, config(srv.URL, "1.1", func(cfg map[string]any) { cfg["security"] = tc.security }),
			ops(map[string]map[string]any{"get": getCustomer(nil)}), connectors.Options{})
		before := len(srv.received())
		if _, err := call(t, c, "get", map[string]any{"id": 1}); err != nil {
			t.Fatal(err)
		}
		rec := srv.received()[before]
		got := "-"
		if rec.env.Header != nil && rec.env.Header.Security != nil {
			got = rec.env.Header.Security.MustUnderstand
			if rec.env.Header.Security.Token.Username != "u" || rec.env.Header.Security.Token.Nonce.Value == "" {
				t.Errorf("%s: token %+v", tc.name, rec.env.Header.Security.Token)
			}
		}
		if got != tc.want {
			t.Errorf("%s: mustUnderstand %q, want %q", tc.name, got, tc.want)
		}
	}
}
