package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/internal/server"
	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
	"github.com/skybridgehq/skybridge/objectstore"
	"github.com/skybridgehq/skybridge/store"
	"github.com/skybridgehq/skybridge/sync/client"
)

// syncPreload is how many small objects the pull benchmark pulls.
const syncPreload = 10000

// BenchmarkSync: offline sync over HTTP on the SQLite default with the Go
// client (sync/client, its local store a SQLite file):
// op=pull10k pulls 10,000 small objects from scratch (pages of 1,000) and
// reports objects/s; op=push1k pushes 1,000 new objects (batches of 200)
// and reports changes/s. Both figures are printed as ops/s for the
// summary of scripts/bench.sh.
func BenchmarkSync(b *testing.B) {
	node := &server.Options{Auth: auth.Config{Password: auth.PasswordParams{Memory: 1024, Time: 1, Threads: 1}}}
	s := testnode.Start(b, testnode.Options{Node: node, Configure: noRateLimits})
	app := s.CreateApp(b, "bench")
	keys := app.Env(b, "dev")
	ctx := context.Background()
	env := objectstore.Env{DB: store.EnvDBName(app.ID, "dev"), AllowClientCreate: true}
	for i := range syncPreload {
		if _, err := s.Node.Objects.Create(ctx, env, objectstore.Principal{Server: true}, "items", map[string]any{"title": fmt.Sprintf("item %d", i), "n": i % 10}); err != nil {
			b.Fatal(err)
		}
	}
	open := func(b *testing.B, i int) *client.Client {
		c, err := client.Open(ctx, filepath.Join(b.TempDir(), fmt.Sprintf("c%d.db", i)),
			client.Config{URL: s.URL, AppKey: keys.AppKey, ServerKey: keys.ServerKey, PullLimit: 1000})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = c.Close() })
		return c
	}
	b.Run("op=pull10k", func(b *testing.B) {
		b.ReportAllocs()
		var took time.Duration
		for i := range b.N {
			c := open(b, i)
			start := time.Now()
			if err := c.Pull(ctx, "items"); err != nil {
				b.Fatal(err)
			}
			took += time.Since(start)
			if all, _ := c.All(ctx, "items"); len(all) != syncPreload {
				b.Fatalf("pulled %d objects", len(all))
			}
		}
		b.ReportMetric(float64(b.N*syncPreload)/took.Seconds(), "ops/s")
	})
	b.Run("op=push1k", func(b *testing.B) {
		b.ReportAllocs()
		var took time.Duration
		for i := range b.N {
			c := open(b, 1000+i)
			for j := range 1000 {
				if err := c.Put(ctx, "pushed", fmt.Sprintf("r%d-%d", i, j), map[string]any{"title": "x", "n": j}); err != nil {
					b.Fatal(err)
				}
			}
			start := time.Now()
			if _, err := c.Push(ctx, "pushed"); err != nil {
				b.Fatal(err)
			}
			took += time.Since(start)
			if n, _ := c.Pending(ctx, "pushed"); n != 0 {
				b.Fatalf("%d changes not acknowledged", n)
			}
		}
		b.ReportMetric(float64(b.N*1000)/took.Seconds(), "ops/s")
	})
}
