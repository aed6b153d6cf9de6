package push_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/internal/testenv"
	"github.com/skybridgehq/skybridge/internal/testenv/teststore"
	"github.com/skybridgehq/skybridge/keyring"
	"github.com/skybridgehq/skybridge/push"
	"github.com/skybridgehq/skybridge/push/pushtest"
	"github.com/skybridgehq/skybridge/store"
)

// rig is a push service over a fresh SQLite store with fake APNs and FCM.
type rig struct {
	svc    *push.Service
	apns   *pushtest.APNs
	fcm    *pushtest.FCM
	env    push.Env
	stores store.Provider
	sys    store.DB
	keys   *keyring.Keyring
	cfg    push.Config
	clock  *clock
}

// clock is a settable offset from the real time.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopShared()
	os.Exit(code)
}

func newRig(t *testing.T, cfg push.Config) *rig { t.Helper(); return newRigOn(t, "sqlite", cfg) }

// newRigOn is newRig on store kind "sqlite" or "ferretdb" (the MongoDB
// adapter).
func newRigOn(t *testing.T, kind string, cfg push.Config) *rig {
	t.Helper()
	p := teststore.SQLite(t)
	if kind == "ferretdb" {
		p = teststore.FerretDB(t)
	}
	sys, err := p.DB(context.Background(), store.SystemDB)
	if err != nil {
		t.Fatal(err)
	}
	kr, _, err := keyring.Generate()
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{apns: pushtest.NewAPNs(t), fcm: pushtest.NewFCM(t), env: push.Env{AppID: "app1", Name: "dev"}, stores: p, sys: sys, keys: kr, clock: &clock{}}
	cfg.APNsURL, cfg.APNsRootCAs, cfg.FCMURL = r.apns.URL, r.apns.CertPool(), r.fcm.URL
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 20 * time.Millisecond
	}
	if cfg.RetryBackoff == 0 {
		cfg.RetryBackoff = 5 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = r.clock.now
	}
	r.cfg = cfg
	r.svc = r.node(t)
	return r
}

// node starts another service (another node) over the rig's store.
func (r *rig) node(t *testing.T) *push.Service {
	t.Helper()
	svc := push.New(r.sys, r.stores, r.keys, r.cfg)
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Shutdown(context.Background()) })
	return svc
}

func (r *rig) credentials(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	if _, err := r.svc.SetAPNs(ctx, r.env, push.APNsCredentials{Key: r.apns.Key, KeyID: r.apns.KeyID, TeamID: r.apns.TeamID, BundleID: r.apns.BundleID}); err != nil {
		t.Fatalf("SetAPNs: %v", err)
	}
	if _, err := r.svc.SetFCM(ctx, r.env, push.FCMCredentials{ServiceAccount: r.fcm.ServiceAccountJSON}); err != nil {
		t.Fatalf("SetFCM: %v", err)
	}
}

// device describes an installation to register.
type device struct {
	platform, token, user, locale, tz string
	topics                            []string
}

func (r *rig) register(t *testing.T, d device) push.Installation {
	t.Helper()
	in := push.InstallationInput{Platform: d.platform, Token: d.token}
	if d.topics != nil {
		in.Topics = &d.topics
	}
	if d.locale != "" {
		in.Locale = &d.locale
	}
	if d.tz != "" {
		in.Timezone = &d.tz
	}
	inst, err := r.svc.Register(context.Background(), r.env, d.user, in)
	if err != nil {
		t.Fatalf("register %+v: %v", d, err)
	}
	return inst
}

func (r *rig) send(t *testing.T, req push.SendRequest) string {
	t.Helper()
	id, err := r.svc.Send(context.Background(), r.env, req)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	return id
}

// waitStatus polls the status of id until cond holds.
func (r *rig) waitStatus(t *testing.T, id string, what string, cond func(push.Status) bool) push.Status {
	t.Helper()
	var st push.Status
	var err error
	if !testenv.WaitFor(context.Background(), 30*time.Second, func() bool {
		st, err = r.svc.Status(context.Background(), r.env, id)
		return err == nil && cond(st)
	}) {
		t.Fatalf("notification %s not %s: %+v %v", id, what, st, err)
	}
	return st
}

// waitDone waits until id is done or failed.
func (r *rig) waitDone(t *testing.T, id string) push.Status {
	t.Helper()
	return r.waitStatus(t, id, "finished", func(s push.Status) bool { return s.Status == push.StatusDone || s.Status == push.StatusFailed })
}

func iosToken(i int) string { return fmt.Sprintf("%064x", i+1) }
func fcmToken(i int) string { return fmt.Sprintf("fcm-registration-token-%08d", i) }

func gone(t *testing.T, r *rig, id string) bool {
	t.Helper()
	_, err := r.svc.Installation(context.Background(), r.env, id)
	return errors.Is(err, push.ErrNotFound)
}
