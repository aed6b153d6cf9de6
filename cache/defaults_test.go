package cache

import (
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"memory", func() bool {
			c := (MemoryConfig{}).withDefaults()
			return c.MaxBytes == DefaultMemoryMaxBytes && c.Now != nil
		}()},
		{"memory keeps a bound", (MemoryConfig{MaxBytes: 5}).withDefaults().MaxBytes == 5},
		{"redis", func() bool {
			c := (RedisConfig{}).withDefaults()
			return c.Timeout == DefaultRedisTimeout && c.Prefix == ""
		}()},
		{"fallback", func() bool {
			c := (FallbackConfig{}).withDefaults()
			return c.Failures == 3 && c.Cooldown == time.Second && c.Timeout == 100*time.Millisecond && c.MaxPending == 10000 && c.Logger != nil
		}()},
		{"loader", func() bool {
			c := (LoaderConfig{}).withDefaults()
			return c.LockTTL == 2*time.Second && c.PollInterval == 10*time.Millisecond && c.RefreshTimeout == 10*time.Second && c.LeaseTTL == 10*time.Second
		}()},
	}
	for _, tc := range tests {
		if !tc.ok {
			t.Errorf("%s: defaults not applied", tc.name)
		}
	}
}

func TestSplitNamespace(t *testing.T) {
	tests := []struct{ key, ns, rest string }{
		{"app:dev:obj:c:1", "app:dev:", "obj:c:1"},
		{"app:dev:", "app:dev:", ""},
		{"app:dev", "app:dev", ""},
		{"plain", "plain", ""},
	}
	for _, tc := range tests {
		if ns, rest := splitNamespace(tc.key); ns != tc.ns || rest != tc.rest {
			t.Errorf("splitNamespace(%q) = %q, %q; want %q, %q", tc.key, ns, rest, tc.ns, tc.rest)
		}
	}
}
