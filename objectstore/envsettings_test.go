package objectstore

import (
	"testing"
	"time"
)

func TestEnvSettingsDefaultsAndPut(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Service) {
		t.Parallel()
		ctx := ctxT(t)
		for _, tt := range []struct {
			db, env string
			want    bool
		}{{"app1_dev", "dev", true}, {"app1_stage", "stage", false}, {"app1_prod", "prod", false}} {
			got, err := s.EnvSettings(ctx, tt.db, tt.env)
			if err != nil || got.AllowClientCreate != tt.want {
				t.Errorf("default settings of %s = %+v, %v; want allowClientCreate %v", tt.env, got, err, tt.want)
			}
		}
		yes, no := true, false
		got, err := s.PutEnvSettings(ctx, "app1_prod", "prod", EnvSettingsPatch{AllowClientCreate: &yes})
		if err != nil || !got.AllowClientCreate {
			t.Fatalf("PutEnvSettings(prod, true) = %+v, %v", got, err)
		}
		if got, err := s.EnvSettings(ctx, "app1_prod", "prod"); err != nil || !got.AllowClientCreate {
			t.Errorf("prod after put = %+v, %v", got, err)
		}
		// An empty patch keeps the stored value; an unset one keeps the
		// default.
		if got, err := s.PutEnvSettings(ctx, "app1_prod", "prod", EnvSettingsPatch{}); err != nil || !got.AllowClientCreate {
			t.Errorf("empty patch on prod = %+v, %v", got, err)
		}
		if got, err := s.PutEnvSettings(ctx, "app1_dev", "dev", EnvSettingsPatch{}); err != nil || !got.AllowClientCreate {
			t.Errorf("empty patch on dev = %+v, %v", got, err)
		}
		if got, err := s.PutEnvSettings(ctx, "app1_dev", "dev", EnvSettingsPatch{AllowClientCreate: &no}); err != nil || got.AllowClientCreate {
			t.Errorf("dev turned off = %+v, %v", got, err)
		}
		if got, err := s.EnvSettings(ctx, "app1_dev", "dev"); err != nil || got.AllowClientCreate {
			t.Errorf("dev after put = %+v, %v", got, err)
		}
		// Other environments are untouched.
		if got, err := s.EnvSettings(ctx, "app1_stage", "stage"); err != nil || got.AllowClientCreate {
			t.Errorf("stage = %+v, %v", got, err)
		}
		// The settings document is not a collection of the environment.
		cols, err := s.ListCollections(ctx, Env{DB: "app1_prod"})
		if err != nil || len(cols) != 0 {
			t.Errorf("collections of prod = %v, %v", cols, err)
		}
	})
}

func TestEnvSettingsCache(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Service) {
		t.Parallel()
		ctx := ctxT(t)
		if got, err := s.EnvSettings(ctx, "app2_prod", "prod"); err != nil || got.AllowClientCreate {
			t.Fatalf("default = %+v, %v", got, err)
		}
		// Another node changes the setting: this node keeps its cached
		// value until the TTL, while a node without a cache sees it at once.
		other := NewService(s.provider, Config{})
		uncached := NewService(s.provider, Config{SettingsCacheTTL: -1})
		yes := true
		if _, err := other.PutEnvSettings(ctx, "app2_prod", "prod", EnvSettingsPatch{AllowClientCreate: &yes}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.EnvSettings(ctx, "app2_prod", "prod"); got.AllowClientCreate {
			t.Errorf("cached value changed before the TTL: %+v", got)
		}
		if got, _ := uncached.EnvSettings(ctx, "app2_prod", "prod"); !got.AllowClientCreate {
			t.Errorf("uncached service = %+v", got)
		}
		// This node's own change is seen at once.
		no := false
		if _, err := s.PutEnvSettings(ctx, "app2_prod", "prod", EnvSettingsPatch{AllowClientCreate: &no}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PutEnvSettings(ctx, "app2_prod", "prod", EnvSettingsPatch{AllowClientCreate: &yes}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.EnvSettings(ctx, "app2_prod", "prod"); !got.AllowClientCreate {
			t.Errorf("own change not seen: %+v", got)
		}
	})
}

func TestEnvSettingsClock(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Service) {
		t.Parallel()
		ctx := ctxT(t)
		clk := &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
		cached := NewService(s.provider, Config{Now: clk.Now})
		if got, _ := cached.EnvSettings(ctx, "app3_prod", "prod"); got.AllowClientCreate {
			t.Fatalf("default = %+v", got)
		}
		yes := true
		if _, err := s.PutEnvSettings(ctx, "app3_prod", "prod", EnvSettingsPatch{AllowClientCreate: &yes}); err != nil {
			t.Fatal(err)
		}
		clk.Add(DefaultSettingsCacheTTL)
		if got, _ := cached.EnvSettings(ctx, "app3_prod", "prod"); !got.AllowClientCreate {
			t.Errorf("after the TTL = %+v", got)
		}
	})
}

func TestEnvSettingsBadDB(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Service) {
		t.Parallel()
		if _, err := s.EnvSettings(ctxT(t), "Not A DB!", "prod"); err == nil {
			t.Error("EnvSettings on an invalid database name succeeded")
		}
		yes := true
		if _, err := s.PutEnvSettings(ctxT(t), "Not A DB!", "prod", EnvSettingsPatch{AllowClientCreate: &yes}); err == nil {
			t.Error("PutEnvSettings on an invalid database name succeeded")
		}
	})
}
