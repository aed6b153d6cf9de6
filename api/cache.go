package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/skybridgehq/skybridge/cache"
)

// Bounds of a purge request.
const (
	maxPurgeItems  = 1000
	maxPurgeLength = 512
)

// bindCacheAdmin binds the cache's admin routes (purge, stats) and puts
// the cache's counters in /metrics.
func (a *API) bindCacheAdmin(g chi.Router, spec *apiSpec) {
	const base = "/apps/{id}/environments/{env}/cache"
	g.Post(base+"/purge", a.purgeCache)
	g.Get(base+"/stats", a.cacheStats)
	a.reg.MustRegister(cacheCollector{c: a.deps.Cache})
	describeCacheAdmin(spec, "/admin/api"+base)
}

// purgeRequest is the body of POST .../cache/purge. Keys are relative to
// the environment's namespace (e.g. "obj:rates:EUR"), tags too
// ("collection:rates"); All purges the environment's every entry.
type purgeRequest struct {
	Keys []string `json:"keys"`
	Tags []string `json:"tags"`
	All  bool     `json:"all"`
}

type purgeResponse struct {
	Keys int  `json:"keys"`
	Tags int  `json:"tags"`
	All  bool `json:"all"`
}

// errEmptyPurge is a purge that names nothing.
var errEmptyPurge = fmt.Errorf("%w: name keys, tags or all", ErrInvalidInput)

// check validates a purge request, naming the refused field.
func (p purgeRequest) check() error {
	if len(p.Keys) == 0 && len(p.Tags) == 0 && !p.All {
		return onField("keys", errEmptyPurge)
	}
	for field, items := range map[string][]string{"keys": p.Keys, "tags": p.Tags} {
		if len(items) > maxPurgeItems {
			return onField(field, fmt.Errorf("%w: at most %d entries", ErrInvalidInput, maxPurgeItems))
		}
		for i, it := range items {
			if it == "" || len(it) > maxPurgeLength || strings.ContainsAny(it, "\x00\r\n") {
				return onField(fmt.Sprintf("%s[%d]", field, i), fmt.Errorf("%w: must be 1 to %d bytes without NUL or line breaks", ErrInvalidInput, maxPurgeLength))
			}
		}
	}
	return nil
}

// parsePurge decodes and checks a purge body.
func parsePurge(body []byte) (purgeRequest, error) {
	var req purgeRequest
	if err := decodeJSONBytes(body, &req); err != nil {
		return purgeRequest{}, err
	}
	return req, req.check()
}

