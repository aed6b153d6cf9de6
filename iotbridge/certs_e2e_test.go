package iotbridge_test

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/internal/server"
	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
)

// tlsBridge is a node with an MQTT TLS listener and one environment.
type tlsBridge struct {
	*bridgeEnv
	appID  string
	admin  map[string]string
	roots  *x509.CertPool
	tlsAdr string
}

func startTLSBridge(t *testing.T) *tlsBridge {
	t.Helper()
	serverCA := newCA(t, "server CA")
	certFile, keyFile := writeKeyPair(t, t.TempDir(), serverCA.issue(t, "broker", time.Now().Add(24*time.Hour), net.IPv4(127, 0, 0, 1)))
	s := testnode.Start(t, testnode.Options{Configure: func(c *server.Config) {
		c.MQTTTLSAddr, c.MQTTTLSCert, c.MQTTTLSKey = "127.0.0.1:0", certFile, keyFile
	}})
	app := s.CreateApp(t, "iot")
	roots := x509.NewCertPool()
	roots.AddCert(serverCA.cert)
	return &tlsBridge{
		bridgeEnv: &bridgeEnv{s: s, keys: app.Env(t, "dev")},
		appID:     app.ID,
		admin:     map[string]string{"Authorization": "Bearer " + s.AdminToken(t)},
		roots:     roots,
		tlsAdr:    s.Node.MQTTTLSAddr(),
	}
}

// trust registers a certificate through the admin API.
func (b *tlsBridge) trust(t *testing.T, pemText, kind string) (int, map[string]any) {
	t.Helper()
	return b.call(t, http.MethodPost, "/admin/api/apps/"+b.appID+"/environments/dev/device-certificates", map[string]any{"pem": pemText, "kind": kind}, b.admin)
}

// dialTLS connects over TLS presenting cert (none when nil) and sends
// CONNECT; err is the handshake's or the CONNECT's refusal.
func (b *tlsBridge) dialTLS(t *testing.T, cert *tls.Certificate, clientID, user, secret string) (*device, error) {
	t.Helper()
	tc := &tls.Config{RootCAs: b.roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	if cert != nil {
		tc.Certificates = []tls.Certificate{*cert}
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: wait}, "tcp", b.tlsAdr, tc)
	if err != nil {
		return nil, err
	}
	return connectOver(t, conn, clientID, user, secret)
}

// TestDeviceMTLS connects devices over TLS with client certificates: a
// certificate a registered CA signed authenticates the device its CN
// names (the username and password ignored), and then the device policy
// applies to it as to any device; certificates of an unknown CA, of an
// unknown or disabled device, or a device certificate pinned in the
// environment are refused or accepted as they should be.
func TestDeviceMTLS(t *testing.T) {
	t.Parallel()
	b := startTLSBridge(t)
	devCA, otherCA := newCA(t, "devices CA"), newCA(t, "somebody else's CA")
	secret := b.register(t, map[string]any{"id": "therm-1"})
	b.register(t, map[string]any{"id": "therm-off"})
	b.register(t, map[string]any{"id": "pinned-1"})
	if code, out := b.call(t, http.MethodPatch, "/v1/devices/therm-off", map[string]any{"disabled": true}, b.server()); code != http.StatusOK {
		t.Fatalf("disable: %d %v", code, out)
	}
	if code, out := b.trust(t, devCA.pem, ""); code != http.StatusCreated || out["kind"] != "ca" {
		t.Fatalf("trust CA: %d %v", code, out)
	}
	later := time.Now().Add(12 * time.Hour)
	good := devCA.issue(t, "therm-1", later)

	// The AWS IoT SDKs send a metrics string as the username.
	d, err := b.dialTLS(t, &good, "therm-1", "?SDK=Go&Version=1.0", "")
	if err != nil {
		t.Fatalf("mTLS connect with a registered CA: %v", err)
	}
	d.subscribe(t, "$aws/things/therm-1/shadow/get/+")
	if rc := d.publish(t, "$aws/things/therm-1/shadow/get", map[string]any{"clientToken": "c1"}); rc >= 0x80 {
		t.Fatalf("shadow get refused: %#x", rc)
	}
	d.next(t, "$aws/things/therm-1/shadow/get/rejected", 0)
	if rc := d.publish(t, "$aws/things/other/shadow/get", map[string]any{}); rc < 0x80 {
		t.Fatalf("publish to another device's topic accepted (%#x)", rc)
	}
	poll(t, "device online", func() bool {
		_, out := b.call(t, http.MethodGet, "/v1/devices/therm-1", nil, b.server())
		return out["online"] == true
	})

	refused := []struct {
		name     string
		cert     tls.Certificate
		clientID string
	}{
		{"unknown CA", otherCA.issue(t, "therm-1", later), "therm-1"},
		{"unknown device", devCA.issue(t, "ghost-1", later), "ghost-1"},
		{"disabled device", devCA.issue(t, "therm-off", later), "therm-off"},
		{"another device's client id", good, "therm-2"},
		{"pinned certificate not registered", otherCA.issue(t, "pinned-1", later), "pinned-1"},
	}
	for _, tc := range refused {
		if _, err := b.dialTLS(t, &tc.cert, tc.clientID, "therm-1", secret); err == nil {
			t.Errorf("%s: connected", tc.name)
		}
	}

	// A single device certificate, pinned, from a CA nobody registered.
	pinned := otherCA.issue(t, "pinned-1", later)
	if code, out := b.trust(t, certPEM(pinned), "certificate"); code != http.StatusCreated {
		t.Fatalf("pin: %d %v", code, out)
	}
	if _, err := b.dialTLS(t, &pinned, "pinned-1", "", ""); err != nil {
		t.Fatalf("pinned certificate: %v", err)
	}
	// Pinning one certificate trusts no other of its CA.
	if _, err := b.dialTLS(t, ptr(otherCA.issue(t, "therm-1", later)), "therm-1", "", ""); err == nil {
		t.Fatal("a certificate of a pinned certificate's CA connected")
	}

	// Without a client certificate, the secret still works over TLS.
	if _, err := b.dialTLS(t, nil, "therm-1:tls", "therm-1", secret); err != nil {
		t.Fatalf("secret over TLS: %v", err)
	}
	if _, err := b.dialTLS(t, nil, "therm-1:bad", "therm-1", "wrong"); err == nil {
		t.Fatal("a wrong secret connected over TLS")
	}

	// Removing the CA refuses new connections of its devices.
	code, list := b.call(t, http.MethodGet, "/admin/api/apps/"+b.appID+"/environments/dev/device-certificates", nil, b.admin)
	items, _ := list["items"].([]any)
	if code != http.StatusOK || len(items) != 2 {
		t.Fatalf("list: %d %v", code, list)
	}
	for _, it := range items {
		m := it.(map[string]any)
		if m["kind"] != "ca" {
			continue
		}
		if code, out := b.call(t, http.MethodDelete, "/admin/api/apps/"+b.appID+"/environments/dev/device-certificates/"+m["id"].(string), nil, b.admin); code != http.StatusNoContent {
			t.Fatalf("remove: %d %v", code, out)
		}
	}
	if _, err := b.dialTLS(t, &good, "therm-1:again", "", ""); err == nil {
		t.Fatal("connected after its CA was removed")
	}
}

func ptr[T any](v T) *T { return &v }
