// Package testnode starts Skybridge nodes in the test process, through the
// same wiring as the binary (internal/server), on free loopback ports. It
// lives apart from testenv so that packages the node is built from can use
// testenv in their own tests without an import cycle.
package testnode

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/internal/server"
	"github.com/skybridgehq/skybridge/internal/testenv"
)

// Admin credentials every test server bootstraps with.
const (
	AdminEmail    = "admin@example.com"
	AdminPassword = "correct-horse-battery-9"
)

// Options choose what a test server runs on.
type Options struct {
	// Store is "sqlite" (default) or "ferretdb" (the MongoDB adapter on the
	// shared embedded FerretDB, in a database prefix of its own).
	Store string
	// Redis selects the Redis cache on the shared redis-server.
	Redis bool
	// Configure, if set, may change the configuration before start.
	Configure func(*server.Config)
	// Logger receives the server's logs. Default: discarded.
	Logger *slog.Logger
	// Node, if set, replaces the node options (by default: cheap password
	// hashing for fast tests).
	Node *server.Options
}

// Server is a Skybridge node running in the test process on a free
// loopback port. It stops when the test ends.
type Server struct {
	Node *server.Node
	URL  string
	// MQTTAddr is the host:port of the node's embedded MQTT broker.
	MQTTAddr string
	Config   server.Config
	client   *http.Client
}

// Start opens and starts a node for t with fast test settings
// (cheap password hashing, short grace) and waits until /healthz answers.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	cfg := server.DefaultConfig()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.MQTTAddr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.AdminEmail, cfg.AdminPassword = AdminEmail, AdminPassword
	cfg.ShutdownGrace = 5 * time.Second
	switch opts.Store {
	case "", "sqlite":
	case "ferretdb":
		f, err := testenv.SharedFerretDB()
		if err != nil {
			t.Fatal(err)
		}
		cfg.MongoURI = f.URI()
		cfg.SecretKey = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	default:
		t.Fatalf("testnode: unknown store %q", opts.Store)
	}
	if opts.Redis {
		r, err := testenv.SharedRedis()
		if err != nil {
			t.Fatal(err)
		}
		cfg.RedisURL = r.URL(0)
	}
	if opts.Configure != nil {
		opts.Configure(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nodeOpts := server.Options{Auth: auth.Config{Password: auth.PasswordParams{Memory: 1024, Time: 1, Threads: 1}}}
	if opts.Node != nil {
		nodeOpts = *opts.Node
	}
	node, err := server.Open(ctx, cfg, opts.Logger, nodeOpts)
	if err != nil {
		t.Fatalf("testnode: open server: %v", err)
	}
	if err := node.Start(); err != nil {
		_ = node.Shutdown(context.Background())
		t.Fatalf("testnode: start server: %v", err)
	}
	s := &Server{Node: node, URL: "http://" + node.Addr(), MQTTAddr: node.MQTTAddr(), Config: cfg, client: &http.Client{Timeout: 30 * time.Second}}
	t.Cleanup(func() { _ = node.Shutdown(context.Background()) })
	if !testenv.WaitFor(ctx, 10*time.Second, func() bool {
		resp, err := s.client.Get(s.URL + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}) {
		t.Fatal("testnode: server not healthy within 10s")
	}
	return s
}

// Do sends a JSON request (body may be nil) with the given headers and
// returns the response and its body.
func (s *Server) Do(t testing.TB, method, path string, body any, headers map[string]string) (*http.Response, []byte) {
	t.Helper()
	resp, out, err := s.TryDo(method, path, body, headers)
	if err != nil {
		t.Fatal(err)
	}
	return resp, out
}

// TryDo is Do returning its failure instead of failing a test, for use
// from goroutines other than the test's.
func (s *Server) TryDo(method, path string, body any, headers map[string]string) (*http.Response, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		return nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	return resp, out, nil
}

// AdminToken logs in as the bootstrap admin and returns the bearer token.
func (s *Server) AdminToken(t testing.TB) string {
	t.Helper()
	resp, body := s.Do(t, "POST", "/admin/api/login", map[string]string{"email": AdminEmail, "password": AdminPassword}, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("admin login: %d %s", resp.StatusCode, body)
	}
	var out struct{ Token string }
	if err := json.Unmarshal(body, &out); err != nil || out.Token == "" {
		t.Fatalf("admin login answer %s: %v", body, err)
	}
	return out.Token
}

// EnvKeys are one environment's keys as shown at app creation.
type EnvKeys struct {
	Name      string `json:"name"`
	AppKey    string `json:"appKey"`
	ServerKey string `json:"serverKey"`
}

// App is an app created through the admin API.
type App struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Environments []EnvKeys `json:"environments"`
}

// Env returns the keys of the named environment.
func (a App) Env(t testing.TB, name string) EnvKeys {
	t.Helper()
	for _, e := range a.Environments {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("app %s has no environment %q", a.ID, name)
	return EnvKeys{}
}

// CreateApp creates an app through the admin API and returns its keys.
func (s *Server) CreateApp(t testing.TB, name string) App {
	t.Helper()
	tok := s.AdminToken(t)
	resp, body := s.Do(t, "POST", "/admin/api/apps", map[string]string{"name": name}, map[string]string{"Authorization": "Bearer " + tok})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create app: %d %s", resp.StatusCode, body)
	}
	var a App
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("create app answer %s: %v", body, err)
	}
	if len(a.Environments) == 0 {
		t.Fatalf("create app: no environments in %s", body)
	}
	return a
}

// String helps failure messages.
func (s *Server) String() string { return fmt.Sprintf("skybridge at %s", s.URL) }
