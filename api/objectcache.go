package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/skybridgehq/skybridge/cache"
	"github.com/skybridgehq/skybridge/objectstore"
	"github.com/skybridgehq/skybridge/store"
)

// CacheHeader says whether a cached answer was a hit, a miss or stale.
const CacheHeader = "X-Skybridge-Cache"

// objectCacheKey is the cache key of object id of col in ns.
func objectCacheKey(ns cache.Namespace, col, id string) string { return ns.Key("obj", col, id) }

// collectionTag is the tag every cached object of col carries: the admin
// purge takes it as "collection:<name>".
func collectionTag(ns cache.Namespace, col string) string { return ns.Tag("collection:" + col) }

// readObject is the object store's Get, through the cache when col opts in
// (its CacheTTL). The cache holds the object as stored, never one
// caller's view: the read rule and _acl are checked for the caller on
// every request, hit or not.
func (a *API) readObject(w http.ResponseWriter, r *http.Request, c objectCall, col, id string) (objectstore.Object, error) {
	ctx := r.Context()
	env, ok := EnvironmentFrom(ctx)
	if a.loader == nil || !ok {
		return a.deps.Objects.Get(ctx, c.env, c.p, col, id)
	}
	ttl, err := a.deps.Objects.CacheTTL(ctx, c.env, col)
	if err != nil || ttl <= 0 {
		// Not cached; Get reports bad names and store errors itself.
		return a.deps.Objects.Get(ctx, c.env, c.p, col, id)
	}
	ns := cache.NewNamespace(env.AppID, env.Name)
	opts := cache.LoadOptions{
		TTL: ttl,
		// Writes delete their object's entry, so an entry past its TTL is
		// only old, not wrong: serve it if the store fails.
		StaleIfError: ttl,
		Tags:         []string{collectionTag(ns, col), ns.All()},
	}
	raw, state, err := a.loader.GetOrLoad(ctx, objectCacheKey(ns, col, id), opts, func(ctx context.Context) ([]byte, error) {
		obj, err := a.deps.Objects.Get(ctx, c.env, objectstore.Principal{Server: true}, col, id)
		if err != nil {
			return nil, err
		}
		return json.Marshal(obj)
	})
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("cached object %s/%s: %w", col, id, err)
	}
	obj := objectstore.Object(store.Normalize(m).(map[string]any))
	readable, err := a.deps.Objects.CanRead(ctx, c.env, c.p, col, obj)
	if err != nil {
		return nil, err
	}
	if obj.Deleted() || !readable {
		return nil, fmt.Errorf("get %s: %w", id, objectstore.ErrNotFound)
	}
	w.Header().Set(CacheHeader, string(state))
	return obj, nil
}

// ObjectCacheInvalidator returns the objectstore.Config.OnChange hook that
// deletes a written object's cache entry. Every write (REST, batch, sync)
// passes through OnChange, so none leaves a cached object behind.
func ObjectCacheInvalidator(c cache.Cache, log *slog.Logger) func(context.Context, objectstore.Change) {
	return func(ctx context.Context, ch objectstore.Change) {
		appID, env, ok := strings.Cut(ch.DB, "_") // store.EnvDBName: app ids hold no '_'
		if !ok {
			return
		}
		ns := cache.NewNamespace(appID, env)
		if err := c.Delete(context.WithoutCancel(ctx), objectCacheKey(ns, ch.Collection, ch.Object.ID())); err != nil {
			log.Warn("cache: invalidate a written object", "collection", ch.Collection, "error", err.Error())
		}
	}
}
