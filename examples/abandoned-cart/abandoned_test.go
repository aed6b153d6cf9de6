// Package abandonedcart runs the abandoned-cart example of flows/: a
// trigger and a flow with a push step, against a local fake APNs.
package abandonedcart

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/internal/server"
	"github.com/skybridgehq/skybridge/internal/testenv"
	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
	"github.com/skybridgehq/skybridge/orchestration/trigger"
	"github.com/skybridgehq/skybridge/push/pushtest"
	"github.com/skybridgehq/skybridge/store"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopShared()
	os.Exit(code)
}

// readBundle reads flows/ as a deployment's files.
func readBundle(t *testing.T) map[string]string {
	files := map[string]string{}
	err := filepath.WalkDir("flows", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		files[filepath.ToSlash(strings.TrimPrefix(p, "flows"+string(filepath.Separator)))] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestAbandonedCart: a cart left open for 48 hours brings its owner one
// push notification in the device's language.
func TestAbandonedCart(t *testing.T) {
	apns := pushtest.NewAPNs(t)
	ca := apns.WriteCA(t, t.TempDir())
	s := testnode.Start(t, testnode.Options{Configure: func(c *server.Config) {
		c.PushAPNsURL, c.PushAPNsCAFile = apns.URL, ca
		c.TriggerPollInterval, c.PushPollInterval = 50*time.Millisecond, 50*time.Millisecond
	}})
	app := s.CreateApp(t, "shop")
	dev := app.Env(t, "dev")
	admin := map[string]string{"Authorization": "Bearer " + s.AdminToken(t)}
	env := "/admin/api/apps/" + app.ID + "/environments/dev"
	do := func(method, path string, body any, h map[string]string, want int) map[string]any {
		t.Helper()
		resp, b := s.Do(t, method, path, body, h)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, b, want)
		}
		var out map[string]any
		_ = json.Unmarshal(b, &out)
		return out
	}

	// The shop's APNs key, checked with a request to APNs when saved.
	do("PUT", env+"/push/apns", map[string]any{"key": apns.Key, "keyId": apns.KeyID, "teamId": apns.TeamID, "bundleId": apns.BundleID}, admin, 200)
	do("POST", env+"/deployments", map[string]any{"files": readBundle(t)}, admin, 201)

	// A shopper signs up on their iPhone, set to German.
	key := map[string]string{"X-Skybridge-Key": dev.AppKey}
	signup := do("POST", "/v1/auth/signup", map[string]string{"email": "ann@example.com", "password": "violet tractor at noon"}, key, 201)
	user := map[string]string{"X-Skybridge-Key": dev.AppKey, "Authorization": "Bearer " + signup["accessToken"].(string)}
	token := strings.Repeat("ab", 32)
	do("POST", "/v1/push/installations", map[string]any{"platform": "ios", "token": token, "locale": "de-DE", "timezone": "Europe/Berlin"}, user, 201)

	// They fill a cart and leave. Until the trigger runtime has read the
	// new deployment the change may go unseen: touch the cart until its
	// firing is pending.
	cart := do("POST", "/v1/collections/carts/objects", map[string]any{"status": "open", "items": []string{"boots", "socks", "hat"}}, user, 201)
	cartID := cart["_id"].(string)
	sys, err := s.Node.Store.DB(context.Background(), store.SystemDB)
	if err != nil {
		t.Fatal(err)
	}
	firings := sys.Collection(trigger.FiringsCollection)
	var firing store.Doc
	for i := 0; firing == nil; i++ {
		if i == 200 {
			t.Fatal("no firing for the cart within 20s")
		}
		do("PATCH", "/v1/collections/carts/objects/"+cartID, map[string]any{"touched": i}, user, 200)
		testenv.WaitFor(context.Background(), 100*time.Millisecond, func() bool {
			page, err := firings.Find(context.Background(), store.Query{Filter: store.Compare{Path: "event.id", Op: store.OpEq, Value: cartID}})
			if err == nil && len(page.Docs) == 1 {
				firing = page.Docs[0]
			}
			return firing != nil
		})
	}
	// Wait until the firing holds the cart's last change, so that no
	// event still in the feed moves it again after the clock jump below.
	var last map[string]any
	resp, b := s.Do(t, "GET", "/v1/collections/carts/objects/"+cartID, nil, user)
	if resp.StatusCode != 200 || json.Unmarshal(b, &last) != nil {
		t.Fatalf("read the cart: %d %s", resp.StatusCode, b)
	}
	if !testenv.WaitFor(context.Background(), 20*time.Second, func() bool {
		d, err := firings.Get(context.Background(), store.DocID(firing))
		if err != nil {
			return false
		}
		firing = d
		ev, _ := d["event"].(map[string]any)
		seq, _ := store.Int64(ev["seq"])
		want, _ := store.Int64(last["_seq"])
		return seq == want
	}) {
		t.Fatalf("the firing %v never caught up with the cart's last change %v", firing["event"], last["_seq"])
	}
	due, _ := time.Parse(store.TimeFormat, firing["due"].(string))
	if until := time.Until(due); until < 47*time.Hour || until > 48*time.Hour {
		t.Fatalf("the reminder is due in %s, want 48h", until)
	}
	if apns.Total() != 1 { // the credential check only
		t.Fatalf("APNs got %d requests before the 48 hours passed", apns.Total())
	}

	// 48 hours pass (the firing's due time moves instead).
	if _, err := firings.Update(context.Background(), store.DocID(firing), store.DocVersion(firing), store.Update{Set: map[string]any{"due": store.FormatTime(time.Now().Add(-time.Second))}}); err != nil {
		t.Fatal(err)
	}
	if !testenv.WaitFor(context.Background(), 20*time.Second, func() bool { return apns.Count(token) > 0 }) {
		t.Fatal("no reminder reached APNs")
	}
	req, _ := apns.Last(token)
	alert := req.Body["aps"].(map[string]any)["alert"].(map[string]any)
	if alert["title"] != "Dein Warenkorb wartet" || alert["body"] != "3 Artikel liegen noch in deinem Warenkorb." {
		t.Errorf("alert %v", alert)
	}
	if req.Body["cartId"] != cartID || req.Headers["apns-collapse-id"] != "cart-"+cartID || req.Headers["apns-topic"] != apns.BundleID {
		t.Errorf("request %+v", req)
	}
	if !testenv.WaitFor(context.Background(), 10*time.Second, func() bool {
		d, err := firings.Get(context.Background(), store.DocID(firing))
		return err == nil && d["state"] == trigger.StateDone
	}) {
		t.Error("the firing did not finish")
	}
	if n := apns.Count(token); n != 1 {
		t.Errorf("APNs got %d reminders, want 1", n)
	}
	if errs := apns.Errors(); len(errs) > 0 {
		t.Errorf("protocol errors: %v", errs)
	}
}
