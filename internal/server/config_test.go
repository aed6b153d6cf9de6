package server

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/ratelimit"
)

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	if c.HTTPAddr != ":8080" || c.MQTTAddr != ":1883" || c.DataDir != "./data" || c.LogLevel != "info" ||
		c.ShutdownGrace != 15*time.Second || c.RequestTimeout != 30*time.Second || c.MaxBodyBytes != 2<<20 ||
		c.MongoURI != "" || c.RedisURL != "" || len(c.CORSOrigins) != 0 {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestLoadConfigLayers(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "skybridge.yaml")
	yml := "httpAddr: 127.0.0.1:9000\nlogLevel: debug\ncorsOrigins: [\"https://a.example\", \"http://localhost:3000\"]\nshutdownGrace: 5s\n"
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(path, true, []string{"SKYBRIDGE_HTTP_ADDR=:7000", "PATH=/bin", "SKYBRIDGE_REDIS_URL=redis://127.0.0.1:6379/1"})
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != ":7000" {
		t.Errorf("environment should override the file: %q", c.HTTPAddr)
	}
	if c.LogLevel != "debug" || c.ShutdownGrace != 5*time.Second || c.RedisURL == "" {
		t.Errorf("file values lost: %+v", c)
	}
	if strings.Join(c.CORSOrigins, " ") != "https://a.example http://localhost:3000" {
		t.Errorf("cors: %v", c.CORSOrigins)
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "none.yaml"), false, nil); err != nil {
		t.Fatalf("an absent default file is fine: %v", err)
	}
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "none.yaml"), true, nil); err == nil {
		t.Fatal("an absent explicit file must fail")
	}
}

func TestLoadConfigErrorsNameTheKey(t *testing.T) {
	cases := []struct {
		name    string
		yaml    string
		env     []string
		wantKey string
	}{
		{"bad addr", "", []string{"SKYBRIDGE_HTTP_ADDR=nope"}, "SKYBRIDGE_HTTP_ADDR"},
		{"bad port", "", []string{"SKYBRIDGE_MQTT_ADDR=:99999"}, "SKYBRIDGE_MQTT_ADDR"},
		{"bad level", "", []string{"SKYBRIDGE_LOG_LEVEL=loud"}, "SKYBRIDGE_LOG_LEVEL"},
		{"bad mqtt anonymous", "", []string{"SKYBRIDGE_MQTT_ANONYMOUS=maybe"}, "SKYBRIDGE_MQTT_ANONYMOUS"},
		{"small shadow limit", "", []string{"SKYBRIDGE_SHADOW_MAX_BYTES=10"}, "SKYBRIDGE_SHADOW_MAX_BYTES"},
		{"bad mongo", "", []string{"SKYBRIDGE_MONGO_URI=http://x"}, "SKYBRIDGE_MONGO_URI"},
		{"mongo needs secret", "", []string{"SKYBRIDGE_MONGO_URI=mongodb://127.0.0.1:1"}, "SKYBRIDGE_SECRET_KEY"},
		{"bad redis", "", []string{"SKYBRIDGE_REDIS_URL=localhost:6379"}, "SKYBRIDGE_REDIS_URL"},
		{"short password", "", []string{"SKYBRIDGE_ADMIN_EMAIL=a@b.c", "SKYBRIDGE_ADMIN_PASSWORD=short"}, "SKYBRIDGE_ADMIN_PASSWORD"},
		{"email without password", "", []string{"SKYBRIDGE_ADMIN_EMAIL=a@b.c"}, "SKYBRIDGE_ADMIN_PASSWORD"},
		{"unknown env", "", []string{"SKYBRIDGE_HTTP_ADR=:1"}, "SKYBRIDGE_HTTP_ADR"},
		{"bad duration", "", []string{"SKYBRIDGE_SHUTDOWN_GRACE=soon"}, "SKYBRIDGE_SHUTDOWN_GRACE"},
		{"bad body", "", []string{"SKYBRIDGE_MAX_BODY_BYTES=12"}, "SKYBRIDGE_MAX_BODY_BYTES"},
		{"bad cors", "", []string{"SKYBRIDGE_CORS_ORIGINS=ftp://x"}, "SKYBRIDGE_CORS_ORIGINS"},
		{"bad env rate", "", []string{"SKYBRIDGE_RATE_LIMIT_ENV=lots"}, "SKYBRIDGE_RATE_LIMIT_ENV"},
		{"zero client rate", "", []string{"SKYBRIDGE_RATE_LIMIT_CLIENT=0/1m"}, "SKYBRIDGE_RATE_LIMIT_CLIENT"},
		{"bad rate period", "", []string{"SKYBRIDGE_RATE_LIMIT_CLIENT=600/fortnight"}, "SKYBRIDGE_RATE_LIMIT_CLIENT"},
		{"bad yaml rate", "rateLimitEnv: 600\n", nil, "rateLimitEnv"},
		{"unknown yaml", "httpAdr: :1\n", nil, "httpAdr"},
		{"bad yaml value", "requestTimeout: forever\n", nil, "requestTimeout"},
		{"yaml map value", "httpAddr: {a: 1}\n", nil, "httpAddr"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.yaml != "" {
				path = filepath.Join(t.TempDir(), "skybridge.yaml")
				if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := LoadConfig(path, path != "", tc.env)
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("want ConfigError, got %v", err)
			}
			if !strings.Contains(err.Error(), tc.wantKey) {
				t.Fatalf("error %q does not name %s", err, tc.wantKey)
			}
		})
	}
}

