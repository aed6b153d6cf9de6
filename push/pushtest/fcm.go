package pushtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// FCM is a fake FCM HTTP v1 API with its OAuth2 token endpoint.
type FCM struct {
	counter
	// URL is the messaging endpoint to configure (".../v1").
	URL string
	// ProjectID is the project of ServiceAccountJSON.
	ProjectID string
	// ServiceAccountJSON is a service account key whose token_uri is the
	// fake's token endpoint.
	ServiceAccountJSON []byte
	// ClientEmail is the service account's email.
	ClientEmail string

	srv      *httptest.Server
	pub      *rsa.PublicKey
	tokenURI string
	accMu    sync.Mutex
	access   map[string]bool
	// dryRuns counts validate_only requests.
	dryRuns int
}

// NewFCM starts a fake FCM for t.
func NewFCM(t testing.TB) *FCM {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f := &FCM{counter: newCounter(), ProjectID: "skybridge-test", ClientEmail: "push@skybridge-test.iam.gserviceaccount.com", pub: &k.PublicKey, access: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", f.serveToken)
	mux.HandleFunc("POST /v1/projects/{project}/messages:send", f.serveSend)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	f.URL = f.srv.URL + "/v1"
	f.tokenURI = f.srv.URL + "/token"
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	f.ServiceAccountJSON, _ = json.Marshal(map[string]string{
		"type": "service_account", "project_id": f.ProjectID, "private_key_id": "key1",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": f.ClientEmail, "client_id": "1", "token_uri": f.tokenURI,
	})
	return f
}

// DryRuns is how many validate_only sends the fake got.
func (f *FCM) DryRuns() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dryRuns
}

// serveToken is the OAuth2 JWT-bearer grant (RFC 7523) of Google's token
// endpoint: the assertion must be signed by the service account's key.
func (f *FCM) serveToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		f.fail("token request without the jwt-bearer grant")
		http.Error(w, `{"error":"unsupported_grant_type"}`, http.StatusBadRequest)
		return
	}
	claims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(r.PostForm.Get("assertion"), claims, func(*jwt.Token) (any, error) { return f.pub, nil }, jwt.WithValidMethods([]string{"RS256"}))
	if err != nil || !tok.Valid || claims["iss"] != f.ClientEmail || claims["aud"] != f.tokenURI {
		f.fail(fmt.Sprintf("bad assertion: %v %v", err, claims))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`)
		return
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	access := "ya29.fake-" + hex.EncodeToString(b)
	f.accMu.Lock()
	f.access[access] = true
	f.accMu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": 3600})
}

// fcmError writes an error in FCM HTTP v1's shape.
func fcmError(w http.ResponseWriter, status int, code, grpcStatus, msg string) {
	if msg == "" {
		switch code {
		case "INVALID_ARGUMENT":
			msg = "The registration token is not a valid FCM registration token"
		case "UNREGISTERED":
			msg = "Requested entity was not found."
		default:
			msg = code
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code": status, "message": msg, "status": grpcStatus,
		"details": []any{map[string]any{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}},
	}})
}

// grpcStatusOf is the google.rpc status FCM pairs with an error code.
func grpcStatusOf(code string, status int) string {
	switch code {
	case "UNREGISTERED":
		return "NOT_FOUND"
	case "INVALID_ARGUMENT":
		return "INVALID_ARGUMENT"
	case "QUOTA_EXCEEDED":
		return "RESOURCE_EXHAUSTED"
	case "UNAVAILABLE":
		return "UNAVAILABLE"
	case "INTERNAL":
		return "INTERNAL"
	case "SENDER_ID_MISMATCH":
		return "PERMISSION_DENIED"
	}
	if status >= 500 {
		return "INTERNAL"
	}
	return "FAILED_PRECONDITION"
}

func (f *FCM) serveSend(w http.ResponseWriter, r *http.Request) {
	access, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.accMu.Lock()
	known := f.access[access]
	f.accMu.Unlock()
	if !known {
		f.fail("send without a token from the token endpoint")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`)
		return
	}
	if p := r.PathValue("project"); p != f.ProjectID {
		f.fail("project " + p)
		fcmError(w, http.StatusForbidden, "SENDER_ID_MISMATCH", "PERMISSION_DENIED", "")
		return
	}
	var body struct {
		ValidateOnly bool           `json:"validate_only"`
		Message      map[string]any `json:"message"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&body); err != nil || body.Message == nil {
		f.fail("send body")
		fcmError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "Invalid JSON payload received.")
		return
	}
	if body.ValidateOnly {
		f.mu.Lock()
		f.dryRuns++
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"name": "projects/" + f.ProjectID + "/messages/fake_dry_run"})
		return
	}
	token, _ := body.Message["token"].(string)
	if token == "" {
		f.fail("message without a token")
		fcmError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "Invalid JSON payload received.")
		return
	}
	rule, ok := f.hit(token, Request{Headers: map[string]string{"Authorization": "Bearer ..."}, Body: body.Message})
	f.wait()
	if ok && rule.Status != 0 && rule.Status != http.StatusOK {
		if rule.RetryAfter != "" {
			w.Header().Set("Retry-After", rule.RetryAfter)
		}
		fcmError(w, rule.Status, rule.Reason, grpcStatusOf(rule.Reason, rule.Status), rule.Message)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"name": fmt.Sprintf("projects/%s/messages/%d", f.ProjectID, f.Total())})
}
