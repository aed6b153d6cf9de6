package push_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/skybridgehq/skybridge/push"
	"github.com/skybridgehq/skybridge/push/pushtest"
	"github.com/skybridgehq/skybridge/store"
)

func otherP8(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func TestCredentialsAreCheckedSealedAndNeverShown(t *testing.T) {
	t.Parallel()
	r := newRig(t, push.Config{})
	ctx := context.Background()
	good := push.APNsCredentials{Key: r.apns.Key, KeyID: r.apns.KeyID, TeamID: r.apns.TeamID, BundleID: r.apns.BundleID}

	bad := good
	bad.Key = otherP8(t)
	if _, err := r.svc.SetAPNs(ctx, r.env, bad); !errors.Is(err, push.ErrCredentials) || !strings.Contains(err.Error(), "InvalidProviderToken") {
		t.Errorf("a key APNs refuses: %v", err)
	}
	wrongTopic := good
	wrongTopic.BundleID = "com.example.other"
	if _, err := r.svc.SetAPNs(ctx, r.env, wrongTopic); !errors.Is(err, push.ErrCredentials) {
		t.Errorf("a bundle id APNs refuses: %v", err)
	}
	notAKey := good
	notAKey.Key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
	var fe *push.FieldError
	if _, err := r.svc.SetAPNs(ctx, r.env, notAKey); !errors.As(err, &fe) || fe.Field != "key" {
		t.Errorf("not a key: %v", err)
	}
	if info, err := r.svc.SetAPNs(ctx, r.env, good); err != nil || info.KeyID != good.KeyID {
		t.Fatalf("good key: %+v %v", info, err)
	}

	other := pushtest.NewFCM(t) // a service account the configured FCM does not know
	if _, err := r.svc.SetFCM(ctx, r.env, push.FCMCredentials{ServiceAccount: other.ServiceAccountJSON}); !errors.Is(err, push.ErrCredentials) {
		t.Errorf("an unknown service account: %v", err)
	}
	if _, err := r.svc.SetFCM(ctx, r.env, push.FCMCredentials{ServiceAccount: json.RawMessage(`{"type":"user"}`)}); !errors.As(err, &fe) {
		t.Errorf("not a service account: %v", err)
	}
	if _, err := r.svc.SetFCM(ctx, r.env, push.FCMCredentials{ServiceAccount: r.fcm.ServiceAccountJSON}); err != nil {
		t.Fatalf("good service account: %v", err)
	}
	if r.fcm.DryRuns() == 0 {
		t.Error("the FCM check made no validate-only send")
	}

	info, err := r.svc.Credentials(ctx, r.env)
	if err != nil || info.APNs == nil || info.FCM == nil || info.FCM.ProjectID != r.fcm.ProjectID {
		t.Fatalf("credentials %+v %v", info, err)
	}
	shown, _ := json.Marshal(info)
	if strings.Contains(string(shown), "PRIVATE KEY") {
		t.Errorf("credentials shown with their key: %s", shown)
	}
	// Stored sealed: the raw documents hold no key material.
	page, err := r.sys.Collection(push.CredentialsCollection).Find(ctx, store.Query{})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(page.Docs)
	if strings.Contains(string(raw), "PRIVATE KEY") || strings.Contains(string(raw), "BEGIN") {
		t.Errorf("credentials stored in clear: %s", raw)
	}
	if err := r.svc.DeleteCredentials(ctx, r.env, "apns"); err != nil {
		t.Fatal(err)
	}
	if info, _ := r.svc.Credentials(ctx, r.env); info.APNs != nil {
		t.Errorf("APNs credentials still there: %+v", info)
	}
}

// Two nodes share one provider token: APNs sees one, however many nodes
// send (TooManyProviderTokenUpdates never happens). Three nodes share the
// queue, on SQLite and on the MongoDB adapter (FerretDB): each token gets
// exactly one request.
func TestNodesShareOneProviderToken(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"sqlite", "ferretdb"} {
		t.Run("store="+kind, func(t *testing.T) {
			t.Parallel()
			nodesShareOneProviderToken(t, kind)
		})
	}
}

func nodesShareOneProviderToken(t *testing.T, kind string) {
	// FerretDB (over its SQLite backend, without secondary indexes) is
	// slow: a smaller send covers the same paths.
	n, size := 200, 20
	if kind == "ferretdb" {
		n, size = 30, 10
	}
	r := newRigOn(t, kind, push.Config{BatchSize: size})
	r.credentials(t)
	r.node(t)
	r.node(t)
	for i := range n {
		r.register(t, device{platform: push.PlatformIOS, token: iosToken(i), topics: []string{"t"}})
	}
	id := r.send(t, push.SendRequest{Target: push.Target{Topics: []string{"t"}}, Notification: push.Notification{Title: "x"}})
	if st := r.waitDone(t, id); st.Counts.Sent != int64(n) {
		t.Fatalf("status %+v", st)
	}
	for i := range n {
		if c := r.apns.Count(iosToken(i)); c != 1 {
			t.Errorf("token %d got %d requests", i, c)
		}
	}
	if c := r.apns.ProviderTokens(); c != 1 {
		t.Errorf("APNs saw %d provider tokens, want 1", c)
	}
}

// A node that stops in the middle of a send records what it sent and
// releases the rest: with another node finishing, each token gets
// exactly one request.
func TestGracefulStopMidSendIsExactlyOnce(t *testing.T) {
	t.Parallel()
	const n = 1500
	r := newRig(t, push.Config{BatchSize: 100, Workers: 2, Concurrency: 8})
	r.credentials(t)
	for i := range n {
		r.register(t, device{platform: push.PlatformIOS, token: iosToken(i), topics: []string{"t"}})
	}
	// 20ms a request, 16 at a time: the whole send takes about 2s, so the
	// node stops with most of it still to do, however loaded the machine.
	r.apns.SetDelay(20e6)
	id := r.send(t, push.SendRequest{Target: push.Target{Topics: []string{"t"}}, Notification: push.Notification{Title: "x"}})
	r.waitStatus(t, id, "half sent", func(s push.Status) bool { return s.Counts.Sent > 200 })
	if err := r.svc.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	mid, _ := r.svc.Status(context.Background(), r.env, id)
	if mid.Counts.Sent >= n {
		t.Fatalf("the send finished before the stop, so the test proves nothing: %+v", mid)
	}
	r.svc = r.node(t)
	st := r.waitDone(t, id)
	if st.Counts.Sent != n {
		t.Fatalf("status %+v", st)
	}
	for i := range n {
		if c := r.apns.Count(iosToken(i)); c != 1 {
			t.Errorf("token %d got %d requests", i, c)
		}
	}
}
