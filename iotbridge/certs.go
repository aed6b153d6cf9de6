package iotbridge

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/skybridgehq/skybridge/store"
)

// collCerts holds an environment's trusted device certificates: the CAs
// whose certificates authenticate its devices over mTLS, and single
// pinned device certificates.
const collCerts = "deviceCerts"

// Kinds of trusted certificate.
const (
	// CertKindCA trusts every device certificate a CA signed (directly or
	// through intermediates the device sends).
	CertKindCA = "ca"
	// CertKindCertificate trusts one device certificate, pinned by its
	// SHA-256 fingerprint (self-signed ones included).
	CertKindCertificate = "certificate"
)

// Limits of the certificate registry.
const (
	// MaxCertPEMBytes bounds a registered certificate's PEM text.
	MaxCertPEMBytes = 64 << 10
	// MaxTrustedCerts bounds the certificates one environment trusts.
	MaxTrustedCerts = 100
	// trustTTL is how long a node trusts its cached copy of an
	// environment's certificates: another node's change applies here
	// within it (this node's own at once).
	trustTTL = 30 * time.Second
)

// TrustedCert is a CA or device certificate an environment trusts for
// MQTT client-certificate authentication, as the admin API shows it.
type TrustedCert struct {
	// ID is the certificate's SHA-256 fingerprint, lower-case hex.
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
	PEM       string    `json:"pem"`
	CreatedAt string    `json:"createdAt"`
}

// ParseTrustedCert checks a certificate an admin registers: one PEM
// CERTIFICATE block (nothing else in the text), a CA certificate when
// kind is CertKindCA (the default for ""), a device certificate whose
// common name is a device id for CertKindCertificate, valid at now. The
// errors name the field at fault ("pem" or "kind").
func ParseTrustedCert(pemText, kind string, now time.Time) (*x509.Certificate, string, error) {
	if kind == "" {
		kind = CertKindCA
	}
	if kind != CertKindCA && kind != CertKindCertificate {
		return nil, "", invalid("kind", "want %q or %q", CertKindCA, CertKindCertificate)
	}
	if strings.TrimSpace(pemText) == "" {
		return nil, "", invalid("pem", "a PEM-encoded certificate is required")
	}
	if len(pemText) > MaxCertPEMBytes {
		return nil, "", invalid("pem", "at most %d bytes", MaxCertPEMBytes)
	}
	block, rest := pem.Decode([]byte(pemText))
	if block == nil {
		return nil, "", invalid("pem", "no PEM block found")
	}
	if block.Type != "CERTIFICATE" {
		return nil, "", invalid("pem", "a %q PEM block; want CERTIFICATE (never send a private key)", block.Type)
	}
	if strings.TrimSpace(string(rest)) != "" {
		return nil, "", invalid("pem", "one certificate per request; found more after the first")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, "", invalid("pem", "not an X.509 certificate: %v", err)
	}
	switch {
	case now.After(cert.NotAfter):
		return nil, "", invalid("pem", "the certificate expired at %s", cert.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(cert.NotBefore):
		return nil, "", invalid("pem", "the certificate is not valid before %s", cert.NotBefore.UTC().Format(time.RFC3339))
	}
	if kind == CertKindCA && (!cert.BasicConstraintsValid || !cert.IsCA) {
		return nil, "", invalid("pem", "not a CA certificate (basic constraints CA:TRUE); register a single device certificate with kind %q", CertKindCertificate)
	}
	if kind == CertKindCA && cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, "", invalid("pem", "the CA certificate's key usage does not allow signing certificates")
	}
	if kind == CertKindCertificate && !ValidDeviceID(cert.Subject.CommonName) {
		return nil, "", invalid("pem", "the certificate's common name %q is not a device id", cert.Subject.CommonName)
	}
	return cert, kind, nil
}

