package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/internal/server"
	"github.com/skybridgehq/skybridge/internal/testenv"
	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
	"github.com/skybridgehq/skybridge/push/pushtest"
)

// pushNode is a node whose push goes to a fake APNs, with an app and a
// signed-up user.
type pushNode struct {
	s                 *testnode.Server
	apns              *pushtest.APNs
	app               testnode.App
	key, server, user map[string]string
	other             map[string]string
	admin             map[string]string
	envPath           string
}

func startPush(t *testing.T) *pushNode {
	t.Helper()
	apns := pushtest.NewAPNs(t)
	ca := apns.WriteCA(t, t.TempDir())
	s := testnode.Start(t, testnode.Options{Configure: func(c *server.Config) {
		c.PushAPNsURL, c.PushAPNsCAFile, c.PushPollInterval = apns.URL, ca, 50*time.Millisecond
	}})
	app := s.CreateApp(t, "push")
	dev := app.Env(t, "dev")
	p := &pushNode{s: s, apns: apns, app: app, key: map[string]string{"X-Skybridge-Key": dev.AppKey},
		server:  map[string]string{"X-Skybridge-Key": dev.AppKey, "X-Skybridge-Server-Key": dev.ServerKey},
		admin:   map[string]string{"Authorization": "Bearer " + s.AdminToken(t)},
		envPath: "/admin/api/apps/" + app.ID + "/environments/dev"}
	signup := func(email string) map[string]string {
		var out struct{ AccessToken string }
		p.call(t, http.MethodPost, "/v1/auth/signup", map[string]string{"email": email, "password": "violet tractor at noon"}, p.key, http.StatusCreated, &out)
		return map[string]string{"X-Skybridge-Key": dev.AppKey, "Authorization": "Bearer " + out.AccessToken}
	}
	p.user, p.other = signup("ann@example.com"), signup("bob@example.com")
	return p
}

// call sends a request, checks its status and decodes the body into out.
func (p *pushNode) call(t *testing.T, method, path string, body any, h map[string]string, want int, out any) http.Header {
	t.Helper()
	resp, b := p.s.Do(t, method, path, body, h)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.Header
}

// problemField checks a 400 problem names field.
func (p *pushNode) problemField(t *testing.T, method, path string, body any, h map[string]string, field string) {
	t.Helper()
	var prob struct {
		Status int
		Errors []struct{ Field string }
	}
	p.call(t, method, path, body, h, http.StatusBadRequest, &prob)
	if len(prob.Errors) == 0 || prob.Errors[0].Field != field {
		t.Errorf("%s %s %v: problem %+v, want field %s", method, path, body, prob, field)
	}
}

func TestPushInstallationsOverHTTP(t *testing.T) {
	t.Parallel()
	p := startPush(t)
	tok := strings.Repeat("0a", 32)
	var inst struct {
		ID, UserID string
		Topics     []string
	}
	h := p.call(t, http.MethodPost, "/v1/push/installations", map[string]any{"platform": "ios", "token": tok, "topics": []string{"news"}, "locale": "en"}, p.user, http.StatusCreated, &inst)
	if inst.ID == "" || inst.UserID == "" || h.Get("Location") != "/v1/push/installations/"+inst.ID {
		t.Fatalf("installation %+v, Location %q", inst, h.Get("Location"))
	}
	p.problemField(t, http.MethodPost, "/v1/push/installations", map[string]any{"platform": "blackberry", "token": "x"}, p.user, "platform")
	p.problemField(t, http.MethodPost, "/v1/push/installations", map[string]any{"platform": "ios", "token": "xyz"}, p.key, "token")
	p.problemField(t, http.MethodPost, "/v1/push/installations", map[string]any{"platform": "ios", "token": tok, "timezone": "Nowhere/Land"}, p.user, "timezone")
	p.problemField(t, http.MethodPatch, "/v1/push/installations/"+inst.ID, map[string]any{"token": tok}, p.user, "token")

	p.call(t, http.MethodPatch, "/v1/push/installations/"+inst.ID, map[string]any{"topics": []string{"a"}}, p.other, http.StatusForbidden, nil)
	p.call(t, http.MethodPatch, "/v1/push/installations/"+inst.ID, map[string]any{"topics": []string{"a", "b"}}, p.user, http.StatusOK, &inst)
	if len(inst.Topics) != 2 {
		t.Errorf("topics %v", inst.Topics)
	}
	// The token moves to whoever registers it last; anonymous is allowed.
	var anon struct{ ID, UserID string }
	p.call(t, http.MethodPost, "/v1/push/installations", map[string]any{"platform": "ios", "token": tok}, p.key, http.StatusCreated, &anon)
	if anon.ID != inst.ID || anon.UserID != "" {
		t.Errorf("re-registered anonymously: %+v", anon)
	}
	p.call(t, http.MethodDelete, "/v1/push/installations/"+inst.ID, nil, p.other, http.StatusNoContent, nil)
	p.call(t, http.MethodDelete, "/v1/push/installations/"+inst.ID, nil, p.user, http.StatusNotFound, nil)
	p.call(t, http.MethodPost, "/v1/push/installations", map[string]any{"platform": "ios", "token": tok}, nil, http.StatusUnauthorized, nil)
}

