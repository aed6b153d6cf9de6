package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"golang.org/x/sync/singleflight"

	"github.com/skybridgehq/skybridge/ratelimit"
	"github.com/skybridgehq/skybridge/store"
)

// rateLimitsCollection holds the per-environment overrides in the system
// database, one document per environment, its _id the environment's
// database name.
const rateLimitsCollection = "rateLimits"

// ratePolicyTTL is how long a node trusts the overrides it has read: a
// change made on another node bites within it. The node that makes the
// change sees it at once.
const ratePolicyTTL = 10 * time.Second

// maxCachedPolicies bounds the override cache; past it the cache starts
// over.
const maxCachedPolicies = 10_000

// envRatePolicies are the policies that apply to one environment.
type envRatePolicies struct {
	env, client ratelimit.Policy
}

// rateOverrides are an environment's overrides; nil follows the server
// default (Config.RateLimitEnv, Config.RateLimitClient).
type rateOverrides struct {
	env, client *ratelimit.Policy
}

type cachedOverrides struct {
	o       rateOverrides
	expires time.Time
}

// ratePolicies reads and writes the per-environment overrides through a
// short-lived cache, so that the middleware rarely touches the store.
type ratePolicies struct {
	store    store.Provider
	defaults envRatePolicies
	now      func() time.Time

	loads singleflight.Group // one store read per environment at a time

	// cache maps an environment's database to its *cachedOverrides: read
	// on every keyed request from every core, so without a lock.
	cache sync.Map

	mu     sync.Mutex // orders writes to cache, cached and gen
	cached int        // entries in cache
	gen    uint64     // +1 per set: a read that started before a write must not cache
}

func newRatePolicies(p store.Provider, cfg Config, now func() time.Time) *ratePolicies {
	return &ratePolicies{
		store:    p,
		defaults: envRatePolicies{env: cfg.RateLimitEnv, client: cfg.RateLimitClient},
		now:      now,
	}
}

// get returns the policies of the environment with database envDB. When
// the overrides cannot be read it returns the defaults and the error.
func (p *ratePolicies) get(ctx context.Context, envDB string) (envRatePolicies, error) {
	o, err := p.overrides(ctx, envDB)
	return p.apply(o), err
}

// apply puts overrides over the defaults.
func (p *ratePolicies) apply(o rateOverrides) envRatePolicies {
	out := p.defaults
	if o.env != nil {
		out.env = *o.env
	}
	if o.client != nil {
		out.client = *o.client
	}
	return out
}

func (p *ratePolicies) overrides(ctx context.Context, envDB string) (rateOverrides, error) {
	now := p.now()
	if v, ok := p.cache.Load(envDB); ok {
		if c := v.(*cachedOverrides); now.Before(c.expires) {
			return c.o, nil
		}
	}
	v, err, _ := p.loads.Do(envDB, func() (any, error) { return p.load(ctx, envDB) })
	if err != nil {
		return rateOverrides{}, err
	}
	return v.(rateOverrides), nil
}

// load reads the overrides of envDB from the store and caches them.
func (p *ratePolicies) load(ctx context.Context, envDB string) (rateOverrides, error) {
	p.mu.Lock()
	gen := p.gen
	p.mu.Unlock()
	coll, err := p.collection(ctx)
	if err != nil {
		return rateOverrides{}, err
	}
	var o rateOverrides
	d, err := coll.Get(ctx, envDB)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return rateOverrides{}, fmt.Errorf("read the rate limits of %s: %w", envDB, err)
	default:
		if o.env, err = policyFromDoc(d[scopeEnvironment]); err == nil {
			o.client, err = policyFromDoc(d[scopeClient])
		}
		if err != nil {
			return rateOverrides{}, fmt.Errorf("rate limits of %s: %w", envDB, err)
		}
	}
	p.mu.Lock()
	if p.gen == gen {
		p.remember(envDB, o)
	}
	p.mu.Unlock()
	return o, nil
}

// remember caches the overrides of envDB; p.mu is held.
func (p *ratePolicies) remember(envDB string, o rateOverrides) {
	if p.cached >= maxCachedPolicies {
		p.cache.Clear()
		p.cached = 0
	}
	if _, had := p.cache.Swap(envDB, &cachedOverrides{o: o, expires: p.now().Add(ratePolicyTTL)}); !had {
		p.cached++
	}
}

