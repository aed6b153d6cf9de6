package soap

import (
	"crypto/tls"
	"testing"
	"time"
)

func TestSettingsWithDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   settings
		want func(s settings) bool
	}{
		{"zero", settings{}, func(s settings) bool {
			return s.version == soap11 && s.timeout == DefaultTimeout && s.maxResponseBytes == DefaultMaxResponseBytes &&
				s.tls != nil && s.tls.MinVersion == tls.VersionTLS12
		}},
		{"kept", settings{version: soap12, timeout: time.Second, maxResponseBytes: 10, tls: &tls.Config{ServerName: "x"}}, func(s settings) bool {
			return s.version == soap12 && s.timeout == time.Second && s.maxResponseBytes == 10 && s.tls.ServerName == "x"
		}},
	}
	for _, tc := range tests {
		if got := tc.in.withDefaults(); !tc.want(got) {
			t.Errorf("%s: %+v", tc.name, got)
		}
	}
}
