package rest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/connectors"
)

func TestAuth(t *testing.T) {
	t.Parallel()
	// The server accepts exactly the credentials each case configures.
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		ok := false
		switch r.URL.Path {
		case "/none":
			ok = r.Header.Get("Authorization") == ""
		case "/basic":
			u, p, has := r.BasicAuth()
			ok = has && u == "svc" && p == "pa:ss word"
		case "/bearer":
			ok = r.Header.Get("Authorization") == "Bearer tok-123"
		case "/header":
			ok = r.Header.Get("X-Api-Key") == "k-456"
		case "/query":
			ok = r.URL.Query().Get("api_key") == "k&789" && r.URL.Query().Get("q") == "1"
		}
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
		}
	})
	tests := []struct {
		name string
		auth map[string]any
		path string
	}{
		{"none", nil, "/none"},
		{"none explicit", map[string]any{"type": "none"}, "/none"},
		{"basic", map[string]any{"type": "basic", "username": "svc", "password": "pa:ss word"}, "/basic"},
		{"bearer", map[string]any{"type": "bearer", "token": "tok-123"}, "/bearer"},
		{"apiKey header", map[string]any{"type": "apiKey", "header": "X-Api-Key", "value": "k-456"}, "/header"},
		{"apiKey query", map[string]any{"type": "apiKey", "query": "api_key", "value": "k&789"}, "/query?q=1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := map[string]any{"baseURL": srv.URL}
			if tc.auth != nil {
				cfg["auth"] = tc.auth
			}
			c, _ := connect(t, cfg, ops(map[string]map[string]any{"get": {"path": tc.path}}), connectors.Options{})
			if _, err := call(t, c, "get", nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// tokenServer is a local OAuth2 token endpoint counting its fetches.
type tokenServer struct {
	fetches   atomic.Int64
	expiresIn int
	refuse    atomic.Bool
	release   chan struct{} // when set, fetches wait for it
}

func (ts *tokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if ts.release != nil {
		<-ts.release
	}
	n := ts.fetches.Add(1)
	id, secret, ok := r.BasicAuth()
	if err := r.ParseForm(); err != nil || ts.refuse.Load() || !ok || id != "client-1" || secret != "s3cr3t-client" ||
		r.PostForm.Get("grant_type") != "client_credentials" || r.PostForm.Get("scope") != "orders:read orders:write" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = fmt.Fprintf(w, `{"error":"invalid_client","error_description":"bad secret s3cr3t-client"}`)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": fmt.Sprintf("at-%d", n), "token_type": "Bearer", "expires_in": ts.expiresIn})
}

func TestOAuth2ClientCredentials(t *testing.T) {
	t.Parallel()
	ts := &tokenServer{expiresIn: 3600, release: make(chan struct{})}
	tokenSrv := server(t, ts.ServeHTTP)
	var rejectOnce atomic.Bool
	var mu sync.Mutex
	seen := map[string]int{}
	api := server(t, func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		if rejectOnce.CompareAndSwap(true, false) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		seen[h]++
		mu.Unlock()
	})
	clk := newClock()
	c, _ := connect(t, map[string]any{"baseURL": api.URL, "auth": map[string]any{
		"type": "oauth2-client-credentials", "tokenURL": tokenSrv.URL + "/token",
		"clientId": "client-1", "clientSecret": "s3cr3t-client", "scopes": []any{"orders:read", "orders:write"},
	}}, ops(map[string]map[string]any{"get": {"path": "/x"}}), connectors.Options{Now: clk.Now})

	// Concurrent first calls share one fetch: the endpoint holds the
	// fetch until every caller is waiting.
	const callers = 16
	errs := make(chan error, callers)
	for range callers {
		go func() {
			_, err := call(t, c, "get", nil)
			errs <- err
		}()
	}
	// Every caller holds a slot (so is past the empty cache or about to
	// look at it) while the one fetch is held at the endpoint.
	eventually(t, "all callers in flight", func() bool { return c.Guard().InFlight() == callers })
	close(ts.release)
	for range callers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := ts.fetches.Load(); n != 1 {
		t.Fatalf("%d token fetches for %d concurrent calls, want 1", n, callers)
	}
	if seen["Bearer at-1"] != callers {
		t.Fatalf("calls carried %v, want %d × Bearer at-1", seen, callers)
	}

	steps := []struct {
		name    string
		advance time.Duration
		reject  bool // the API answers 401 once (token revoked)
		fetches int64
	}{
		{"reused while valid", 3000 * time.Second, false, 1},
		{"refetched after expiry", 600 * time.Second, false, 2},
		{"reused again", time.Second, false, 2},
		{"dropped after a 401", 0, true, 2},
		{"refetched after the 401", 0, false, 3},
	}
	for _, s := range steps {
		clk.Advance(s.advance)
		rejectOnce.Store(s.reject)
		_, err := call(t, c, "get", nil)
		if s.reject {
			wantKind(t, err, connectors.KindStatus)
		} else if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if n := ts.fetches.Load(); n != s.fetches {
			t.Fatalf("%s: %d fetches, want %d", s.name, n, s.fetches)
		}
	}

	// A refused client secret is KindStatus with the endpoint's status
	// and no secret or endpoint text in the message.
	ts.refuse.Store(true)
	clk.Advance(2 * time.Hour)
	_, err := call(t, c, "get", nil)
	ce := wantKind(t, err, connectors.KindStatus)
	if ce.Status != http.StatusUnauthorized || !strings.Contains(ce.Message, "invalid_client") ||
		strings.Contains(fmt.Sprintf("%v %+v", err, ce), "s3cr3t") {
		t.Fatalf("token refusal: %+v", ce)
	}
}

func TestOAuth2WaiterHonoursItsContext(t *testing.T) {
	t.Parallel()
	ts := &tokenServer{expiresIn: 3600, release: make(chan struct{})}
	tokenSrv := server(t, ts.ServeHTTP)
	api := server(t, func(http.ResponseWriter, *http.Request) {})
	c, _ := connect(t, map[string]any{"baseURL": api.URL, "auth": map[string]any{
		"type": "oauth2-client-credentials", "tokenURL": tokenSrv.URL, "clientId": "client-1",
		"clientSecret": "s3cr3t-client", "scopes": "orders:read orders:write",
	}}, ops(map[string]map[string]any{"get": {"path": "/x"}}), connectors.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := c.Call(ctx, connectors.Request{Operation: "get"})
	wantKind(t, err, connectors.KindTimeout)
	close(ts.release) // the shared fetch finishes for the next caller
	if _, err := call(t, c, "get", nil); err != nil {
		t.Fatal(err)
	}
	if n := ts.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches, want the abandoned one reused", n)
	}
}
