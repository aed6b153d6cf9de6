package api

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skybridgehq/skybridge/ratelimit"
)

// RateLimiter decides whether a key may make one more request under a
// policy, counting it when allowed. ratelimit.Memory (the default, one
// node) and ratelimit.Redis (shared by every node) implement it.
type RateLimiter interface {
	Allow(ctx context.Context, key string, p ratelimit.Policy) (ratelimit.Result, error)
}

var (
	_ RateLimiter = (*ratelimit.Memory)(nil)
	_ RateLimiter = (*ratelimit.Redis)(nil)
)

// Rate limit scopes: the metric's label values and the admin API's keys.
const (
	scopeEnvironment = "environment"
	scopeClient      = "client"
)

// How the middleware lives with a failing limiter store (Redis down).
const (
	// rateLimitTimeout bounds one decision: a store that answers in
	// milliseconds when healthy must not add seconds when it is not.
	rateLimitTimeout = 250 * time.Millisecond
	// rateLimitBackoff is how long requests pass without asking the store
	// after it failed, so that an outage costs one timeout per backoff,
	// not one per request.
	rateLimitBackoff = time.Second
	// rateLimitErrorLogEvery spaces the log lines of a failing store.
	rateLimitErrorLogEvery = 10 * time.Second
)

// rateLimits is the state of the /v1 rate limits: the limiter, the
// per-environment policies and the metrics.
type rateLimits struct {
	limiter  RateLimiter
	policies *ratePolicies
	limited  *prometheus.CounterVec
	failures prometheus.Counter
	lastLog  atomic.Int64 // unix nanoseconds of the last store failure logged
	downTill atomic.Int64 // unix nanoseconds until which the store is not asked
}

func (a *API) newRateLimits() (*rateLimits, error) {
	rl := &rateLimits{limiter: a.deps.RateLimiter, policies: newRatePolicies(a.deps.Store, a.cfg, time.Now)}
	if rl.limiter == nil {
		rl.limiter = ratelimit.NewMemory(ratelimit.MemoryConfig{})
	}
	rl.limited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "skybridge_rate_limited_total",
		Help: "/v1 requests refused with 429 by a rate limit, by scope (environment or client).",
	}, []string{"scope"})
	rl.failures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "skybridge_rate_limit_errors_total",
		Help: "Rate limit decisions that failed (limiter store or policy unavailable); the requests were let through.",
	})
	if err := register(a.reg, &rl.limited); err != nil {
		return nil, err
	}
	if err := register(a.reg, &rl.failures); err != nil {
		return nil, err
	}
	return rl, nil
}

// rateLimit limits /v1 requests with two policies: one for all traffic of
// the app environment, one per client — the user when the request carries
// a verified access token, else the client address. Calls with a valid
// server key count against the environment only. It runs after the
// app-key and user session middlewares.
//
// Every answer carries the RateLimit-Limit, -Remaining, -Reset and -Policy
// headers (draft-ietf-httpapi-ratelimit-headers) of the tighter policy; a
// refused request gets a 429 problem with Retry-After. The client budget
// is checked first, so that one greedy client's refused requests do not
// drain its environment's budget.
//
// When the limiter fails (Redis down, or slower than 250ms) or the
// policies cannot be read, the request goes through unlimited, and so do
// all requests of the next second without asking the limiter: an outage of
// the limiter must turn neither into an outage nor into a slowdown of the
// API. Failures are counted in skybridge_rate_limit_errors_total and
// logged at most every 10s.
func (a *API) rateLimit(next http.Handler) http.Handler {
	rl := a.rates
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		env, ok := EnvironmentFrom(ctx)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		pol, err := rl.policies.get(ctx, env.DB)
		if err != nil {
			a.rateLimitFailed(ctx, err, false)
		}
		type check struct {
			scope  string
			policy ratelimit.Policy
		}
		// The keys are built only for the limits in force: a limit that
		// is off costs no strings.
		var checks [2]check
		if !IsServerCall(ctx) {
			checks[0] = check{scopeClient, pol.client}
		}
		checks[1] = check{scopeEnvironment, pol.env}
		var (
			shown       ratelimit.Result
			shownPolicy ratelimit.Policy
			have        bool
		)
		for _, c := range checks {
			if c.scope == "" || c.policy.Disabled() {
				continue
			}
			if time.Now().UnixNano() < rl.downTill.Load() {
				break
			}
			dctx, cancel := context.WithTimeout(ctx, rateLimitTimeout)
			res, err := rl.limiter.Allow(dctx, rateKey(r, c.scope, env.DB), c.policy)
			cancel()
			if err != nil {
				a.rateLimitFailed(ctx, err, true)
				continue
			}
			if !have || !res.Allowed || res.Remaining < shown.Remaining {
				shown, shownPolicy, have = res, c.policy, true
			}
			if !res.Allowed {
				setRateLimitHeaders(w.Header(), shown, shownPolicy)
				w.Header().Set("Retry-After", strconv.FormatInt(ceilSeconds(res.RetryAfter), 10))
				rl.limited.WithLabelValues(c.scope).Inc()
				a.fail(w, r, fmt.Errorf("%w: the %s rate limit (%s) is used up; retry in %ds",
					ErrTooManyRequests, c.scope, c.policy, ceilSeconds(res.RetryAfter)))
				return
			}
		}
		if have {
			setRateLimitHeaders(w.Header(), shown, shownPolicy)
		}
		next.ServeHTTP(w, r)
	})
}

// setRateLimitHeaders writes the RateLimit-* fields of res under p.
// rateKey is the limiter key of one scope of r's environment database:
// the environment, or the client (its user, else its address) in it.
func rateKey(r *http.Request, scope, db string) string {
	if scope == scopeEnvironment {
		return "env:" + db
	}
	if u, ok := UserFrom(r.Context()); ok {
		return "client:" + db + ":user:" + u.ID
	}
	return "client:" + db + ":ip:" + clientHost(r)
}

func setRateLimitHeaders(h http.Header, res ratelimit.Result, p ratelimit.Policy) {
	h.Set("RateLimit-Limit", strconv.FormatInt(res.Limit, 10))
	h.Set("RateLimit-Remaining", strconv.FormatInt(res.Remaining, 10))
	h.Set("RateLimit-Reset", strconv.FormatInt(ceilSeconds(res.Reset), 10))
	policy := strconv.FormatInt(p.Limit, 10) + ";w=" + strconv.FormatInt(ceilSeconds(p.Period), 10)
	if b := p.EffectiveBurst(); b != p.Limit {
		policy += ";burst=" + strconv.FormatInt(b, 10)
	}
	h.Set("RateLimit-Policy", policy)
}

// ceilSeconds rounds d up to whole seconds.
func ceilSeconds(d time.Duration) int64 {
	return int64(math.Ceil(d.Seconds()))
}

// rateLimitFailed counts a failed decision and logs it, at most once per
// rateLimitErrorLogEvery; a failure of the limiter store (not of the
// policies' store) also starts a backoff.
func (a *API) rateLimitFailed(ctx context.Context, err error, limiter bool) {
	if ctx.Err() != nil {
		return // the client went away; nothing failed
	}
	a.rates.failures.Inc()
	now := time.Now().UnixNano()
	if limiter {
		a.rates.downTill.Store(now + int64(rateLimitBackoff))
	}
	last := a.rates.lastLog.Load()
	if now-last < int64(rateLimitErrorLogEvery) || !a.rates.lastLog.CompareAndSwap(last, now) {
		return
	}
	a.log.Warn("rate limit unavailable; letting requests through", "err", err, "requestId", RequestIDFrom(ctx))
}
