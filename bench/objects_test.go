package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/internal/server"
	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
	"github.com/skybridgehq/skybridge/objectstore"
	"github.com/skybridgehq/skybridge/store"
)

// objectsPreload is how many objects the read benchmarks find, as the
// peers' benchmarks (../shared/bench/peers) preload.
const objectsPreload = 1000

// BenchmarkObjects: the object store over HTTP on the SQLite default, the
// server in-process, 32 concurrent clients, the peers' data model
// (collection items of {title, n} with public rules, no index on n):
// create, get by id, and a query (n > 5, sorted by -n, 20 results).
// Reports req/s and p99.
func BenchmarkObjects(b *testing.B) {
	node := &server.Options{Auth: auth.Config{Password: auth.PasswordParams{Memory: 1024, Time: 1, Threads: 1}}}
	s := testnode.Start(b, testnode.Options{Node: node, Configure: noRateLimits})
	app := s.CreateApp(b, "bench")
	key := app.Env(b, "dev").AppKey
	ctx := context.Background()
	env := objectstore.Env{DB: store.EnvDBName(app.ID, "dev"), AllowClientCreate: true}
	public := "public"
	if _, err := s.Node.Objects.PutSettings(ctx, env, "items", objectstore.SettingsPatch{
		Rules: &objectstore.RulesPatch{Read: &public, Create: &public, Update: &public, Delete: &public},
	}); err != nil {
		b.Fatal(err)
	}
	var ids []string
	for i := range objectsPreload {
		o, err := s.Node.Objects.Create(ctx, env, objectstore.Principal{Server: true}, "items", map[string]any{"title": fmt.Sprintf("pre %d", i), "n": i % 10})
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, o.ID())
	}
	base := s.URL + "/v1/collections/items/objects"
	list := base + "?filter=" + url.QueryEscape(`{"n":{"$gt":5}}`) + "&sort=-n&limit=20"
	ops := []struct {
		name string
		want int
		req  func() (*http.Request, error)
	}{
		{"get", 200, func() (*http.Request, error) { return http.NewRequest("GET", base+"/"+ids[rand.IntN(len(ids))], nil) }},
		{"list", 200, func() (*http.Request, error) { return http.NewRequest("GET", list, nil) }},
		{"create", 201, func() (*http.Request, error) {
			r, err := http.NewRequest("POST", base, bytes.NewReader([]byte(`{"title":"bench","n":7}`)))
			if err == nil {
				r.Header.Set("Content-Type", "application/json")
			}
			return r, err
		}},
	}
	for _, op := range ops {
		b.Run("op="+op.name, func(b *testing.B) {
			measured(b, func() (*http.Request, error) {
				r, err := op.req()
				if err == nil {
					r.Header.Set("X-Skybridge-Key", key)
				}
				return r, err
			}, op.want)
		})
	}
}

// measured runs b.N requests from 32 clients and reports req/s and the
// 99th percentile latency.
func measured(b *testing.B, req func() (*http.Request, error), want int) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var next atomic.Int64
	lat := make([][]time.Duration, 32)
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for c := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				r, err := req()
				if err != nil {
					b.Error(err)
					return
				}
				t0 := time.Now()
				resp, err := client.Do(r)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[c] = append(lat[c], time.Since(t0))
				if resp.StatusCode != want {
					b.Errorf("status %d, want %d", resp.StatusCode, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
}
