package objectstore

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/internal/testenv"
	"github.com/skybridgehq/skybridge/internal/testenv/teststore"
	"github.com/skybridgehq/skybridge/store"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopShared()
	os.Exit(code)
}

// Callers of the tests.
var (
	alice  = Principal{UserID: "alice"}
	bob    = Principal{UserID: "bob"}
	carol  = Principal{UserID: "carol", Roles: []string{"editor"}}
	anon   = Principal{}
	server = Principal{Server: true}
)

// dev is an environment where clients create collections; prod is one
// where they do not.
var (
	dev  = Env{DB: "app1_dev", AllowClientCreate: true}
	prod = Env{DB: "app1_prod"}
)

// ferretDBExceptions are the cases of this package that FerretDB v1 (the
// embedded MongoDB-wire server of the tests) cannot hold, with why; they
// run on SQLite (and on real MongoDB through the store conformance suite).
// Nothing else is excused.
var ferretDBExceptions = map[string]string{
	"TestConcurrentPatchesNoLostUpdate": "FerretDB v1 runs a replace filtered on {_id, _v} as a read, a filter " +
		"match in its own process and an unconditional write, so two concurrent compare-and-swaps on one " +
		"object can both succeed (store/mongo/ferretdb_test.go, Concurrency/CASNoLostUpdates); MongoDB " +
		"applies them atomically",
}

// forEachStore runs f on a fresh Service over each store adapter.
func forEachStore(t *testing.T, f func(t *testing.T, s *Service)) {
	t.Helper()
	forEachStoreCfg(t, Config{}, f)
}

func forEachStoreCfg(t *testing.T, cfg Config, f func(t *testing.T, s *Service)) {
	t.Helper()
	for name, p := range teststore.Providers(t) {
		t.Run(name, func(t *testing.T) {
			if why, ok := ferretDBExceptions[t.Name()[:len(t.Name())-len("/"+name)]]; ok && name == "ferretdb" {
				t.Skipf("FerretDB exception: %s", why)
			}
			if cfg.Logger == nil {
				cfg.Logger = slog.New(slog.DiscardHandler)
			}
			f(t, NewService(p, cfg))
		})
	}
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// obj decodes a JSON object literal.
func obj(t testing.TB, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("bad test JSON %s: %v", s, err)
	}
	return m
}

// mustCreate creates an object or fails the test.
func mustCreate(t *testing.T, s *Service, env Env, p Principal, col, body string) Object {
	t.Helper()
	o, err := s.Create(ctxT(t), env, p, col, obj(t, body))
	if err != nil {
		t.Fatalf("create %s in %s as %+v: %v", body, col, p, err)
	}
	return o
}

// wantErr fails unless err is target.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want %v", what, err, target)
	}
}

// wantField fails unless err is a *FieldError on field wrapping target.
func wantField(t *testing.T, what string, err error, field string, target error) {
	t.Helper()
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != field || !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want a field error on %q wrapping %v", what, err, field, target)
	}
}

// putRules sets the rules of col.
func putRules(t *testing.T, s *Service, env Env, col string, r Rules) {
	t.Helper()
	_, err := s.PutSettings(ctxT(t), env, col, SettingsPatch{Rules: &RulesPatch{Read: &r.Read, Create: &r.Create, Update: &r.Update, Delete: &r.Delete}})
	if err != nil {
		t.Fatalf("put rules %+v on %s: %v", r, col, err)
	}
}

func ids(items []Object) []string {
	out := make([]string, len(items))
	for i, o := range items {
		out[i] = o.ID()
	}
	return out
}

var _ = store.FieldID

func errorsAs(err error, target any) bool { return errors.As(err, target) }