func TestPushSendOverHTTP(t *testing.T) {
	t.Parallel()
	p := startPush(t)
	tok := strings.Repeat("0b", 32)
	p.call(t, http.MethodPost, "/v1/push/installations", map[string]any{"platform": "ios", "token": tok, "topics": []string{"news"}}, p.user, http.StatusCreated, nil)
	send := map[string]any{"target": map[string]any{"topics": []string{"news"}}, "notification": map[string]any{"title": "Hello"}}
	p.call(t, http.MethodPost, "/v1/push/send", send, p.user, http.StatusForbidden, nil)
	p.call(t, http.MethodPost, "/v1/push/send", send, p.key, http.StatusForbidden, nil)
	p.problemField(t, http.MethodPost, "/v1/push/send", map[string]any{"target": map[string]any{}, "notification": map[string]any{"title": "x"}}, p.server, "target")
	p.problemField(t, http.MethodPost, "/v1/push/send", map[string]any{"target": map[string]any{"segment": map[string]any{"token": "x"}}, "notification": map[string]any{"title": "x"}}, p.server, "target.segment")

	// No credentials yet: the status says so.
	var sent struct{ ID string }
	p.call(t, http.MethodPost, "/v1/push/send", send, p.server, http.StatusAccepted, &sent)
	var st struct {
		Status, Reason string
		Counts         struct{ Sent, Targeted int }
	}
	if !testenv.WaitFor(context.Background(), 20*time.Second, func() bool {
		p.call(t, http.MethodGet, "/v1/push/notifications/"+sent.ID, nil, p.server, http.StatusOK, &st)
		return st.Status == "failed"
	}) || !strings.Contains(st.Reason, "APNs credentials are not configured for environment dev") {
		t.Fatalf("status without credentials: %+v", st)
	}
	p.call(t, http.MethodGet, "/v1/push/notifications/"+sent.ID, nil, p.user, http.StatusForbidden, nil)
	p.call(t, http.MethodGet, "/v1/push/notifications/nope", nil, p.server, http.StatusNotFound, nil)

	// Credentials through the admin API: checked, never shown.
	bad := map[string]any{"key": p.apns.Key, "keyId": "ZZZZZ99999", "teamId": p.apns.TeamID, "bundleId": p.apns.BundleID}
	p.call(t, http.MethodPut, p.envPath+"/push/apns", bad, p.admin, http.StatusUnprocessableEntity, nil)
	p.problemField(t, http.MethodPut, p.envPath+"/push/apns", map[string]any{"key": "nope", "keyId": p.apns.KeyID, "teamId": p.apns.TeamID, "bundleId": p.apns.BundleID}, p.admin, "key")
	good := map[string]any{"key": p.apns.Key, "keyId": p.apns.KeyID, "teamId": p.apns.TeamID, "bundleId": p.apns.BundleID}
	p.call(t, http.MethodPut, p.envPath+"/push/apns", good, p.admin, http.StatusOK, nil)
	resp, body := p.s.Do(t, http.MethodGet, p.envPath+"/push", nil, p.admin)
	if resp.StatusCode != http.StatusOK || strings.Contains(string(body), "PRIVATE KEY") || !strings.Contains(string(body), p.apns.KeyID) {
		t.Errorf("credentials shown: %d %s", resp.StatusCode, body)
	}

	h := p.call(t, http.MethodPost, "/v1/push/send", send, p.server, http.StatusAccepted, &sent)
	if h.Get("Location") != "/v1/push/notifications/"+sent.ID {
		t.Errorf("Location %q", h.Get("Location"))
	}
	if !testenv.WaitFor(context.Background(), 20*time.Second, func() bool {
		st.Reason = "" // absent when there is none
		p.call(t, http.MethodGet, "/v1/push/notifications/"+sent.ID, nil, p.server, http.StatusOK, &st)
		return st.Status == "done"
	}) || st.Counts.Sent != 1 || st.Reason != "" {
		t.Fatalf("status %+v", st)
	}
	if n := p.apns.Count(tok); n != 1 {
		t.Errorf("APNs got %d requests", n)
	}
	p.call(t, http.MethodDelete, p.envPath+"/push/apns", nil, p.admin, http.StatusNoContent, nil)
	p.call(t, http.MethodDelete, p.envPath+"/push/apns", nil, p.admin, http.StatusNotFound, nil)

	var doc struct{ Paths map[string]any }
	p.call(t, http.MethodGet, "/v1/openapi.json", nil, nil, http.StatusOK, &doc)
	for _, path := range []string{"/v1/push/send", "/v1/push/installations", "/v1/push/notifications/{id}", "/admin/api/apps/{id}/environments/{env}/push/apns"} {
		if doc.Paths[path] == nil {
			t.Errorf("OpenAPI lacks %s", path)
		}
	}
	resp, body = p.s.Do(t, http.MethodGet, "/metrics", nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "skybridge_push_deliveries_total") {
		t.Errorf("metrics lack the push counters")
	}
}
