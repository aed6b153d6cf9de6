package iotbridge

import (
	"context"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/store/sqlite"
)

func TestConfigWithDefaults(t *testing.T) {
	t.Parallel()
	c := Config{}.withDefaults()
	if c.ShadowMaxBytes != DefaultShadowMaxBytes || c.CommandTimeout != time.Hour || c.MaxCommandTimeout != 7*24*time.Hour ||
		c.HookTimeout != DefaultHookTimeout || c.Logger == nil || c.Now == nil || c.Anonymous {
		t.Fatalf("defaults: %+v", c)
	}
	set := Config{ShadowMaxBytes: 100, CommandTimeout: time.Second, MaxCommandTimeout: time.Minute, HookTimeout: time.Millisecond, Anonymous: true}.withDefaults()
	if set.ShadowMaxBytes != 100 || set.CommandTimeout != time.Second || set.MaxCommandTimeout != time.Minute || set.HookTimeout != time.Millisecond || !set.Anonymous {
		t.Fatalf("set values replaced: %+v", set)
	}
	if c.TelemetryMaxBytes != DefaultTelemetryMaxBytes || c.TelemetryBatch != 500 || c.TelemetryFlushInterval != 100*time.Millisecond ||
		c.TelemetryQueue != 20000 || c.TelemetryRetentionDays != 30 || c.TelemetryWriteTimeout != 30*time.Second {
		t.Fatalf("telemetry defaults: %+v", c)
	}
	tel := Config{TelemetryMaxBytes: 1, TelemetryBatch: 2, TelemetryFlushInterval: time.Second, TelemetryQueue: 3, TelemetryRetentionDays: 4, TelemetryWriteTimeout: time.Minute}.withDefaults()
	if tel.TelemetryMaxBytes != 1 || tel.TelemetryBatch != 2 || tel.TelemetryFlushInterval != time.Second || tel.TelemetryQueue != 3 || tel.TelemetryRetentionDays != 4 || tel.TelemetryWriteTimeout != time.Minute {
		t.Fatalf("telemetry values replaced: %+v", tel)
	}
}

func TestNewServiceNeedsKeyAndStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if _, err := NewService(ctx, nil, nil, Config{SecretKey: make([]byte, 32)}); err == nil {
		t.Error("no store accepted")
	}
	p, err := sqlite.Open(sqlite.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	if _, err := NewService(ctx, p, nil, Config{SecretKey: []byte("short")}); err == nil {
		t.Error("a short key accepted")
	}
	s, err := NewService(ctx, p, nil, Config{SecretKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s.Close() // twice is fine
}

func TestSecretHash(t *testing.T) {
	t.Parallel()
	s := &Service{cfg: Config{SecretKey: []byte("0123456789abcdef0123456789abcdef")}}
	sec := newSecret()
	if len(sec) != 43 || sec == newSecret() {
		t.Fatalf("secret %q", sec)
	}
	h := s.hashSecret("dev-1", sec)
	switch {
	case !s.secretMatches("dev-1", sec, h):
		t.Error("the secret does not match its hash")
	case s.secretMatches("dev-2", sec, h):
		t.Error("the hash is not bound to the device id")
	case s.secretMatches("dev-1", sec+"x", h):
		t.Error("another secret matches")
	case s.secretMatches("dev-1", sec, "zz"):
		t.Error("a corrupt hash matches")
	}
}
