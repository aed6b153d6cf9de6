package iotbridge_test

import (
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/iotbridge"
)

// TestParseTrustedCert checks what an admin may register, and that each
// refusal names its field.
func TestParseTrustedCert(t *testing.T) {
	t.Parallel()
	ca := newCA(t, "devices CA")
	now := time.Now()
	leaf := certPEM(ca.issue(t, "dev-1", now.Add(time.Hour)))
	badCN := certPEM(ca.issue(t, "not a device id", now.Add(time.Hour)))
	expired := certPEM(ca.issue(t, "dev-1", now.Add(-time.Minute)))
	key := "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
	tests := []struct {
		name, pem, kind string
		field           string // "" when accepted
		wantKind        string
	}{
		{"CA, default kind", ca.pem, "", "", iotbridge.CertKindCA},
		{"CA", ca.pem, "ca", "", iotbridge.CertKindCA},
		{"pinned device certificate", leaf, "certificate", "", iotbridge.CertKindCertificate},
		{"leaf as CA", leaf, "ca", "pem", ""},
		{"unknown kind", ca.pem, "intermediate", "kind", ""},
		{"empty", "", "", "pem", ""},
		{"not PEM", "hello", "", "pem", ""},
		{"private key", key, "", "pem", ""},
		{"two certificates", ca.pem + leaf, "", "pem", ""},
		{"garbage DER", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "", "pem", ""},
		{"expired", expired, "certificate", "pem", ""},
		{"CN not a device id", badCN, "certificate", "pem", ""},
		{"too large", ca.pem + strings.Repeat(" ", iotbridge.MaxCertPEMBytes), "", "pem", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cert, kind, err := iotbridge.ParseTrustedCert(tc.pem, tc.kind, now)
			if tc.field == "" {
				if err != nil || cert == nil || kind != tc.wantKind {
					t.Fatalf("got %v %q %v, want accepted as %q", cert != nil, kind, err, tc.wantKind)
				}
				return
			}
			if !errors.Is(err, iotbridge.ErrInvalid) || iotbridge.FieldOf(err) != tc.field {
				t.Fatalf("error %v (field %q), want ErrInvalid on %q", err, iotbridge.FieldOf(err), tc.field)
			}
		})
	}
	// Not yet valid.
	if _, _, err := iotbridge.ParseTrustedCert(ca.pem, "", now.Add(-2*time.Hour)); iotbridge.FieldOf(err) != "pem" {
		t.Fatalf("not yet valid: %v", err)
	}
}

// FuzzParseTrustedCert feeds the admin route's PEM parser arbitrary
// text: it never panics, and what it accepts is a certificate of the
// kind it says.
func FuzzParseTrustedCert(f *testing.F) {
	ca := newCA(f, "fuzz CA")
	leaf := certPEM(ca.issue(f, "dev-1", time.Now().Add(time.Hour)))
	for _, s := range []string{ca.pem, leaf, "", "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n", ca.pem + leaf, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"} {
		f.Add(s, "ca")
		f.Add(s, "certificate")
	}
	now := time.Now()
	f.Fuzz(func(t *testing.T, text, kind string) {
		cert, got, err := iotbridge.ParseTrustedCert(text, kind, now)
		if err != nil {
			if !errors.Is(err, iotbridge.ErrInvalid) || iotbridge.FieldOf(err) == "" {
				t.Fatalf("error %v names no field", err)
			}
			return
		}
		if cert == nil {
			t.Fatal("accepted without a certificate")
		}
		if got == iotbridge.CertKindCA && !(cert.IsCA && cert.BasicConstraintsValid) {
			t.Fatal("accepted a non-CA as a CA")
		}
		if _, err := x509.ParseCertificate(cert.Raw); err != nil {
			t.Fatalf("accepted bytes that do not parse again: %v", err)
		}
	})
}