// fingerprint is a certificate's id: SHA-256 of its DER, hex.
func fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// AddTrustedCert registers a CA (kind "ca", the default) or a single
// device certificate (kind "certificate") in env for MQTT mTLS.
// Registering a certificate twice returns the first registration.
func (s *Service) AddTrustedCert(ctx context.Context, env Env, pemText, kind string) (TrustedCert, error) {
	cert, kind, err := ParseTrustedCert(pemText, kind, s.now())
	if err != nil {
		return TrustedCert{}, err
	}
	db, err := s.envDB(ctx, env)
	if err != nil {
		return TrustedCert{}, err
	}
	coll := db.Collection(collCerts)
	id := fingerprint(cert)
	if d, err := coll.Get(ctx, id); err == nil {
		return trustedCertOf(d), nil
	}
	n, err := coll.Count(ctx, nil)
	if err != nil {
		return TrustedCert{}, fmt.Errorf("iotbridge: count trusted certificates: %w", err)
	}
	if n >= MaxTrustedCerts {
		return TrustedCert{}, invalid("pem", "the environment trusts %d certificates already (at most %d)", n, MaxTrustedCerts)
	}
	doc := store.Doc{
		store.FieldID: id,
		"kind":        kind,
		"subject":     cert.Subject.String(),
		"issuer":      cert.Issuer.String(),
		"notBefore":   fmtTime(cert.NotBefore),
		"notAfter":    fmtTime(cert.NotAfter),
		"pem":         string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})),
	}
	stored, err := coll.Insert(ctx, doc)
	if errors.Is(err, store.ErrDuplicate) {
		if d, gerr := coll.Get(ctx, id); gerr == nil {
			return trustedCertOf(d), nil
		}
	}
	if err != nil {
		return TrustedCert{}, fmt.Errorf("iotbridge: store trusted certificate: %w", err)
	}
	s.dropTrust(env.DB)
	return trustedCertOf(stored), nil
}

// TrustedCerts lists the certificates env trusts, by id.
func (s *Service) TrustedCerts(ctx context.Context, env Env) ([]TrustedCert, error) {
	db, err := s.envDB(ctx, env)
	if err != nil {
		return nil, err
	}
	page, err := db.Collection(collCerts).Find(ctx, store.Query{Limit: MaxTrustedCerts})
	if err != nil {
		return nil, fmt.Errorf("iotbridge: list trusted certificates: %w", err)
	}
	out := make([]TrustedCert, 0, len(page.Docs))
	for _, d := range page.Docs {
		out = append(out, trustedCertOf(d))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// RemoveTrustedCert stops trusting certificate id in env. New
// connections stop being accepted at once on this node and within 30
// seconds on the others; live connections stay until they end.
func (s *Service) RemoveTrustedCert(ctx context.Context, env Env, id string) error {
	db, err := s.envDB(ctx, env)
	if err != nil {
		return err
	}
	err = db.Collection(collCerts).Delete(ctx, id, 0)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("trusted certificate %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("iotbridge: remove trusted certificate: %w", err)
	}
	s.dropTrust(env.DB)
	return nil
}

func trustedCertOf(d store.Doc) TrustedCert {
	c := TrustedCert{
		ID:        store.DocID(d),
		Kind:      str(d["kind"]),
		Subject:   str(d["subject"]),
		Issuer:    str(d["issuer"]),
		PEM:       str(d["pem"]),
		CreatedAt: str(d[store.FieldCreatedAt]),
	}
	if t := timeField(d, "notBefore"); t != nil {
		c.NotBefore = *t
	}
	if t := timeField(d, "notAfter"); t != nil {
		c.NotAfter = *t
	}
	return c
}

// trust is what an environment trusts, parsed: its CAs as a pool and
// its pinned device certificates by fingerprint.
type trust struct {
	roots    *x509.CertPool
	cas      int
	pinned   map[string]bool
	loadedAt time.Time
}

// trustOf returns env's trust, from the cache when fresh.
func (s *Service) trustOf(ctx context.Context, env Env) (*trust, error) {
	s.trustMu.Lock()
	t, ok := s.trusts[env.DB]
	s.trustMu.Unlock()
	if ok && s.now().Sub(t.loadedAt) < trustTTL {
		return t, nil
	}
	certs, err := s.TrustedCerts(ctx, env)
	if err != nil {
		return nil, err
	}
	t = &trust{roots: x509.NewCertPool(), pinned: map[string]bool{}, loadedAt: s.now()}
	for _, c := range certs {
		switch c.Kind {
		case CertKindCA:
			if t.roots.AppendCertsFromPEM([]byte(c.PEM)) {
				t.cas++
			}
		case CertKindCertificate:
			t.pinned[c.ID] = true
		}
	}
	s.trustMu.Lock()
	if s.trusts == nil {
		s.trusts = map[string]*trust{}
	}
	s.trusts[env.DB] = t
	s.trustMu.Unlock()
	return t, nil
}

// dropTrust forgets the cached trust of an environment database.
func (s *Service) dropTrust(db string) {
	s.trustMu.Lock()
	delete(s.trusts, db)
	s.trustMu.Unlock()
}

// errUntrusted is why a client certificate is refused; the detail goes
// to the log, never to the client.
var errUntrusted = errors.New("iotbridge: client certificate not trusted")

// VerifyClientCert authenticates a device by its certificate chain (the
// leaf first, then the intermediates it sent): the leaf's common name
// names the device, which must exist and be enabled, and the leaf must
// be pinned in the device's environment or chain up, for client
// authentication, to a CA registered there. It returns the device id.
func (s *Service) VerifyClientCert(ctx context.Context, chain []*x509.Certificate) (string, error) {
	if len(chain) == 0 {
		return "", fmt.Errorf("%w: no certificate", errUntrusted)
	}
	leaf := chain[0]
	id := leaf.Subject.CommonName
	if !ValidDeviceID(id) {
		return "", fmt.Errorf("%w: common name %q is not a device id", errUntrusted, id)
	}
	env, err := s.locate(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return "", fmt.Errorf("%w: no device %q", errUntrusted, id)
	}
	if err != nil {
		return "", err
	}
	t, err := s.trustOf(ctx, env)
	if err != nil {
		return "", err
	}
	now := s.now()
	switch {
	case t.pinned[fingerprint(leaf)]:
		if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
			return "", fmt.Errorf("%w: device %q: pinned certificate outside its validity", errUntrusted, id)
		}
	case t.cas > 0:
		inter := x509.NewCertPool()
		for _, c := range chain[1:] {
			inter.AddCert(c)
		}
		_, err := leaf.Verify(x509.VerifyOptions{
			Roots:         t.roots,
			Intermediates: inter,
			CurrentTime:   now,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		})
		if err != nil {
			return "", fmt.Errorf("%w: device %q: %v", errUntrusted, id, err)
		}
	default:
		return "", fmt.Errorf("%w: device %q: its environment trusts no certificate", errUntrusted, id)
	}
	ok, err := s.deviceEnabled(ctx, env, id)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("%w: device %q is disabled or gone", errUntrusted, id)
	}
	return id, nil
}

