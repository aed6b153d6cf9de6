package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/skybridgehq/skybridge/ratelimit"
)

// maxRateLimit bounds a policy's limit in the admin API.
const maxRateLimit = 1_000_000_000

// rateLimitsJSON is the body of GET and PUT .../rate-limits: the policy of
// each scope. On PUT an absent, null or {"default": true} scope follows
// the server default; answers show every scope's effective policy and
// mark the defaults, so that a GET answer can be PUT back unchanged.
type rateLimitsJSON struct {
	Environment *policyJSON `json:"environment"`
	Client      *policyJSON `json:"client"`
}

// policyJSON is one scope's policy: limit requests per period (a Go
// duration such as "1m"), bursts of up to burst (default: limit); or off;
// or the server default.
type policyJSON struct {
	Limit   int64  `json:"limit,omitempty"`
	Period  string `json:"period,omitempty"`
	Burst   int64  `json:"burst,omitempty"`
	Off     bool   `json:"off,omitempty"`
	Default bool   `json:"default,omitempty"`
}

// policy validates j, the policy of scope; nil means the server default.
// Errors name the field as scope.limit, scope.period ...
func (j *policyJSON) policy(scope string) (*ratelimit.Policy, error) {
	if j == nil {
		return nil, nil
	}
	invalid := func(field, format string, args ...any) error {
		return onField(scope+"."+field, fmt.Errorf("%w: "+format, append([]any{ErrInvalidInput}, args...)...))
	}
	switch {
	case j.Default:
		// Whatever else it says (a GET answer put back shows the default's
		// values), the scope follows the server default.
		return nil, nil
	case j.Off && (j.Limit != 0 || j.Period != "" || j.Burst != 0):
		return nil, invalid("off", "leave limit, period and burst out of a policy that is off")
	case j.Off:
		return &ratelimit.Off, nil
	}
	var errs []error
	if j.Limit < 1 || j.Limit > maxRateLimit {
		errs = append(errs, invalid("limit", "must be from 1 to %d", maxRateLimit))
	}
	period, err := ratelimit.ParsePeriod(j.Period)
	if j.Period == "" {
		errs = append(errs, invalid("period", "is required, e.g. \"1m\""))
	} else if err != nil {
		errs = append(errs, invalid("period", "must be a duration such as \"1m\", from %s to %s", ratelimit.MinPeriod, ratelimit.MaxPeriod))
	}
	if j.Burst < 0 || (j.Limit > 0 && j.Burst > ratelimit.MaxBurstFactor*j.Limit) {
		errs = append(errs, invalid("burst", "must be from 1 to %d × limit", ratelimit.MaxBurstFactor))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	p := ratelimit.Policy{Limit: j.Limit, Period: period, Burst: j.Burst}
	if err := p.Validate(); err != nil {
		return nil, invalid("limit", "must be at most one per microsecond of the period")
	}
	return &p, nil
}

// rateLimitsJSON shows the effective policies of overrides o.
func (a *API) rateLimitsJSON(o rateOverrides) rateLimitsJSON {
	eff := a.rates.policies.apply(o)
	return rateLimitsJSON{
		Environment: toPolicyJSON(eff.env, o.env == nil),
		Client:      toPolicyJSON(eff.client, o.client == nil),
	}
}

func toPolicyJSON(p ratelimit.Policy, isDefault bool) *policyJSON {
	if p.Disabled() {
		return &policyJSON{Off: true, Default: isDefault}
	}
	return &policyJSON{Limit: p.Limit, Period: ratelimit.FormatPeriod(p.Period), Burst: p.EffectiveBurst(), Default: isDefault}
}

// describeRateLimits registers the rate limit admin routes in the OpenAPI
// document.
func describeRateLimits(spec *apiSpec, path string) {
	spec.schema("RateLimitPolicy", strictObject(map[string]any{
		"limit":   map[string]any{"type": "integer", "minimum": 1, "maximum": maxRateLimit, "description": "Requests per period."},
		"period":  str("The window, a duration such as 1s, 1m or 1h (1ms to 24h)."),
		"burst":   map[string]any{"type": "integer", "minimum": 1, "description": "Requests allowed at once after a quiet spell, up to 10 × limit. Default: limit."},
		"off":     boolean("true: no limit for this scope."),
		"default": boolean("true: follow the server default (SKYBRIDGE_RATE_LIMIT_ENV / _CLIENT). Answers set it on scopes without an override; on PUT it resets the scope."),
	}))
	spec.schema("RateLimits", strictObject(map[string]any{
		"environment": ref("RateLimitPolicy"),
		"client":      ref("RateLimitPolicy"),
	}))
	admin := []string{schemeBearer}
	spec.route(http.MethodGet, path, operation{
		ID: "getRateLimits", Tag: "admin", Summary: "The /v1 rate limits of an environment: for all its traffic (environment) and per user or client address (client).",
		Security:  admin,
		Responses: []response{{Status: 200, Description: "The effective policies; default marks those without an override.", Schema: "RateLimits"}},
		Problems:  []int{401, 403, 404},
	})
	spec.route(http.MethodPut, path, operation{
		ID: "putRateLimits", Tag: "admin", Summary: "Override the /v1 rate limits of an environment; an absent, null or default scope follows the server default. Other nodes apply the change within 10s.",
		Security:  admin,
		Request:   "RateLimits",
		Responses: []response{{Status: 200, Description: "Stored; the effective policies.", Schema: "RateLimits"}},
		Problems:  []int{400, 401, 403, 404},
	})
}
