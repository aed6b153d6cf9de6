package rest

import (
	"crypto/tls"
	"crypto/x509"

	"github.com/skybridgehq/skybridge/connectors/internal/confmap"
)

// tlsSettings is config.tls, read and checked.
type tlsSettings struct {
	roots              *x509.CertPool // nil: the system's
	cert               *tls.Certificate
	serverName         string
	insecureSkipVerify bool
}

func readTLS(m confmap.Map) tlsSettings {
	r := m.Reader()
	var t tlsSettings
	defer m.Done()
	if ca, ok := m.String("caPEM"); ok {
		t.roots = x509.NewCertPool()
		if !t.roots.AppendCertsFromPEM([]byte(ca)) {
			r.Errorf(m.Field("caPEM"), "holds no PEM certificate")
		}
	}
	certRaw, hasCert := m.Raw("certPEM")
	keyRaw, hasKey := m.Raw("keyPEM")
	if hasCert != hasKey {
		r.Errorf(m.Field("certPEM"), "certPEM and keyPEM go together")
	}
	certPEM, certOK := m.String("certPEM")
	keyPEM, keyOK := m.String("keyPEM")
	if certOK && keyOK && !r.Skip(certRaw) && !r.Skip(keyRaw) {
		// The parse error is not quoted: it could describe key material.
		if cert, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM)); err != nil {
			r.Errorf(m.Field("certPEM"), "certPEM and keyPEM are not a PEM certificate and its private key")
		} else {
			t.cert = &cert
		}
	}
	t.serverName, _ = m.String("serverName")
	t.insecureSkipVerify, _ = m.Bool("insecureSkipVerify")
	return t
}

// config returns the client TLS configuration.
func (t tlsSettings) config() *tls.Config {
	c := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		RootCAs:            t.roots,
		ServerName:         t.serverName,
		InsecureSkipVerify: t.insecureSkipVerify, //nolint:gosec // only when config.tls.insecureSkipVerify is true, logged at New
	}
	if t.cert != nil {
		c.Certificates = []tls.Certificate{*t.cert}
	}
	return c
}
