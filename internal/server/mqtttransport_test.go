package server

import (
	"errors"
	"path/filepath"
	"testing"
)

// TestMQTTTransportConfig checks the TLS and state keys: defaults,
// values, and the certificate and key that go together.
func TestMQTTTransportConfig(t *testing.T) {
	t.Parallel()
	c := DefaultConfig()
	if c.MQTTTLSAddr != ":8883" || c.MQTTTLSCert != "" || c.MQTTTLSKey != "" || c.MQTTDataDir != "" {
		t.Fatalf("defaults: %q %q %q %q", c.MQTTTLSAddr, c.MQTTTLSCert, c.MQTTTLSKey, c.MQTTDataDir)
	}
	if got, want := MQTTStateDir(c), filepath.Join("data", "mqtt"); got != want {
		t.Fatalf("default state dir %q, want %q", got, want)
	}
	c, err := LoadConfig("", false, []string{"SKYBRIDGE_MQTT_TLS_ADDR=127.0.0.1:8884", "SKYBRIDGE_MQTT_TLS_CERT=c.pem", "SKYBRIDGE_MQTT_TLS_KEY=k.pem", "SKYBRIDGE_MQTT_DATA_DIR=/var/lib/mqtt"})
	if err != nil {
		t.Fatal(err)
	}
	if c.MQTTTLSAddr != "127.0.0.1:8884" || c.MQTTTLSCert != "c.pem" || c.MQTTTLSKey != "k.pem" || MQTTStateDir(c) != "/var/lib/mqtt" {
		t.Fatalf("loaded %+v", c)
	}
	if c, _ = LoadConfig("", false, []string{"SKYBRIDGE_MQTT_DATA_DIR=off"}); MQTTStateDir(c) != "" {
		t.Fatalf("off: %q", MQTTStateDir(c))
	}
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"SKYBRIDGE_MQTT_TLS_CERT=c.pem"}, "SKYBRIDGE_MQTT_TLS_KEY"},
		{[]string{"SKYBRIDGE_MQTT_TLS_KEY=k.pem"}, "SKYBRIDGE_MQTT_TLS_KEY"},
		{[]string{"SKYBRIDGE_MQTT_TLS_ADDR=8883"}, "SKYBRIDGE_MQTT_TLS_ADDR"},
	} {
		_, err := LoadConfig("", false, tc.env)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Env != tc.want {
			t.Errorf("%v: %v, want an error naming %s", tc.env, err, tc.want)
		}
	}
}
