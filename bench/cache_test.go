package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/internal/server"
	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
	"github.com/skybridgehq/skybridge/objectstore"
	"github.com/skybridgehq/skybridge/store"
)

// BenchmarkObjectCache: GET by id over HTTP (32 clients, SQLite, the
// in-process cache) on a collection without and with "cache": {"ttl"};
// scripts/bench.sh prints cached / uncached.
func BenchmarkObjectCache(b *testing.B) {
	node := &server.Options{Auth: auth.Config{Password: auth.PasswordParams{Memory: 1024, Time: 1, Threads: 1}}}
	s := testnode.Start(b, testnode.Options{Node: node, Configure: noRateLimits})
	app := s.CreateApp(b, "bench")
	key := app.Env(b, "dev").AppKey
	ctx := context.Background()
	env := objectstore.Env{DB: store.EnvDBName(app.ID, "dev"), AllowClientCreate: true}
	public := "public"
	ids := map[string][]string{}
	for col, ttl := range map[string]time.Duration{"plain": 0, "cached": time.Hour} {
		if _, err := s.Node.Objects.PutSettings(ctx, env, col, objectstore.SettingsPatch{
			Rules:    &objectstore.RulesPatch{Read: &public, Create: &public, Update: &public, Delete: &public},
			CacheTTL: &ttl,
		}); err != nil {
			b.Fatal(err)
		}
		for i := range objectsPreload {
			o, err := s.Node.Objects.Create(ctx, env, objectstore.Principal{Server: true}, col, map[string]any{"title": fmt.Sprintf("pre %d", i), "n": i % 10})
			if err != nil {
				b.Fatal(err)
			}
			ids[col] = append(ids[col], o.ID())
		}
	}
	for _, col := range []string{"plain", "cached"} {
		name := "cache=off"
		if col == "cached" {
			name = "cache=on"
		}
		b.Run(name, func(b *testing.B) {
			base := s.URL + "/v1/collections/" + col + "/objects/"
			measured(b, func() (*http.Request, error) {
				r, err := http.NewRequest("GET", base+ids[col][rand.IntN(len(ids[col]))], nil)
				if err == nil {
					r.Header.Set("X-Skybridge-Key", key)
				}
				return r, err
			}, 200)
		})
	}
}