// deviceEnabled reports whether device id of env exists and is enabled.
func (s *Service) deviceEnabled(ctx context.Context, env Env, id string) (bool, error) {
	db, err := s.envDB(ctx, env)
	if err != nil {
		return false, err
	}
	d, err := db.Collection(collDevices).Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		s.forget(id) // the index entry may be stale
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("iotbridge: read device: %w", err)
	}
	disabled, _ := d["disabled"].(bool)
	return !disabled, nil
}

// ClientCertTLS returns a copy of base (the MQTT TLS listener's
// configuration, with the server certificate) that asks devices for a
// client certificate and, when one is sent, refuses the handshake
// unless VerifyClientCert accepts it. Devices without a certificate
// still connect, and authenticate with their secret.
func (s *Service) ClientCertTLS(base *tls.Config) *tls.Config {
	tc := base.Clone()
	tc.ClientAuth = tls.RequestClientCert
	tc.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return nil
		}
		ctx, cancel := s.hookContext()
		defer cancel()
		if _, err := s.VerifyClientCert(ctx, cs.PeerCertificates); err != nil {
			s.log.Info("mqtt client certificate refused", "err", err)
			return errUntrusted
		}
		return nil
	}
	return tc
}

// peerCertificates returns the certificate chain a client sent over
// TLS, or nil.
func peerCertificates(cl *mqtt.Client) []*x509.Certificate {
	if cl == nil {
		return nil
	}
	tc, ok := cl.Net.Conn.(*tls.Conn)
	if !ok {
		return nil
	}
	return tc.ConnectionState().PeerCertificates
}
