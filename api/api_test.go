package api

import (
	"context"
	"testing"
	"time"
)

func TestConfigWithDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   Config
		want Config
	}{
		{"zero", Config{}, Config{
			RequestTimeout: 30 * time.Second, MaxBodyBytes: 2 << 20, ReadyTimeout: 2 * time.Second,
			LoginFailures: 10, LoginWindow: 15 * time.Minute,
		}},
		{"set", Config{
			RequestTimeout: time.Second, MaxBodyBytes: 10, CORSOrigins: []string{"*"}, ReadyTimeout: time.Millisecond,
			LoginFailures: 1, LoginWindow: time.Hour,
		}, Config{
			RequestTimeout: time.Second, MaxBodyBytes: 10, CORSOrigins: []string{"*"}, ReadyTimeout: time.Millisecond,
			LoginFailures: 1, LoginWindow: time.Hour,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := tt.in.withDefaults()
			if got.RequestTimeout != tt.want.RequestTimeout || got.MaxBodyBytes != tt.want.MaxBodyBytes ||
				got.ReadyTimeout != tt.want.ReadyTimeout || got.LoginFailures != tt.want.LoginFailures ||
				got.LoginWindow != tt.want.LoginWindow || len(got.CORSOrigins) != len(tt.want.CORSOrigins) {
				t.Errorf("withDefaults() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestNewRefusesMisconfiguration(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	ping := func(context.Context) error { return nil }
	good := Deps{Auth: e.auth, Store: e.store}
	tests := []struct {
		name string
		deps func() Deps
		cfg  Config
	}{
		{"no auth", func() Deps { d := good; d.Auth = nil; return d }, Config{}},
		{"no store", func() Deps { d := good; d.Store = nil; return d }, Config{}},
		{"unnamed check", func() Deps { d := good; d.Checks = []Check{{Ping: ping}}; return d }, Config{}},
		{"check without ping", func() Deps { d := good; d.Checks = []Check{{Name: "store"}}; return d }, Config{}},
		{"duplicate checks", func() Deps {
			d := good
			d.Checks = []Check{{Name: "store", Ping: ping}, {Name: "store", Ping: ping}}
			return d
		}, Config{}},
		{"bad CORS origin", func() Deps { return good }, Config{CORSOrigins: []string{"example.com"}}},
		{"negative timeout", func() Deps { return good }, Config{RequestTimeout: -time.Second}},
		{"negative body limit", func() Deps { return good }, Config{MaxBodyBytes: -1}},
		{"negative ready timeout", func() Deps { return good }, Config{ReadyTimeout: -1}},
		{"negative login failures", func() Deps { return good }, Config{LoginFailures: -1}},
		{"negative login window", func() Deps { return good }, Config{LoginWindow: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if a, err := New(tt.deps(), tt.cfg); err == nil || a != nil {
				t.Errorf("New accepted it: %v", err)
			}
		})
	}
	if _, err := New(good, Config{}); err != nil {
		t.Errorf("New refused a good configuration: %v", err)
	}
}
