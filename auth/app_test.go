package auth

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/skybridgehq/skybridge/store"
)

func TestNormalizeAppName(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in, want string // want "" means invalid
	}{
		{"Todo", "Todo"},
		{"  Field Service App  ", "Field Service App"},
		{"Café ☕ 2", "Café ☕ 2"},
		{strings.Repeat("é", 100), strings.Repeat("é", 100)},
		{strings.Repeat("é", 101), ""},
		{"", ""},
		{" \t\n ", ""},
		{"bad\x00name", ""},
		{"bad\nname", ""},
		{"evil\u202Egnp.exe", ""},
		{"invalid \xff utf-8", ""},
	}
	for _, c := range cases {
		got, err := NormalizeAppName(c.in)
		if c.want == "" {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("NormalizeAppName(%q) = %q, %v; want ErrInvalid", c.in, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("NormalizeAppName(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func FuzzNormalizeAppName(f *testing.F) {
	for _, s := range []string{"Todo", " x ", "", "\x00", "\u202E", strings.Repeat("a", 101), "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := NormalizeAppName(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		n := utf8.RuneCountInString(got)
		if got == "" || n > MaxAppNameLen || !utf8.ValidString(got) || got != strings.TrimSpace(got) {
			t.Fatalf("accepted %q", got)
		}
		if again, err := NormalizeAppName(got); err != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q, %v", got, again, err)
		}
	})
}

func TestValidEnvironmentName(t *testing.T) {
	t.Parallel()
	for name, ok := range map[string]bool{
		"dev": true, "qa-2": true, "a": true, strings.Repeat("a", 32): true,
		"": false, "Dev": false, "2dev": false, "-dev": false, "dev_1": false,
		"dev.1": false, strings.Repeat("a", 33): false, "dév": false,
	} {
		if err := ValidEnvironmentName(name); (err == nil) != ok || err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidEnvironmentName(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}

func FuzzValidEnvironmentName(f *testing.F) {
	for _, s := range []string{"dev", "prod", "", "A", "a-b-c", strings.Repeat("z", 40)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidEnvironmentName(s) != nil {
			return
		}
		// Any accepted name makes a valid database name with any app id.
		if err := store.ValidDBName(store.EnvDBName(newAppID(), s)); err != nil {
			t.Fatalf("environment %q gives an invalid database name: %v", s, err)
		}
	})
}

func TestNewAppIDFitsDatabaseNames(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 1000 {
		id := newAppID()
		if !appIDRe.MatchString(id) || seen[id] {
			t.Fatalf("app id %q malformed or repeated", id)
		}
		seen[id] = true
		if err := store.ValidDBName(store.EnvDBName(id, strings.Repeat("z", 32))); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCreateApp(t *testing.T) {
	t.Parallel()
	s, _, clock := testService(t, Config{})
	ctx := context.Background()
	for _, bad := range []string{"", "   ", strings.Repeat("x", 101), "a\x01b"} {
		if _, err := s.CreateApp(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("CreateApp(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	ak, err := s.CreateApp(ctx, "  Todo  ")
	if err != nil {
		t.Fatal(err)
	}
	if !appIDRe.MatchString(ak.ID) || ak.Name != "Todo" || !ak.CreatedAt.Equal(clock.Now()) {
		t.Fatalf("app %+v", ak.App)
	}
	if len(ak.Environments) != 3 || len(ak.App.Environments) != 3 {
		t.Fatalf("%d environments with keys, %d without", len(ak.Environments), len(ak.App.Environments))
	}
	keys := map[string]bool{}
	for i, ek := range ak.Environments {
		if ek.Name != DefaultEnvironments[i] || ek.AppID != ak.ID || ek.DB != store.EnvDBName(ak.ID, ek.Name) {
			t.Errorf("environment %d: %+v", i, ek.Environment)
		}
		if err := store.ValidDBName(ek.DB); err != nil {
			t.Error(err)
		}
		if ek.Environment != ak.App.Environments[i] {
			t.Errorf("App.Environments[%d] = %+v, want %+v", i, ak.App.Environments[i], ek.Environment)
		}
		if !wellFormedAppKey(ek.AppKey) || !strings.HasPrefix(ek.ServerKey, ServerKeyPrefix) ||
			len(ek.ServerKey) != len(ServerKeyPrefix)+serverKeyLen {
			t.Errorf("keys %q / %q malformed", ek.AppKey, ek.ServerKey)
		}
		keys[ek.AppKey], keys[ek.ServerKey] = true, true
		got, err := s.ResolveAppKey(ctx, ek.AppKey)
		if err != nil || got != ek.Environment {
			t.Errorf("ResolveAppKey(%s) = %+v, %v", ek.Name, got, err)
		}
		if !s.CheckServerKey(ctx, ek.Environment, ek.ServerKey) {
			t.Errorf("server key of %s refused", ek.Name)
		}
	}
	if len(keys) != 6 {
		t.Fatalf("keys are not distinct: %v", keys)
	}

	got, err := s.GetApp(ctx, ak.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, ak.App) {
		t.Fatalf("GetApp = %+v, want %+v", got, ak.App)
	}
}

func TestListApps(t *testing.T) {
	t.Parallel()
	s, _, clock := testService(t, Config{})
	ctx := context.Background()
	apps, err := s.ListApps(ctx)
	if err != nil || apps == nil || len(apps) != 0 {
		t.Fatalf("ListApps on an empty system = %v, %v; want an empty list", apps, err)
	}
	var want []App
	for _, name := range []string{"one", "two", "three"} {
		ak, err := s.CreateApp(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, ak.App)
		clock.Advance(1e9)
	}
	ek, err := s.AddEnvironment(ctx, want[1].ID, "qa")
	if err != nil {
		t.Fatal(err)
	}
	want[1].Environments = append(want[1].Environments, ek.Environment)
	apps, err = s.ListApps(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(apps, want) {
		t.Fatalf("ListApps = %+v\nwant %+v", apps, want)
	}
}

// TestAppTypesHoldNoServerKeys checks the shapes: what GetApp and ListApps
// return cannot carry server key material, and their JSON shows none.
func TestAppTypesHoldNoServerKeys(t *testing.T) {
	t.Parallel()
	for _, typ := range []reflect.Type{reflect.TypeOf(App{}), reflect.TypeOf(Environment{})} {
		for i := range typ.NumField() {
			if name := strings.ToLower(typ.Field(i).Name); strings.Contains(name, "server") || strings.Contains(name, "hash") {
				t.Errorf("%s has field %s", typ.Name(), typ.Field(i).Name)
			}
		}
	}
	s, db, _ := testService(t, Config{})
	ctx := context.Background()
	ak, err := s.CreateApp(ctx, "Todo")
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.GetApp(ctx, ak.ID)
	if err != nil {
		t.Fatal(err)
	}
	list, err := s.ListApps(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal([]any{got, list})
	for _, ek := range ak.Environments {
		d, err := db.Collection(collEnvironments).Get(ctx, ek.DB)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(out), ek.ServerKey) || strings.Contains(string(out), docString(d, fieldServerKeyHash)) {
			t.Fatalf("GetApp/ListApps JSON reveals a server key or its hash: %s", out)
		}
		// The store holds only the hash.
		raw, _ := json.Marshal(d)
		if strings.Contains(string(raw), ek.ServerKey) {
			t.Fatal("the server key is stored in plain")
		}
		if docString(d, fieldServerKeyHash) != hashSecret(ek.ServerKey) {
			t.Fatal("stored hash is not the SHA-256 of the server key")
		}
	}
	if !strings.Contains(string(out), ak.Environments[0].AppKey) {
		t.Fatal("the public app key is missing from GetApp")
	}
}

func TestGetAppNotFound(t *testing.T) {
	t.Parallel()
	s, _, _ := testService(t, Config{})
	for _, id := range []string{"", "nosuchapp123", "UPPERCASE123", "../system", strings.Repeat("a", 200)} {
		if _, err := s.GetApp(context.Background(), id); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetApp(%q) = %v, want ErrNotFound", id, err)
		}
	}
}

func TestAddEnvironment(t *testing.T) {
	t.Parallel()
	s, _, _ := testService(t, Config{})
	ctx := context.Background()
	ak, err := s.CreateApp(ctx, "Todo")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, app, env string
		want           error
	}{
		{"upper case", ak.ID, "QA", ErrInvalid},
		{"underscore", ak.ID, "qa_1", ErrInvalid},
		{"too long", ak.ID, strings.Repeat("q", 33), ErrInvalid},
		{"empty", ak.ID, "", ErrInvalid},
		{"default exists", ak.ID, "prod", ErrExists},
		{"unknown app", "nosuchapp123", "qa", ErrNotFound},
		{"malformed app", "no such app", "qa", ErrNotFound},
	}
	for _, c := range cases {
		if _, err := s.AddEnvironment(ctx, c.app, c.env); !errors.Is(err, c.want) {
			t.Errorf("%s: AddEnvironment = %v, want %v", c.name, err, c.want)
		}
	}
	ek, err := s.AddEnvironment(ctx, ak.ID, "qa-2")
	if err != nil {
		t.Fatal(err)
	}
	if ek.Name != "qa-2" || ek.AppID != ak.ID || ek.DB != ak.ID+"_qa-2" || ek.ServerKey == "" {
		t.Fatalf("AddEnvironment = %+v", ek)
	}
	if _, err := s.AddEnvironment(ctx, ak.ID, "qa-2"); !errors.Is(err, ErrExists) {
		t.Fatalf("second add = %v, want ErrExists", err)
	}
	if env, err := s.ResolveAppKey(ctx, ek.AppKey); err != nil || env != ek.Environment {
		t.Fatalf("ResolveAppKey(new env) = %+v, %v", env, err)
	}
	if !s.CheckServerKey(ctx, ek.Environment, ek.ServerKey) {
		t.Fatal("new environment's server key refused")
	}
	app, err := s.GetApp(ctx, ak.ID)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range app.Environments {
		names = append(names, e.Name)
	}
	if strings.Join(names, ",") != "dev,stage,prod,qa-2" {
		t.Fatalf("environments %v", names)
	}
}

func TestAddEnvironmentLimit(t *testing.T) {
	t.Parallel()
	s, _, _ := testService(t, Config{})
	ctx := context.Background()
	ak, err := s.CreateApp(ctx, "Todo")
	if err != nil {
		t.Fatal(err)
	}
	for i := len(DefaultEnvironments); i < MaxEnvironments; i++ {
		if _, err := s.AddEnvironment(ctx, ak.ID, "e"+strings.Repeat("x", i)); err != nil {
			t.Fatalf("environment %d: %v", i, err)
		}
	}
	if _, err := s.AddEnvironment(ctx, ak.ID, "one-too-many"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("environment over the limit: %v", err)
	}
}

func TestAddEnvironmentConcurrentSameName(t *testing.T) {
	t.Parallel()
	s, _, _ := testService(t, Config{})
	ctx := context.Background()
	ak, err := s.CreateApp(ctx, "Todo")
	if err != nil {
		t.Fatal(err)
	}
	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.AddEnvironment(ctx, ak.ID, "qa")
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrExists):
			t.Fatalf("racing add: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d racing adds of one name succeeded, want 1", won)
	}
}

// TestCreateAppFailureLeavesNothing makes the final write of CreateApp
// (the app document) fail, through the store's commit hook, and checks
// that no environment of the half-made app is left behind.
func TestCreateAppFailureLeavesNothing(t *testing.T) {
	t.Parallel()
	s, db, _ := testService(t, Config{})
	boom := errors.New("disk on fire")
	ctx := store.WithCommitHook(context.Background(), func(collection string, _ int64) error {
		if collection == collApps {
			return boom
		}
		return nil
	})
	if _, err := s.CreateApp(ctx, "Doomed"); !errors.Is(err, boom) {
		t.Fatalf("CreateApp with a failing app write = %v", err)
	}
	ctx = context.Background()
	for _, coll := range []string{collApps, collEnvironments} {
		if n, err := db.Collection(coll).Count(ctx, nil); err != nil || n != 0 {
			t.Fatalf("%s holds %d documents after a failed CreateApp (%v)", coll, n, err)
		}
	}
	if apps, err := s.ListApps(ctx); err != nil || len(apps) != 0 {
		t.Fatalf("ListApps = %v, %v", apps, err)
	}
}
