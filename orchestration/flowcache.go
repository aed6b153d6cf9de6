package orchestration

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/skybridgehq/skybridge/cache"
)

// Cache scopes.
const (
	// ScopePublic: one cached answer for every caller of the same key.
	ScopePublic = "public"
	// ScopeUser: one cached answer per user (the key holds the user id).
	ScopeUser = "user"
)

// maxCacheTTL bounds a flow cache's ttl and stale windows.
const maxCacheTTL = 7 * 24 * time.Hour

// cacheDef is a flow's `cache`.
type cacheDef struct {
	// key is the author's key template; nil keys by the input.
	key          value
	tags         []value
	ttl          time.Duration
	stale        time.Duration // stale-while-revalidate
	staleIfError time.Duration
	perUser      bool
}

// readCache reads a flow's `cache` mapping. The scope defaults to user
// for `auth: user` flows and public otherwise.
func readCache(c *compiler, n *yaml.Node, sc *scope, auth string) *cacheDef {
	f, ok := c.mapping(n, "cache", "key", "ttl", "tags", "stale", "staleIfError", "scope")
	if !ok {
		return nil
	}
	cd := &cacheDef{perUser: auth == AuthUser}
	if !f.has("ttl") {
		c.fail(n, "cache.ttl", "missing required field ttl")
	} else {
		cd.ttl, _ = c.duration(f.get("ttl"), "cache.ttl", maxCacheTTL)
	}
	if kn := f.get("key"); kn != nil {
		if _, ok := c.str(kn, "cache.key"); ok {
			cd.key = c.value(kn, "cache.key", sc)
		}
	}
	if tn := f.get("tags"); tn != nil {
		if items, ok := c.seq(tn, "cache.tags"); ok {
			for i, item := range items {
				if _, ok := c.str(item, index("cache.tags", i)); ok {
					cd.tags = append(cd.tags, c.value(item, index("cache.tags", i), sc))
				}
			}
		}
	}
	if sn := f.get("stale"); sn != nil {
		cd.stale, _ = c.duration(sn, "cache.stale", maxCacheTTL)
	}
	if sn := f.get("staleIfError"); sn != nil {
		cd.staleIfError, _ = c.duration(sn, "cache.staleIfError", maxCacheTTL)
	}
	if sn := f.get("scope"); sn != nil {
		if s, ok := c.oneOf(sn, "cache.scope", ScopePublic, ScopeUser); ok {
			cd.perUser = s == ScopeUser
		}
	}
	return cd
}

// anonymousKeyPart stands for "no user" in user-scoped keys.
const anonymousKeyPart = "-"

// cacheKey returns the flow's cache key and options for env: the key is
// namespaced by environment and holds the flow, the deployed version and
// (scope user) the user id, so no version or user reads another's answer.
// Every entry is tagged with the namespace's All tag and "flow:<name>".
func (f *Flow) cacheKey(env map[string]any, user *User) (string, cache.LoadOptions, error) {
	cd := f.def.cache
	ns := f.plan.env.Namespace
	var key string
	if cd.key != nil {
		k, err := cd.key.eval(env)
		if err != nil {
			return "", cache.LoadOptions{}, fmt.Errorf("cache key: %w", err)
		}
		key = textOf(k)
	} else {
		raw, err := json.Marshal(env[nameInput])
		if err != nil {
			return "", cache.LoadOptions{}, fmt.Errorf("cache key: %w", err)
		}
		key = string(raw)
	}
	who := ""
	if cd.perUser {
		who = anonymousKeyPart
		if user != nil && user.ID != "" {
			who = "u=" + user.ID
		}
	}
	opts := cache.LoadOptions{TTL: cd.ttl, StaleWhileRevalidate: cd.stale, StaleIfError: cd.staleIfError}
	opts.Tags = f.baseTags
	if len(cd.tags) > 0 {
		opts.Tags = append(make([]string, 0, len(cd.tags)+len(f.baseTags)), f.baseTags...)
	}
	for _, t := range cd.tags {
		v, err := t.eval(env)
		if err != nil {
			return "", cache.LoadOptions{}, fmt.Errorf("cache tag: %w", err)
		}
		opts.Tags = append(opts.Tags, ns.Tag(textOf(v)))
	}
	return f.keyPrefix + who + ":" + key, opts, nil
}

// cacheLoad runs a cached flow on a miss. The load builds its own run, so
// a background stale-while-revalidate refresh shares nothing with the
// request that triggered it; got is the run that loaded for the request
// itself, if one did.
type cacheLoad struct {
	f     *Flow
	call  Call
	input map[string]any
	depth int

	mu  sync.Mutex
	got *run
}

func (ld *cacheLoad) load(ctx context.Context) ([]byte, error) {
	f := ld.f
	r := f.plan.newRun(f.def, &ld.call, ld.input, ld.depth)
	v, err := f.plan.execute(ctx, r)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("orchestration: flow %s: encode output: %w", f.def.name, err)
	}
	ld.mu.Lock()
	r.output, ld.got = v, r
	ld.mu.Unlock()
	return b, nil
}

// keyEnvs are the expression environments cache keys and tags are
// computed in, reused: a key is text, so nothing keeps the environment
// once the key is made.
var keyEnvs = sync.Pool{New: func() any { return make(map[string]any, 3) }}

// runCached answers from the environment's cache, running the flow on a
// miss and storing its output as JSON. The load function builds its own
// run, so a background stale-while-revalidate refresh shares nothing with
// the request that triggered it.
func (f *Flow) runCached(ctx context.Context, call *Call, input map[string]any, depth int) (*Result, error) {
	keyEnv := keyEnvs.Get().(map[string]any)
	keyEnv[nameInput], keyEnv[nameEnv] = input, f.plan.vars
	if f.def.usesUser {
		keyEnv[nameUser] = userValue(call.User)
	}
	key, opts, err := f.cacheKey(keyEnv, call.User)
	clear(keyEnv)
	keyEnvs.Put(keyEnv)
	if err != nil {
		return nil, f.plan.flowFailure(f.def, nil, &stepError{step: "cache", err: err})
	}
	ld := &cacheLoad{f: f, call: *call, input: input, depth: depth}
	raw, state, err := f.plan.env.Cache.GetOrLoad(ctx, key, opts, ld.load)
	if err != nil {
		return nil, err
	}
	res := &Result{Cache: state, JSON: raw}
	ld.mu.Lock()
	mine := ld.got
	ld.mu.Unlock()
	if mine != nil && state == cache.Miss {
		res.Output = mine.output
		res.Steps = mine.traces
		return res, nil
	}
	// Not decoded: a hit costs no JSON decoding, and RawMessage encodes
	// as itself for the HTTP layer.
	res.Output = json.RawMessage(raw)
	return res, nil
}