// set stores the overrides of envDB (none at all deletes the document).
func (p *ratePolicies) set(ctx context.Context, envDB string, o rateOverrides) error {
	coll, err := p.collection(ctx)
	if err != nil {
		return err
	}
	if o.env == nil && o.client == nil {
		if err := coll.Delete(ctx, envDB, 0); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("reset the rate limits of %s: %w", envDB, err)
		}
	} else {
		d := store.Doc{store.FieldID: envDB}
		if o.env != nil {
			d[scopeEnvironment] = policyDoc(*o.env)
		}
		if o.client != nil {
			d[scopeClient] = policyDoc(*o.client)
		}
		_, err := coll.Replace(ctx, envDB, 0, d)
		if errors.Is(err, store.ErrNotFound) {
			_, err = coll.Insert(ctx, d)
			if errors.Is(err, store.ErrDuplicate) { // a concurrent first write
				_, err = coll.Replace(ctx, envDB, 0, d)
			}
		}
		if err != nil {
			return fmt.Errorf("store the rate limits of %s: %w", envDB, err)
		}
	}
	p.mu.Lock()
	p.gen++
	p.remember(envDB, o)
	p.mu.Unlock()
	return nil
}

func (p *ratePolicies) collection(ctx context.Context) (store.Collection, error) {
	sys, err := p.store.DB(ctx, store.SystemDB)
	if err != nil {
		return nil, fmt.Errorf("open the system database: %w", err)
	}
	return sys.Collection(rateLimitsCollection), nil
}

// policyDoc is how a policy is stored.
func policyDoc(p ratelimit.Policy) map[string]any {
	if p.Disabled() {
		return map[string]any{"off": true}
	}
	d := map[string]any{"limit": p.Limit, "period": ratelimit.FormatPeriod(p.Period)}
	if p.Burst > 0 {
		d["burst"] = p.Burst
	}
	return d
}

// policyFromDoc reads a stored policy; an absent one is nil.
func policyFromDoc(v any) (*ratelimit.Policy, error) {
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("a stored policy is not an object")
	}
	if off, _ := m["off"].(bool); off {
		return &ratelimit.Off, nil
	}
	period, _ := m["period"].(string)
	d, err := ratelimit.ParsePeriod(period)
	if err != nil {
		return nil, err
	}
	p := ratelimit.Policy{Limit: docInt(m["limit"]), Period: d, Burst: docInt(m["burst"])}
	if err := p.Validate(); err != nil || p.Limit < 1 {
		return nil, fmt.Errorf("stored policy %v: %w", m, ratelimit.ErrInvalidPolicy)
	}
	return &p, nil
}

func docInt(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case float64:
		return int64(n)
	}
	return 0
}

// bindRateLimitAdmin binds the admin routes of per-environment rate
// limits: GET and PUT /admin/api/apps/{id}/environments/{env}/rate-limits.
func (a *API) bindRateLimitAdmin(g chi.Router, spec *apiSpec) {
	const path = "/apps/{id}/environments/{env}/rate-limits"
	g.Get(path, a.getRateLimits)
	g.Put(path, a.putRateLimits)
	describeRateLimits(spec, "/admin/api"+path)
}

func (a *API) getRateLimits(w http.ResponseWriter, r *http.Request) {
	env, err := a.auditedAdminEnv(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	o, err := a.rates.policies.overrides(r.Context(), env.DB)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.respond(w, r, http.StatusOK, a.rateLimitsJSON(o))
}

func (a *API) putRateLimits(w http.ResponseWriter, r *http.Request) {
	var req rateLimitsJSON
	if err := decodeJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	var o rateOverrides
	var errEnv, errClient error
	o.env, errEnv = req.Environment.policy(scopeEnvironment)
	o.client, errClient = req.Client.policy(scopeClient)
	if err := errors.Join(errEnv, errClient); err != nil {
		a.fail(w, r, err)
		return
	}
	env, err := a.auditedAdminEnv(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.rates.policies.set(r.Context(), env.DB, o); err != nil {
		a.fail(w, r, err)
		return
	}
	a.respond(w, r, http.StatusOK, a.rateLimitsJSON(o))
}
