package confmap

import (
	"crypto/tls"
	"crypto/x509"
)

// TLS reads a connector's `tls` mapping (caPEM, certPEM and keyPEM,
// serverName, insecureSkipVerify) into a client configuration with TLS 1.2
// or newer. Problems are recorded in m's Reader; messages never quote the
// PEM text or a parse error, which could describe key material. insecure
// reports an explicit `insecureSkipVerify: true`, which the caller should
// log.
func TLS(m Map) (cfg *tls.Config, insecure bool) {
	r := m.Reader()
	defer m.Done()
	cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	if ca, ok := m.String("caPEM"); ok {
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM([]byte(ca)) {
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
		if cert, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM)); err != nil {
			r.Errorf(m.Field("certPEM"), "certPEM and keyPEM are not a PEM certificate and its private key")
		} else {
			cfg.Certificates = []tls.Certificate{cert}
		}
	}
	cfg.ServerName, _ = m.String("serverName")
	insecure, _ = m.Bool("insecureSkipVerify")
	cfg.InsecureSkipVerify = insecure //nolint:gosec // only on an explicit insecureSkipVerify: true, which callers log
	return cfg, insecure
}
