package server_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/skybridgehq/skybridge/internal/server"
	"github.com/skybridgehq/skybridge/internal/testenv"
	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
)

// cachedApp is an app with two cached collections in dev: rates (public)
// and secrets (read by the server key only).
type cachedApp struct {
	s              *testnode.Server
	app            testnode.App
	admin, key, sk map[string]string
}

func newCachedApp(t *testing.T, s *testnode.Server) cachedApp {
	t.Helper()
	c := cachedApp{s: s, app: s.CreateApp(t, "cached")}
	c.admin = map[string]string{"Authorization": "Bearer " + s.AdminToken(t)}
	dev := c.app.Env(t, "dev")
	c.key = map[string]string{"X-Skybridge-Key": dev.AppKey}
	c.sk = map[string]string{"X-Skybridge-Key": dev.AppKey, "X-Skybridge-Server-Key": dev.ServerKey}
	for col, read := range map[string]string{"rates": "public", "secrets": "server"} {
		rules := map[string]string{"read": read, "create": "public", "update": "public", "delete": "public"}
		resp, body := s.Do(t, "PUT", c.envPath("/collections/"+col), map[string]any{"rules": rules, "cache": map[string]string{"ttl": "300s"}}, c.admin)
		if resp.StatusCode != 200 {
			t.Fatalf("settings of %s: %d %s", col, resp.StatusCode, body)
		}
	}
	for _, col := range []string{"rates", "secrets"} {
		resp, body := s.Do(t, "POST", "/v1/collections/"+col+"/objects", map[string]any{"_id": "EUR", "rate": 1.25}, c.sk)
		if resp.StatusCode != 201 {
			t.Fatalf("create in %s: %d %s", col, resp.StatusCode, body)
		}
	}
	return c
}

func (c cachedApp) envPath(p string) string {
	return "/admin/api/apps/" + c.app.ID + "/environments/dev" + p
}

// get reads object EUR of col and returns the status, the cache header and
// the rate.
func (c cachedApp) get(t *testing.T, col string, headers map[string]string) (int, string, float64) {
	t.Helper()
	resp, body := c.s.Do(t, "GET", "/v1/collections/"+col+"/objects/EUR", nil, headers)
	var obj struct{ Rate float64 }
	_ = json.Unmarshal(body, &obj)
	return resp.StatusCode, resp.Header.Get("X-Skybridge-Cache"), obj.Rate
}

func (c cachedApp) purge(t *testing.T, body any) (int, []byte) {
	t.Helper()
	resp, out := c.s.Do(t, "POST", c.envPath("/cache/purge"), body, c.admin)
	return resp.StatusCode, out
}

func TestObjectCacheEndToEnd(t *testing.T) {
	for _, tc := range []struct {
		name    string
		redis   bool
		nearTTL time.Duration
	}{{"cache=memory", false, 0}, {"cache=redis", true, 0}, {"cache=two-level", true, time.Second}} {
		t.Run(tc.name, func(t *testing.T) {
			s := testnode.Start(t, testnode.Options{Redis: tc.redis, Configure: func(cfg *server.Config) { cfg.CacheNearTTL = tc.nearTTL }})
			c := newCachedApp(t, s)
			want := func(step, col string, h map[string]string, status int, state string, rate float64) {
				t.Helper()
				gotStatus, gotState, gotRate := c.get(t, col, h)
				if gotStatus != status || gotState != state || (status == 200 && gotRate != rate) {
					t.Fatalf("%s: got %d %q rate %v, want %d %q rate %v", step, gotStatus, gotState, gotRate, status, state, rate)
				}
			}
			want("first read", "rates", c.key, 200, "miss", 1.25)
			want("second read", "rates", c.key, 200, "hit", 1.25)

			resp, body := s.Do(t, "PATCH", "/v1/collections/rates/objects/EUR", map[string]any{"rate": 1.5}, c.key)
			if resp.StatusCode != 200 {
				t.Fatalf("patch: %d %s", resp.StatusCode, body)
			}
			want("after a write", "rates", c.key, 200, "miss", 1.5)
			want("cached again", "rates", c.key, 200, "hit", 1.5)

			resp, body = s.Do(t, "POST", "/v1/batch", map[string]any{"operations": []any{
				map[string]any{"method": "PATCH", "path": "/v1/collections/rates/objects/EUR", "body": map[string]any{"rate": 2.0}},
			}}, c.key)
			if resp.StatusCode != 200 {
				t.Fatalf("batch: %d %s", resp.StatusCode, body)
			}
			want("after a batch write", "rates", c.key, 200, "miss", 2.0)

			for _, p := range []map[string]any{
				{"tags": []string{"collection:rates"}},
				{"keys": []string{"obj:rates:EUR"}},
				{"all": true},
			} {
				want("before purge", "rates", c.key, 200, "hit", 2.0)
				if st, out := c.purge(t, p); st != 200 {
					t.Fatalf("purge %v: %d %s", p, st, out)
				}
				want("after purge", "rates", c.key, 200, "miss", 2.0)
			}

			// The cache holds the stored object, not one caller's view: an
			// object the server key read stays refused to the app key alone.
			want("server key reads", "secrets", c.sk, 200, "miss", 1.25)
			want("server key hits", "secrets", c.sk, 200, "hit", 1.25)
			want("app key alone", "secrets", c.key, 404, "", 0)

			// Another environment of the app has its own namespace.
			prod := map[string]string{"X-Skybridge-Key": c.app.Env(t, "prod").AppKey}
			want("prod reads nothing of dev", "rates", prod, 404, "", 0)

			resp, body = s.Do(t, "GET", c.envPath("/cache/stats"), nil, c.admin)
			var stats struct {
				Kind      string
				Namespace string
				Hits      uint64
			}
			if resp.StatusCode != 200 || json.Unmarshal(body, &stats) != nil || stats.Hits == 0 || stats.Namespace != c.app.ID+":dev:" {
				t.Fatalf("stats: %d %s", resp.StatusCode, body)
			}
			resp, body = s.Do(t, "GET", "/metrics", nil, nil)
			if resp.StatusCode != 200 || !strings.Contains(string(body), "skybridge_cache_hits_total") {
				t.Fatalf("metrics lack the cache: %d", resp.StatusCode)
			}
		})
	}
}

