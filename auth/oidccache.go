package auth

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"

	"github.com/skybridgehq/skybridge/store"
)

// Timeouts and lifetimes of provider discovery.
const (
	// oidcHTTPTimeout bounds each call to a provider (discovery, JWKS,
	// token endpoint).
	oidcHTTPTimeout = 10 * time.Second
	// oidcDiscoveryTTL is how long a discovery document is trusted before
	// it is read again. Keys are refetched sooner, whenever a token names
	// a key id the cached key set does not hold (key rotation).
	oidcDiscoveryTTL = time.Hour
	// oidcCacheSize bounds the cached providers; configurations are few,
	// so the bound only matters after many edits.
	oidcCacheSize = 1000
)

// oidcCache holds, per issuer and client id, the provider's discovery
// document and a verifier over its remote key set. Its zero value is ready
// to use. Each node keeps its own; a configuration change on another node
// is seen here because the key is the configuration itself.
type oidcCache struct {
	once    sync.Once
	client  *http.Client
	mu      sync.Mutex
	entries map[string]*oidcEntry
	flight  singleflight.Group
	indexes sync.Map // store.DB -> struct{}: OIDCIndexes ensured
}

// OIDCIndexes returns the indexes OpenID sign-in needs in an environment
// database, by collection. The service ensures them on first use of each
// database.
func OIDCIndexes() map[string][]store.Index {
	return map[string][]store.Index{
		collIdentities: {{Name: "identities_user", Fields: []string{fieldUserID}}},
		collOIDCCodes:  {{Name: "oidccodes_expires", Fields: []string{fieldOIDCCodeExpires}}},
	}
}

// ensureOIDCIndexes creates OIDCIndexes and the user pool's indexes in db
// once per Service and database.
func (s *Service) ensureOIDCIndexes(ctx context.Context, db store.DB) error {
	if err := s.ensureUserIndexes(ctx, db); err != nil {
		return err
	}
	if _, ok := s.oidc.indexes.Load(db); ok {
		return nil
	}
	if err := store.EnsureIndexes(ctx, db, OIDCIndexes()); err != nil {
		return fmt.Errorf("OpenID sign-in: %w", err)
	}
	s.oidc.indexes.Store(db, struct{}{})
	return nil
}

// oidcEntry is one discovered provider.
type oidcEntry struct {
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	fetched  time.Time
}

func oidcCacheKey(issuer, clientID string) string { return issuer + "\x00" + clientID }

func (c *oidcCache) init() {
	c.once.Do(func() {
		c.client = &http.Client{Timeout: oidcHTTPTimeout}
		c.entries = map[string]*oidcEntry{}
	})
}

// httpContext carries the cache's HTTP client (with its timeout) for
// go-oidc and for oauth2, which look for it under keys of their own.
func (c *oidcCache) httpContext(ctx context.Context) context.Context {
	c.init()
	return context.WithValue(oidc.ClientContext(ctx, c.client), oauth2.HTTPClient, c.client)
}

// forget drops the entry of a configuration that was replaced or deleted.
func (c *oidcCache) forget(issuer, clientID string) {
	c.init()
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, oidcCacheKey(issuer, clientID))
}

// oidcProvider returns the discovered provider for cfg, reading discovery when it
// is not cached or older than oidcDiscoveryTTL. Concurrent misses share
// one read; a failed read is not cached. Failures are ErrOIDCProvider.
func (s *Service) oidcProvider(ctx context.Context, cfg oidcConfig) (*oidcEntry, error) {
	c := &s.oidc
	c.init()
	key := oidcCacheKey(cfg.Issuer, cfg.ClientID)
	now := s.cfg.Now()
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && now.Sub(e.fetched) < oidcDiscoveryTTL {
		return e, nil
	}
	ch := c.flight.DoChan(key, func() (any, error) {
		// The read is shared, so it must not die with the first caller.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), oidcHTTPTimeout)
		defer cancel()
		p, err := oidc.NewProvider(c.httpContext(dctx), cfg.Issuer)
		if err != nil {
			return nil, fmt.Errorf("%w: discovery of %s: %v", ErrOIDCProvider, cfg.Issuer, err)
		}
		v, err := newOIDCVerifier(p, cfg.Issuer, cfg.ClientID, c.client, s.cfg.Now)
		if err != nil {
			return nil, err
		}
		e := &oidcEntry{provider: p, verifier: v, fetched: s.cfg.Now()}
		c.mu.Lock()
		defer c.mu.Unlock()
		if len(c.entries) >= oidcCacheSize {
			for k, old := range c.entries {
				if s.cfg.Now().Sub(old.fetched) >= oidcDiscoveryTTL || len(c.entries) >= oidcCacheSize {
					delete(c.entries, k)
				}
			}
		}
		c.entries[key] = e
		return e, nil
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*oidcEntry), nil
	}
}
