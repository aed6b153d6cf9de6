package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/internal/server"
	"github.com/skybridgehq/skybridge/internal/testenv"
	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
	"github.com/skybridgehq/skybridge/ratelimit"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopShared()
	os.Exit(code)
}

// signup creates a user in the app's dev environment and returns the
// dev app key and the user's access token.
func signup(b *testing.B, s *testnode.Server, email string) (key, token string) {
	b.Helper()
	app := s.CreateApp(b, "bench")
	key = app.Env(b, "dev").AppKey
	resp, body := s.Do(b, "POST", "/v1/auth/signup", map[string]any{"email": email, "password": "bench-pass-phrase-1"}, map[string]string{"X-Skybridge-Key": key})
	if resp.StatusCode != http.StatusCreated {
		b.Fatalf("signup %d %s", resp.StatusCode, body)
	}
	var out struct{ AccessToken string }
	if err := json.Unmarshal(body, &out); err != nil {
		b.Fatal(err)
	}
	return key, out.AccessToken
}

// noRateLimits turns the /v1 rate limits off for a benchmark run: 32
// clients from one address would otherwise meet the per-client limit
// (600/min by default) at once, and the run would measure 429s.
func noRateLimits(c *server.Config) {
	c.RateLimitEnv, c.RateLimitClient = ratelimit.Off, ratelimit.Off
}

// parallel runs req from 32 concurrent clients and reports ops/s.
func parallel(b *testing.B, req func() (*http.Request, error), want int) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ReportAllocs()
	b.SetParallelism(16) // × GOMAXPROCS(2) = 32 clients
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r, err := req()
			if err != nil {
				b.Error(err)
				return
			}
			resp, err := client.Do(r)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != want {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
}

// BenchmarkAuthedGet: GET /v1/auth/me with a user's access token (key
// check, token check, session and user read), with the audit trail on and
// off, on the SQLite default.
func BenchmarkAuthedGet(b *testing.B) {
	for _, on := range []bool{true, false} {
		b.Run(fmt.Sprintf("audit=%v", on), func(b *testing.B) {
			node := &server.Options{Auth: auth.Config{Password: auth.PasswordParams{Memory: 1024, Time: 1, Threads: 1}}, DisableAudit: !on}
			s := testnode.Start(b, testnode.Options{Node: node, Configure: noRateLimits})
			key, tok := signup(b, s, "reader@example.com")
			parallel(b, func() (*http.Request, error) {
				r, err := http.NewRequest("GET", s.URL+"/v1/auth/me", nil)
				if err == nil {
					r.Header.Set("X-Skybridge-Key", key)
					r.Header.Set("Authorization", "Bearer "+tok)
				}
				return r, err
			}, http.StatusOK)
		})
	}
}

// BenchmarkLogin: POST /v1/auth/login with the production argon2id cost
// (auth.DefaultPasswordParams: 32 MiB, 2 passes, 2 lanes). Failed logins
// are limited per account and address; these all succeed. The general
// /v1 rate limits are turned off for the run (noRateLimits).
func BenchmarkLogin(b *testing.B) {
	s := testnode.Start(b, testnode.Options{Node: &server.Options{}, Configure: noRateLimits})
	key, _ := signup(b, s, "login@example.com")
	body, _ := json.Marshal(map[string]string{"email": "login@example.com", "password": "bench-pass-phrase-1"})
	parallel(b, func() (*http.Request, error) {
		r, err := http.NewRequest("POST", s.URL+"/v1/auth/login", bytes.NewReader(body))
		if err == nil {
			r.Header.Set("X-Skybridge-Key", key)
			r.Header.Set("Content-Type", "application/json")
		}
		return r, err
	}, http.StatusOK)
}
