package api_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/internal/testenv"
	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
)

// selfSigned returns a PEM certificate for cn, a CA when ca is set,
// valid until notAfter.
func selfSigned(t *testing.T, cn string, ca bool, notAfter time.Time) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-2 * time.Hour),
		NotAfter:              notAfter,
		IsCA:                  ca,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// TestDeviceCertificatesAdmin registers, lists and removes the
// certificates an environment trusts for device mTLS, refuses bad ones
// with a problem naming the field, and audits the changes.
func TestDeviceCertificatesAdmin(t *testing.T) {
	t.Parallel()
	s := testnode.Start(t, testnode.Options{})
	app := s.CreateApp(t, "certs")
	p := &pushNode{s: s, admin: map[string]string{"Authorization": "Bearer " + s.AdminToken(t)}}
	path := "/admin/api/apps/" + app.ID + "/environments/dev/device-certificates"
	ca := selfSigned(t, "Devices CA", true, time.Now().Add(time.Hour))

	for _, tc := range []struct {
		name  string
		body  any
		field string
	}{
		{"not PEM", map[string]any{"pem": "hello"}, "pem"},
		{"not a CA", map[string]any{"pem": selfSigned(t, "dev-1", false, time.Now().Add(time.Hour))}, "pem"},
		{"expired", map[string]any{"pem": selfSigned(t, "Old CA", true, time.Now().Add(-time.Hour))}, "pem"},
		{"a key", map[string]any{"pem": "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"}, "pem"},
		{"bad kind", map[string]any{"pem": ca, "kind": "root"}, "kind"},
	} {
		p.problemField(t, http.MethodPost, path, tc.body, p.admin, tc.field)
	}
	// Unknown fields are refused too.
	p.call(t, http.MethodPost, path, map[string]any{"pem": ca, "certificate": "x"}, p.admin, http.StatusBadRequest, nil)
	p.call(t, http.MethodPost, path, map[string]any{"pem": ca}, nil, http.StatusUnauthorized, nil)

	var added, again struct {
		ID, Kind, Subject, PEM string
	}
	p.call(t, http.MethodPost, path, map[string]any{"pem": ca}, p.admin, http.StatusCreated, &added)
	if len(added.ID) != 64 || added.Kind != "ca" || !strings.Contains(added.Subject, "Devices CA") || added.PEM != ca {
		t.Fatalf("added %+v", added)
	}
	p.call(t, http.MethodPost, path, map[string]any{"pem": ca, "kind": "ca"}, p.admin, http.StatusCreated, &again)
	if again.ID != added.ID {
		t.Fatalf("registering again: %+v, want %+v", again, added)
	}
	var list struct{ Items []struct{ ID string } }
	p.call(t, http.MethodGet, path, nil, p.admin, http.StatusOK, &list)
	if len(list.Items) != 1 || list.Items[0].ID != added.ID {
		t.Fatalf("list %+v", list)
	}
	// Another environment trusts nothing.
	p.call(t, http.MethodGet, strings.Replace(path, "/dev/", "/prod/", 1), nil, p.admin, http.StatusOK, &list)
	if len(list.Items) != 0 {
		t.Fatalf("prod list %+v", list)
	}
	p.call(t, http.MethodDelete, path+"/"+added.ID, nil, p.admin, http.StatusNoContent, nil)
	p.call(t, http.MethodDelete, path+"/"+added.ID, nil, p.admin, http.StatusNotFound, nil)
	p.call(t, http.MethodGet, "/admin/api/apps/nope/environments/dev/device-certificates", nil, p.admin, http.StatusNotFound, nil)

	if !testenv.WaitFor(t.Context(), 10*time.Second, func() bool {
		_, body := s.Do(t, http.MethodGet, "/admin/api/audit?limit=200", nil, p.admin)
		return strings.Count(string(body), "device-certificates") >= 3
	}) {
		t.Fatal("the certificate changes were not audited")
	}
}
