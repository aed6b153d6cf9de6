package rest_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/connectors"
)

// testPKI is a CA and one client certificate it signed, as PEM.
type testPKI struct {
	pool                   *x509.CertPool
	caPEM, certPEM, keyPEM string
	otherCert, otherKeyPEM string // self-signed, not from the CA
}

func newPKI(t testing.TB) testPKI {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leaf := func(parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (string, string) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "skybridge"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
		}
		if parent == nil {
			parent, parentKey = tmpl, key
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
		return pemOf("CERTIFICATE", der), pemOf("PRIVATE KEY", keyDER)
	}
	p := testPKI{pool: x509.NewCertPool(), caPEM: pemOf("CERTIFICATE", caDER)}
	p.pool.AddCert(ca)
	p.certPEM, p.keyPEM = leaf(ca, caKey)
	p.otherCert, p.otherKeyPEM = leaf(nil, nil)
	return p
}

func pemOf(kind string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}))
}

func serverCAPEM(srv *httptest.Server) string { return pemOf("CERTIFICATE", srv.Certificate().Raw) }

func TestTLS(t *testing.T) {
	t.Parallel()
	pki := newPKI(t)
	ok := func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }
	plain := httptest.NewTLSServer(http.HandlerFunc(ok))
	t.Cleanup(plain.Close)
	mtls := httptest.NewUnstartedServer(http.HandlerFunc(ok))
	mtls.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pki.pool}
	mtls.StartTLS()
	t.Cleanup(mtls.Close)

	tests := []struct {
		name string
		url  string
		tls  map[string]any
		kind connectors.ErrorKind // "" for success
	}{
		{"custom CA trusted", plain.URL, map[string]any{"caPEM": serverCAPEM(plain)}, ""},
		{"refused without the CA", plain.URL, nil, connectors.KindUnavailable},
		{"refused with another CA", plain.URL, map[string]any{"caPEM": pki.caPEM}, connectors.KindUnavailable},
		{"serverName matching the certificate", plain.URL, map[string]any{"caPEM": serverCAPEM(plain), "serverName": "example.com"}, ""},
		{"serverName not in the certificate", plain.URL, map[string]any{"caPEM": serverCAPEM(plain), "serverName": "other.test"}, connectors.KindUnavailable},
		{"insecureSkipVerify", plain.URL, map[string]any{"insecureSkipVerify": true}, ""},
		{"mTLS with a client certificate", mtls.URL, map[string]any{"caPEM": serverCAPEM(mtls), "certPEM": pki.certPEM, "keyPEM": pki.keyPEM}, ""},
		{"mTLS refused without one", mtls.URL, map[string]any{"caPEM": serverCAPEM(mtls)}, connectors.KindUnavailable},
		{"mTLS refused with an unknown one", mtls.URL, map[string]any{"caPEM": serverCAPEM(mtls), "certPEM": pki.otherCert, "keyPEM": pki.otherKeyPEM}, connectors.KindUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := map[string]any{"baseURL": tc.url, "circuitBreaker": false}
			if tc.tls != nil {
				cfg["tls"] = tc.tls
			}
			c, logs := connect(t, cfg, ops(map[string]map[string]any{"get": {"path": "/"}}), connectors.Options{})
			resp, err := call(t, c, "get", nil)
			if tc.kind == "" {
				if err != nil || resp.Body != "ok" {
					t.Fatalf("%v, %v", resp, err)
				}
			} else {
				wantKind(t, err, tc.kind)
			}
			if tc.name == "insecureSkipVerify" && !contains(logs.String(), "insecureSkipVerify") {
				t.Errorf("no warning logged for insecureSkipVerify")
			}
		})
	}
}
