package pushtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// APNs is a fake APNs provider API.
type APNs struct {
	counter
	// URL is the server's base URL (https://127.0.0.1:port).
	URL string
	// Key is the .p8 key (PEM, PKCS #8) whose provider tokens it accepts,
	// KeyID, TeamID and BundleID the rest of the credentials.
	Key                     string
	KeyID, TeamID, BundleID string
	srv                     *httptest.Server
	pub                     *ecdsa.PublicKey
	tokMu                   sync.Mutex
	tokens                  map[string]time.Time // provider tokens seen, by issue time
}

// NewAPNs starts a fake APNs for t.
func NewAPNs(t testing.TB) *APNs {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	a := &APNs{
		counter: newCounter(), Key: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		KeyID: "ABCDE12345", TeamID: "TEAM123456", BundleID: "com.example.app", pub: &k.PublicKey, tokens: map[string]time.Time{},
	}
	a.srv = httptest.NewUnstartedServer(http.HandlerFunc(a.serve))
	a.srv.EnableHTTP2 = true
	a.srv.StartTLS()
	t.Cleanup(a.srv.Close)
	a.URL = a.srv.URL
	return a
}

// CertPEM is the server certificate in PEM, to trust as a root.
func (a *APNs) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.srv.Certificate().Raw})
}

// CertPool trusts the server.
func (a *APNs) CertPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(a.srv.Certificate())
	return p
}

// WriteCA writes CertPEM into dir and returns the file's path.
func (a *APNs) WriteCA(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "apns-ca.pem")
	if err := os.WriteFile(path, a.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// ProviderTokens is how many distinct provider tokens the fake saw.
func (a *APNs) ProviderTokens() int {
	a.tokMu.Lock()
	defer a.tokMu.Unlock()
	return len(a.tokens)
}

func apnsAnswer(w http.ResponseWriter, status int, reason string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if reason != "" {
		body := map[string]any{"reason": reason}
		if status == http.StatusGone {
			body["timestamp"] = time.Now().UnixMilli()
		}
		_ = json.NewEncoder(w).Encode(body)
	}
}

func (a *APNs) serve(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor != 2 {
		a.fail("request over " + r.Proto + ", not HTTP/2")
		apnsAnswer(w, http.StatusBadRequest, "BadPath")
		return
	}
	token, ok := strings.CutPrefix(r.URL.Path, "/3/device/")
	if !ok || token == "" {
		a.fail("path " + r.URL.Path)
		apnsAnswer(w, http.StatusNotFound, "BadPath")
		return
	}
	if r.Method != http.MethodPost {
		apnsAnswer(w, http.StatusMethodNotAllowed, "MethodNotAllowed")
		return
	}
	if reason := a.checkBearer(r.Header.Get("authorization")); reason != "" {
		a.fail("provider token: " + reason)
		apnsAnswer(w, http.StatusForbidden, reason)
		return
	}
	if r.Header.Get("apns-topic") != a.BundleID {
		a.fail("apns-topic " + r.Header.Get("apns-topic"))
		apnsAnswer(w, http.StatusBadRequest, "BadTopic")
		return
	}
	switch r.Header.Get("apns-push-type") {
	case "alert", "background", "voip", "complication", "fileprovider", "mdm", "liveactivity", "location", "pushtotalk":
	default:
		a.fail("apns-push-type " + r.Header.Get("apns-push-type"))
		apnsAnswer(w, http.StatusBadRequest, "InvalidPushType")
		return
	}
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 8192))
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil || body["aps"] == nil {
		a.fail("payload " + string(raw))
		apnsAnswer(w, http.StatusBadRequest, "PayloadEmpty")
		return
	}
	h := map[string]string{}
	for _, k := range []string{"apns-id", "apns-collapse-id", "apns-topic", "apns-push-type", "apns-priority", "apns-expiration"} {
		if v := r.Header.Get(k); v != "" {
			h[k] = v
		}
	}
	rule, ok := a.hit(token, Request{Headers: h, Body: body})
	a.wait()
	id := r.Header.Get("apns-id")
	if id == "" {
		id = fmt.Sprintf("%08X-0000-4000-8000-000000000000", a.Total())
	}
	w.Header().Set("apns-id", id)
	if !ok || rule.Status == 0 || rule.Status == http.StatusOK {
		w.WriteHeader(http.StatusOK)
		return
	}
	if rule.RetryAfter != "" {
		w.Header().Set("Retry-After", rule.RetryAfter)
	}
	apnsAnswer(w, rule.Status, rule.Reason)
}

// checkBearer verifies a provider token as APNs does; it returns the
// APNs reason for a bad one, "" for a good one.
func (a *APNs) checkBearer(h string) string {
	raw, ok := strings.CutPrefix(h, "bearer ")
	if !ok || raw == "" {
		return "MissingProviderToken"
	}
	// As APNs, verify a token once and trust it until it is an hour old.
	a.tokMu.Lock()
	issued, seen := a.tokens[raw]
	a.tokMu.Unlock()
	if seen {
		if time.Since(issued) > time.Hour {
			return "ExpiredProviderToken"
		}
		return ""
	}
	claims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		if kid, _ := t.Header["kid"].(string); kid != a.KeyID {
			return nil, fmt.Errorf("kid %q", kid)
		}
		return a.pub, nil
	}, jwt.WithValidMethods([]string{"ES256"}))
	if err != nil || !tok.Valid {
		return "InvalidProviderToken"
	}
	if iss, _ := claims["iss"].(string); iss != a.TeamID {
		return "InvalidProviderToken"
	}
	iat, _ := claims["iat"].(float64)
	if age := time.Since(time.Unix(int64(iat), 0)); age > time.Hour || age < -time.Minute {
		return "ExpiredProviderToken"
	}
	a.tokMu.Lock()
	a.tokens[raw] = time.Unix(int64(iat), 0)
	a.tokMu.Unlock()
	return ""
}