func TestLoadConfigSecretNotEchoed(t *testing.T) {
	_, err := LoadConfig("", false, []string{"SKYBRIDGE_MONGO_URI=mongodb://h", "SKYBRIDGE_ADMIN_PASSWORD=hunter2-hunter2-x"})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error must name the key, not the value: %v", err)
	}
}

func TestConfigHelpListsEveryKey(t *testing.T) {
	var b strings.Builder
	WriteConfigHelp(&b)
	for _, f := range fields {
		if !strings.Contains(b.String(), f.env) || !strings.Contains(b.String(), f.yaml) {
			t.Errorf("help lacks %s", f.env)
		}
	}
	if !strings.Contains(b.String(), ":8080") || !strings.Contains(b.String(), "./data") {
		t.Error("help lacks defaults")
	}
}

func FuzzLoadConfigYAML(f *testing.F) {
	f.Add("httpAddr: :8080\n")
	f.Add("corsOrigins: [\"*\"]\nmaxBodyBytes: 4096\n")
	f.Add("a: [1, {b: 2}]\n")
	f.Add("- x\n")
	f.Fuzz(func(t *testing.T, s string) {
		c := DefaultConfig()
		_ = applyYAML(&c, []byte(s), "fuzz.yaml")
	})
}

func TestLoadConfigRateLimits(t *testing.T) {
	c := DefaultConfig()
	if c.RateLimitEnv != (ratelimit.Policy{Limit: 6000, Period: time.Minute}) || c.RateLimitClient != (ratelimit.Policy{Limit: 600, Period: time.Minute}) {
		t.Fatalf("default rate limits %v, %v", c.RateLimitEnv, c.RateLimitClient)
	}
	path := filepath.Join(t.TempDir(), "skybridge.yaml")
	if err := os.WriteFile(path, []byte("rateLimitEnv: 30/1m\nrateLimitClient: off\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(path, true, []string{"SKYBRIDGE_RATE_LIMIT_ENV=100/1s burst 500"})
	if err != nil {
		t.Fatal(err)
	}
	if c.RateLimitEnv != (ratelimit.Policy{Limit: 100, Period: time.Second, Burst: 500}) || !c.RateLimitClient.Disabled() {
		t.Fatalf("rate limits %v, %v", c.RateLimitEnv, c.RateLimitClient)
	}
}

func TestLoadConfigAuditAndMaintenance(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want func(Config) bool
		err  string
	}{
		{map[string]string{}, func(c Config) bool {
			return c.AuditRetention == 0 && c.MaintenanceInterval == time.Hour && c.AuditKey == ""
		}, ""},
		{map[string]string{"SKYBRIDGE_AUDIT_RETENTION": "90d"}, func(c Config) bool { return c.AuditRetention == 90*24*time.Hour }, ""},
		{map[string]string{"SKYBRIDGE_AUDIT_RETENTION": "2160h"}, func(c Config) bool { return c.AuditRetention == 2160*time.Hour }, ""},
		{map[string]string{"SKYBRIDGE_AUDIT_RETENTION": "0"}, func(c Config) bool { return c.AuditRetention == 0 }, ""},
		{map[string]string{"SKYBRIDGE_AUDIT_RETENTION": "3651d"}, nil, "SKYBRIDGE_AUDIT_RETENTION"},
		{map[string]string{"SKYBRIDGE_AUDIT_RETENTION": "5m"}, nil, "SKYBRIDGE_AUDIT_RETENTION"},
		{map[string]string{}, func(c Config) bool {
			return c.SyncTombstoneRetention == 30*24*time.Hour && c.SyncClockSkew == 5*time.Minute
		}, ""},
		{map[string]string{"SKYBRIDGE_SYNC_TOMBSTONE_RETENTION": "7d", "SKYBRIDGE_SYNC_CLOCK_SKEW": "30s"}, func(c Config) bool {
			return c.SyncTombstoneRetention == 7*24*time.Hour && c.SyncClockSkew == 30*time.Second
		}, ""},
		{map[string]string{"SKYBRIDGE_SYNC_TOMBSTONE_RETENTION": "0"}, nil, "SKYBRIDGE_SYNC_TOMBSTONE_RETENTION"},
		{map[string]string{"SKYBRIDGE_SYNC_TOMBSTONE_RETENTION": "30m"}, nil, "SKYBRIDGE_SYNC_TOMBSTONE_RETENTION"},
		{map[string]string{"SKYBRIDGE_SYNC_CLOCK_SKEW": "0"}, nil, "SKYBRIDGE_SYNC_CLOCK_SKEW"},
		{map[string]string{}, func(c Config) bool {
			return c.MQTTExternal == "" && c.TelemetryMaxBytes == 16384 && c.TelemetryRetentionDays == 30
		}, ""},
		{map[string]string{"SKYBRIDGE_MQTT_EXTERNAL": "mqtt://sky:pw@broker:1883", "SKYBRIDGE_TELEMETRY_MAX_BYTES": "1024", "SKYBRIDGE_TELEMETRY_RETENTION": "7d"}, func(c Config) bool {
			return c.MQTTExternal == "mqtt://sky:pw@broker:1883" && c.TelemetryMaxBytes == 1024 && c.TelemetryRetentionDays == 7
		}, ""},
		{map[string]string{"SKYBRIDGE_MQTT_EXTERNAL": "http://broker:1883"}, nil, "SKYBRIDGE_MQTT_EXTERNAL"},
		{map[string]string{"SKYBRIDGE_MQTT_EXTERNAL": "mqtt://broker"}, nil, "SKYBRIDGE_MQTT_EXTERNAL"},
		{map[string]string{"SKYBRIDGE_TELEMETRY_MAX_BYTES": "10"}, nil, "SKYBRIDGE_TELEMETRY_MAX_BYTES"},
		{map[string]string{"SKYBRIDGE_TELEMETRY_RETENTION": "0d"}, nil, "SKYBRIDGE_TELEMETRY_RETENTION"},
		{map[string]string{"SKYBRIDGE_TELEMETRY_RETENTION": "30"}, nil, "SKYBRIDGE_TELEMETRY_RETENTION"},
		{map[string]string{}, func(c Config) bool { return c.AnalyticsRetentionDays == 90 }, ""},
		{map[string]string{"SKYBRIDGE_ANALYTICS_RETENTION": "7d"}, func(c Config) bool { return c.AnalyticsRetentionDays == 7 }, ""},
		{map[string]string{"SKYBRIDGE_ANALYTICS_RETENTION": "0d"}, nil, "SKYBRIDGE_ANALYTICS_RETENTION"},
		{map[string]string{"SKYBRIDGE_ANALYTICS_RETENTION": "3651d"}, nil, "SKYBRIDGE_ANALYTICS_RETENTION"},
		{map[string]string{"SKYBRIDGE_ANALYTICS_RETENTION": "90"}, nil, "SKYBRIDGE_ANALYTICS_RETENTION"},
		{map[string]string{"SKYBRIDGE_MAINTENANCE_INTERVAL": "10m"}, func(c Config) bool { return c.MaintenanceInterval == 10*time.Minute }, ""},
		{map[string]string{"SKYBRIDGE_MAINTENANCE_INTERVAL": "1s"}, nil, "SKYBRIDGE_MAINTENANCE_INTERVAL"},
		{map[string]string{"SKYBRIDGE_AUDIT_KEY": "not-a-key"}, nil, "SKYBRIDGE_AUDIT_KEY"},
		{map[string]string{}, func(c Config) bool { return c.TriggerLease == 30*time.Second && c.TriggerPollInterval == time.Second }, ""},
		{map[string]string{"SKYBRIDGE_TRIGGER_LEASE": "1s", "SKYBRIDGE_TRIGGER_POLL_INTERVAL": "100ms"}, func(c Config) bool {
			return c.TriggerLease == time.Second && c.TriggerPollInterval == 100*time.Millisecond
		}, ""},
		{map[string]string{"SKYBRIDGE_TRIGGER_LEASE": "1ms"}, nil, "SKYBRIDGE_TRIGGER_LEASE"},
		{map[string]string{"SKYBRIDGE_TRIGGER_POLL_INTERVAL": "2h"}, nil, "SKYBRIDGE_TRIGGER_POLL_INTERVAL"},
		{map[string]string{}, func(c Config) bool {
			return c.PushWorkers == 4 && c.PushConcurrency == 64 && c.PushLease == 30*time.Second && c.PushPollInterval == 500*time.Millisecond &&
				c.PushRatePerApp == 5000 && c.PushAPNsURL == "" && c.PushAPNsCAFile == "" && c.PushFCMURL == ""
		}, ""},
		{map[string]string{"SKYBRIDGE_PUSH_WORKERS": "2", "SKYBRIDGE_PUSH_CONCURRENCY": "8", "SKYBRIDGE_PUSH_LEASE": "1s", "SKYBRIDGE_PUSH_POLL_INTERVAL": "50ms",
			"SKYBRIDGE_PUSH_RATE_PER_APP": "100", "SKYBRIDGE_PUSH_APNS_URL": "https://127.0.0.1:9", "SKYBRIDGE_PUSH_APNS_CA_FILE": "ca.pem", "SKYBRIDGE_PUSH_FCM_URL": "http://127.0.0.1:9/v1"}, func(c Config) bool {
			return c.PushWorkers == 2 && c.PushConcurrency == 8 && c.PushLease == time.Second && c.PushPollInterval == 50*time.Millisecond &&
				c.PushRatePerApp == 100 && c.PushAPNsURL == "https://127.0.0.1:9" && c.PushAPNsCAFile == "ca.pem" && c.PushFCMURL == "http://127.0.0.1:9/v1"
		}, ""},
		{map[string]string{"SKYBRIDGE_PUSH_WORKERS": "0"}, nil, "SKYBRIDGE_PUSH_WORKERS"},
		{map[string]string{"SKYBRIDGE_PUSH_CONCURRENCY": "many"}, nil, "SKYBRIDGE_PUSH_CONCURRENCY"},
		{map[string]string{"SKYBRIDGE_PUSH_LEASE": "1ms"}, nil, "SKYBRIDGE_PUSH_LEASE"},
		{map[string]string{"SKYBRIDGE_PUSH_APNS_URL": "http://insecure"}, nil, "SKYBRIDGE_PUSH_APNS_URL"},
		{map[string]string{"SKYBRIDGE_PUSH_FCM_URL": "ftp://x"}, nil, "SKYBRIDGE_PUSH_FCM_URL"},
	} {
		var environ []string
		for k, v := range tt.env {
			environ = append(environ, k+"="+v)
		}
		c, err := LoadConfig("", false, environ)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%v: error %v, want one naming %s", tt.env, err, tt.err)
			}
			continue
		}
		if err != nil || !tt.want(c) {
			t.Errorf("%v: %+v %v", tt.env, c, err)
		}
	}
}

func TestLoadConfigDevices(t *testing.T) {
	c := DefaultConfig()
	if c.MQTTAnonymous || c.ShadowMaxBytes != 8192 {
		t.Fatalf("device defaults: anonymous %v, shadow limit %d", c.MQTTAnonymous, c.ShadowMaxBytes)
	}
	c, err := LoadConfig("", false, []string{"SKYBRIDGE_MQTT_ANONYMOUS=true", "SKYBRIDGE_SHADOW_MAX_BYTES=16384", "SKYBRIDGE_MQTT_ADDR=127.0.0.1:1884"})
	if err != nil {
		t.Fatal(err)
	}
	if !c.MQTTAnonymous || c.ShadowMaxBytes != 16384 || c.MQTTAddr != "127.0.0.1:1884" {
		t.Fatalf("device settings: %+v", c)
	}
}