// purgeCache serves POST /admin/api/apps/{id}/environments/{env}/cache/purge.
func (a *API) purgeCache(w http.ResponseWriter, r *http.Request) {
	var req purgeRequest
	if err := decodeJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	if err := req.check(); err != nil {
		a.fail(w, r, err)
		return
	}
	env, err := a.adminEnv(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ns := cache.NewNamespace(env.AppID, env.Name)
	ctx := r.Context()
	if len(req.Keys) > 0 {
		keys := make([]string, len(req.Keys))
		for i, k := range req.Keys {
			keys[i] = ns.Key(k)
		}
		if err := a.deps.Cache.Delete(ctx, keys...); err != nil {
			a.fail(w, r, fmt.Errorf("purge keys: %w", err))
			return
		}
	}
	tags := make([]string, 0, len(req.Tags)+1)
	for _, t := range req.Tags {
		tags = append(tags, ns.Tag(t))
	}
	if req.All {
		tags = append(tags, ns.All())
	}
	if len(tags) > 0 {
		if err := a.deps.Cache.InvalidateTags(ctx, tags...); err != nil {
			a.fail(w, r, fmt.Errorf("purge tags: %w", err))
			return
		}
	}
	a.respond(w, r, http.StatusOK, purgeResponse{Keys: len(req.Keys), Tags: len(req.Tags), All: req.All})
}

// cacheStatsResponse is the answer of GET .../cache/stats.
type cacheStatsResponse struct {
	Kind      string  `json:"kind"`
	Namespace string  `json:"namespace"`
	Hits      uint64  `json:"hits"`
	Misses    uint64  `json:"misses"`
	Ratio     float64 `json:"ratio"`
	Bytes     uint64  `json:"bytes"`
	Evictions uint64  `json:"evictions"`
	Degraded  bool    `json:"degraded"`
}

// cacheStats serves GET /admin/api/apps/{id}/environments/{env}/cache/stats:
// the node's cache counters (the cache is shared by every environment)
// and the environment's key prefix.
func (a *API) cacheStats(w http.ResponseWriter, r *http.Request) {
	env, err := a.adminEnv(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	st := a.deps.Cache.Stats(ctx)
	a.respond(w, r, http.StatusOK, cacheStatsResponse{
		Kind: a.deps.Cache.Kind(), Namespace: string(cache.NewNamespace(env.AppID, env.Name)),
		Hits: st.Hits, Misses: st.Misses, Ratio: st.Ratio(), Bytes: st.Bytes, Evictions: st.Evictions, Degraded: st.Degraded,
	})
}

// cacheCollector exports the cache's Stats to Prometheus.
type cacheCollector struct{ c cache.Cache }

var (
	cacheHitsDesc      = prometheus.NewDesc("skybridge_cache_hits_total", "Cache lookups that found a value.", nil, nil)
	cacheMissesDesc    = prometheus.NewDesc("skybridge_cache_misses_total", "Cache lookups that found none.", nil, nil)
	cacheRatioDesc     = prometheus.NewDesc("skybridge_cache_hit_ratio", "Hits / (hits + misses) since start.", nil, nil)
	cacheBytesDesc     = prometheus.NewDesc("skybridge_cache_bytes", "Bytes held (in-process entries, or Redis used_memory).", nil, nil)
	cacheEvictionsDesc = prometheus.NewDesc("skybridge_cache_evictions_total", "Entries evicted to stay within the bound.", nil, nil)
	cacheDegradedDesc  = prometheus.NewDesc("skybridge_cache_degraded", "1 while Redis fails and the in-process cache serves.", nil, nil)
)

// Describe sends the metrics' descriptions.
func (cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{cacheHitsDesc, cacheMissesDesc, cacheRatioDesc, cacheBytesDesc, cacheEvictionsDesc, cacheDegradedDesc} {
		ch <- d
	}
}

// Collect reads the cache's Stats under a short timeout.
func (cc cacheCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	st := cc.c.Stats(ctx)
	degraded := 0.0
	if st.Degraded {
		degraded = 1
	}
	ch <- prometheus.MustNewConstMetric(cacheHitsDesc, prometheus.CounterValue, float64(st.Hits))
	ch <- prometheus.MustNewConstMetric(cacheMissesDesc, prometheus.CounterValue, float64(st.Misses))
	ch <- prometheus.MustNewConstMetric(cacheRatioDesc, prometheus.GaugeValue, st.Ratio())
	ch <- prometheus.MustNewConstMetric(cacheBytesDesc, prometheus.GaugeValue, float64(st.Bytes))
	ch <- prometheus.MustNewConstMetric(cacheEvictionsDesc, prometheus.CounterValue, float64(st.Evictions))
	ch <- prometheus.MustNewConstMetric(cacheDegradedDesc, prometheus.GaugeValue, degraded)
}

func describeCacheAdmin(spec *apiSpec, base string) {
	spec.schema("CachePurge", strictObject(map[string]any{
		"keys": arrayOf(str("A key within the environment, e.g. obj:<collection>:<id>.")),
		"tags": arrayOf(str("A tag within the environment, e.g. collection:<name>.")),
		"all":  boolean("Purge every entry of the environment."),
	}))
	spec.schema("CachePurgeResult", object(map[string]any{
		"keys": integer("Keys deleted (asked for)."),
		"tags": integer("Tags invalidated."),
		"all":  boolean("Whether the whole environment was purged."),
	}, "keys", "tags", "all"))
	spec.schema("CacheStats", object(map[string]any{
		"kind":      enumOf("memory", "redis"),
		"namespace": str("The environment's key prefix, <appId>:<env>:."),
		"hits":      integer("Lookups that found a value, since the node started."),
		"misses":    integer("Lookups that found none."),
		"ratio":     map[string]any{"type": "number", "description": "hits / (hits + misses)."},
		"bytes":     integer("Bytes held (in-process entries, or Redis used_memory)."),
		"evictions": integer("Entries evicted to stay within the bound."),
		"degraded":  boolean("Whether Redis fails and the in-process cache serves."),
	}, "kind", "namespace", "hits", "misses", "ratio", "bytes", "evictions", "degraded"))
	admin := []string{schemeBearer}
	spec.route(http.MethodPost, base+"/purge", operation{
		ID: "purgeCache", Tag: "cache-admin", Summary: "Purge an environment's cache entries by key, by tag (collection:<name>), or all.", Security: admin,
		Request:   "CachePurge",
		Responses: []response{{Status: 200, Description: "Purged.", Schema: "CachePurgeResult"}},
		Problems:  []int{400, 401, 403, 404},
	})
	spec.route(http.MethodGet, base+"/stats", operation{
		ID: "getCacheStats", Tag: "cache-admin", Summary: "The node's cache counters: hits, misses, ratio, bytes, evictions.", Security: admin,
		Responses: []response{{Status: 200, Description: "The counters.", Schema: "CacheStats"}},
		Problems:  []int{401, 403, 404},
	})
}
