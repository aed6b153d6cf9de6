package api

import (
	"errors"
	"strings"
	"testing"

	"github.com/skybridgehq/skybridge/ratelimit"
)

// FuzzRateLimitsPayload: whatever PUT .../rate-limits receives, decoding
// and validation either refuse it with a 400-class error whose fields are
// under environment. or client. (or a decoding error), or produce policies
// that are valid and render back to an equivalent payload.
func FuzzRateLimitsPayload(f *testing.F) {
	for _, s := range []string{
		`{"environment": {"limit": 6000, "period": "1m"}, "client": {"limit": 600, "period": "1m"}}`,
		`{"client": {"limit": 1, "period": "1h", "burst": 10}}`,
		`{"environment": {"off": true}, "client": {"default": true}}`,
		`{"environment": {"limit": 0, "period": "forever"}}`,
		`{"environment": null}`, `{}`, `[]`, `{"client": {"limit": 1e3, "period": "1s"}}`,
		`{"client": {"limit": 9223372036854775807, "period": "24h", "burst": 9223372036854775807}}`,
		`{"environment": {"limit": 5, "period": "-1m"}}`, `{"environment": {"limit": 3, "period": "1ms"}}`,
	} {
		f.Add(s)
	}
	pols := &ratePolicies{defaults: envRatePolicies{env: DefaultRateLimitEnv, client: DefaultRateLimitClient}}
	a := &API{rates: &rateLimits{policies: pols}}
	f.Fuzz(func(t *testing.T, body string) {
		var req rateLimitsJSON
		if err := decodeJSONBytes([]byte(body), &req); err != nil {
			if !errors.Is(err, ErrMalformedBody) {
				t.Fatalf("%q: decode error %v is not ErrMalformedBody", body, err)
			}
			return
		}
		var o rateOverrides
		var errEnv, errClient error
		o.env, errEnv = req.Environment.policy(scopeEnvironment)
		o.client, errClient = req.Client.policy(scopeClient)
		if err := errors.Join(errEnv, errClient); err != nil {
			p := problemFor(err)
			if p.Status != 400 || len(p.Errors) == 0 {
				t.Fatalf("%q: problem %+v", body, p)
			}
			for _, fe := range p.Errors {
				if !strings.HasPrefix(fe.Field, "environment.") && !strings.HasPrefix(fe.Field, "client.") {
					t.Fatalf("%q: field %q", body, fe.Field)
				}
			}
			return
		}
		for _, pol := range []*ratelimit.Policy{o.env, o.client} {
			if pol == nil {
				continue
			}
			if err := pol.Validate(); err != nil {
				t.Fatalf("%q: accepted invalid policy %+v: %v", body, pol, err)
			}
			// What is stored reads back the same.
			back, err := policyFromDoc(policyDoc(*pol))
			if err != nil || *back != *pol {
				t.Fatalf("%q: stored %+v, read back %+v, %v", body, pol, back, err)
			}
		}
		// The answer, put back, means the same.
		answer := a.rateLimitsJSON(o)
		again, err := answer.Environment.policy(scopeEnvironment)
		if err != nil || (again == nil) != (o.env == nil) || (again != nil && *again != normalized(*o.env)) {
			t.Fatalf("%q: answer %+v put back: %+v, %v", body, answer.Environment, again, err)
		}
	})
}

// normalized spells out the default burst, as answers do.
func normalized(p ratelimit.Policy) ratelimit.Policy {
	if !p.Disabled() {
		p.Burst = p.EffectiveBurst()
	}
	return p
}
