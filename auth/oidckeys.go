package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"
)

// OIDCRefetchEvery bounds how often a provider's key set is fetched again
// because a token names a key id it does not hold. The first such fetch
// happens at once (a key rotation), later ones wait out the interval: a
// flood of tokens with made-up key ids must not turn into a flood of
// requests to the provider.
const OIDCRefetchEvery = 10 * time.Second

// maxJWKSBytes bounds a provider's key set document.
const maxJWKSBytes = 1 << 20

// oidcKeySet is a provider's JSON Web Key Set, fetched on first use and
// again when a token names an unknown key id, at most once per
// OIDCRefetchEvery. It implements oidc.KeySet.
type oidcKeySet struct {
	url    string
	client *http.Client
	now    func() time.Time
	algs   []jose.SignatureAlgorithm

	mu          sync.Mutex
	keys        jose.JSONWebKeySet
	loaded      bool
	lastRefetch time.Time // of the last fetch caused by an unknown key id
	flight      singleflight.Group
}

var _ oidc.KeySet = (*oidcKeySet)(nil)

// newOIDCVerifier builds the ID token verifier of a discovered provider
// over an oidcKeySet.
func newOIDCVerifier(p *oidc.Provider, issuer, clientID string, client *http.Client, now func() time.Time) (*oidc.IDTokenVerifier, error) {
	var meta struct {
		JWKS string   `json:"jwks_uri"`
		Algs []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := p.Claims(&meta); err != nil || meta.JWKS == "" {
		return nil, fmt.Errorf("%w: discovery of %s names no jwks_uri", ErrOIDCProvider, issuer)
	}
	ks := &oidcKeySet{url: meta.JWKS, client: client, now: now}
	var supported []string
	for _, a := range meta.Algs {
		if a == "none" {
			continue
		}
		ks.algs = append(ks.algs, jose.SignatureAlgorithm(a))
		supported = append(supported, a)
	}
	if len(ks.algs) == 0 {
		ks.algs, supported = []jose.SignatureAlgorithm{jose.RS256}, []string{oidc.RS256}
	}
	return oidc.NewVerifier(issuer, ks, &oidc.Config{ClientID: clientID, Now: now, SupportedSigningAlgs: supported}), nil
}

// VerifySignature checks the token's signature against the key set and
// returns its payload.
func (k *oidcKeySet) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(raw, k.algs)
	if err != nil {
		return nil, fmt.Errorf("oidc: malformed token: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("oidc: the token must carry exactly one signature")
	}
	kid := jws.Signatures[0].Header.KeyID
	keys, loaded := k.current()
	if !loaded {
		if keys, err = k.fetch(ctx, false); err != nil {
			return nil, err
		}
	} else if !hasKey(keys, kid) {
		if keys, err = k.fetch(ctx, true); err != nil {
			return nil, err
		}
	}
	for _, key := range candidates(keys, kid) {
		if payload, err := jws.Verify(key.Key); err == nil {
			return payload, nil
		}
	}
	return nil, fmt.Errorf("oidc: no key of the provider verifies the token (key id %q)", kid)
}

func (k *oidcKeySet) current() (jose.JSONWebKeySet, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.keys, k.loaded
}

// fetch reads the key set. A fetch for an unknown key id (unknownKid)
// within OIDCRefetchEvery of the previous one is skipped and the cached
// set returned. Concurrent fetches share one request.
func (k *oidcKeySet) fetch(ctx context.Context, unknownKid bool) (jose.JSONWebKeySet, error) {
	if unknownKid {
		k.mu.Lock()
		// A clock that went back (elapsed < 0) does not hold fetches off.
		if now := k.now(); now.Sub(k.lastRefetch) >= 0 && now.Sub(k.lastRefetch) < OIDCRefetchEvery {
			keys := k.keys
			k.mu.Unlock()
			return keys, nil
		} else {
			k.lastRefetch = now
		}
		k.mu.Unlock()
	}
	ch := k.flight.DoChan("jwks", func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), oidcHTTPTimeout)
		defer cancel()
		req, err := http.NewRequestWithContext(fctx, http.MethodGet, k.url, nil)
		if err != nil {
			return nil, err
		}
		resp, err := k.client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("%w: key set %s: %v", ErrOIDCProvider, k.url, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("%w: key set %s: status %d", ErrOIDCProvider, k.url, resp.StatusCode)
		}
		var set jose.JSONWebKeySet
		if err := json.NewDecoder(io.LimitReader(resp.Body, maxJWKSBytes)).Decode(&set); err != nil {
			return nil, fmt.Errorf("%w: key set %s: %v", ErrOIDCProvider, k.url, err)
		}
		k.mu.Lock()
		k.keys, k.loaded = set, true
		k.mu.Unlock()
		return set, nil
	})
	select {
	case <-ctx.Done():
		return jose.JSONWebKeySet{}, ctx.Err()
	case res := <-ch:
		if res.Err != nil {
			return jose.JSONWebKeySet{}, res.Err
		}
		return res.Val.(jose.JSONWebKeySet), nil
	}
}

func hasKey(set jose.JSONWebKeySet, kid string) bool { return len(set.Key(kid)) > 0 }

// candidates are the keys to try: those with the token's key id, or every
// signing key when the token names none.
func candidates(set jose.JSONWebKeySet, kid string) []jose.JSONWebKey {
	if kid != "" {
		return set.Key(kid)
	}
	var out []jose.JSONWebKey
	for _, key := range set.Keys {
		if key.Use == "" || key.Use == "sig" {
			out = append(out, key)
		}
	}
	return out
}