func TestCachePurgeRefusesBadInput(t *testing.T) {
	s := testnode.Start(t, testnode.Options{})
	c := newCachedApp(t, s)
	tests := []struct {
		body  any
		field string
	}{
		{map[string]any{}, "keys"},
		{map[string]any{"keys": []string{""}}, "keys[0]"},
		{map[string]any{"tags": []string{"ok", strings.Repeat("x", 600)}}, "tags[1]"},
		{map[string]any{"all": "yes"}, "all"},
		{map[string]any{"every": true}, "every"},
	}
	for _, tc := range tests {
		st, out := c.purge(t, tc.body)
		var p struct {
			Status int
			Errors []struct{ Field string }
		}
		if st != 400 || json.Unmarshal(out, &p) != nil || len(p.Errors) == 0 || p.Errors[0].Field != tc.field {
			t.Errorf("purge %v: %d %s; want 400 naming %s", tc.body, st, out, tc.field)
		}
	}
}

// TestCacheSurvivesRedisDeath kills redis-server under load: no answer is
// a 5xx, /readyz says degraded (200); redis-server restarted on its port,
// the node is back on Redis within seconds.
func TestCacheSurvivesRedisDeath(t *testing.T) {
	r, err := testenv.StartRedis()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Stop() })
	s := testnode.Start(t, testnode.Options{Configure: func(cfg *server.Config) { cfg.RedisURL = r.URL(0) }})
	c := newCachedApp(t, s)
	ctx := t.Context()

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
		stop     = make(chan struct{})
	)
	client := &http.Client{Timeout: 5 * time.Second}
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/v1/collections/rates/objects/EUR", nil)
				req.Header.Set("X-Skybridge-Key", c.key["X-Skybridge-Key"])
				resp, err := client.Do(req)
				code := 0
				if err == nil {
					code = resp.StatusCode
					resp.Body.Close()
				}
				mu.Lock()
				statuses[code]++
				mu.Unlock()
			}
		})
	}
	readyz := func() string {
		resp, body := s.Do(t, "GET", "/readyz", nil, nil)
		var out struct{ Status string }
		_ = json.Unmarshal(body, &out)
		if resp.StatusCode != 200 {
			return "http " + strconv.Itoa(resp.StatusCode)
		}
		return out.Status
	}
	if got := readyz(); got != "ok" {
		t.Fatalf("readyz before: %s", got)
	}
	port, _ := strconv.Atoi(r.Addr()[strings.LastIndexByte(r.Addr(), ':')+1:])
	r.Stop()
	if !testenv.WaitFor(ctx, 10*time.Second, func() bool { return readyz() == "degraded" }) {
		t.Fatalf("readyz with Redis dead: %s", readyz())
	}
	r2, err := testenv.StartRedisOn(port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r2.Stop() })
	rc := redis.NewClient(&redis.Options{Addr: r2.Addr()})
	defer rc.Close()
	if !testenv.WaitFor(ctx, 15*time.Second, func() bool {
		if readyz() != "ok" {
			return false
		}
		n, _ := rc.DBSize(ctx).Result()
		return n > 0 // the GETs store their object in Redis again
	}) {
		t.Fatalf("not back on Redis: readyz %s", readyz())
	}
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	for code, n := range statuses {
		if code != 200 {
			t.Fatalf("%d answers were %d (statuses %v)", n, code, statuses)
		}
	}
	if statuses[200] == 0 {
		t.Fatal("no request ran")
	}
}
