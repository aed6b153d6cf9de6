package push

import (
	"context"
	"crypto/ecdsa"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/skybridgehq/skybridge/keyring"
	"github.com/skybridgehq/skybridge/store"
)

// providerTokens shares one APNs provider token per key between every
// node through the system database. A token older than refresh is
// replaced by compare-and-swap: the first node to see it old writes the
// new one, the others read it, so APNs sees one new token per key and
// period however many nodes run (TooManyProviderTokenUpdates never).
type providerTokens struct {
	sys     store.DB
	keys    *keyring.Keyring
	refresh time.Duration
	now     func() time.Time

	mu    sync.Mutex
	cache map[string]cachedToken
}

type cachedToken struct {
	bearer string
	issued time.Time
}

// apnsKey is what signs one key's provider tokens.
type apnsKey struct {
	id            string // ProviderTokensCollection _id: hash of team, key id and key
	key           *ecdsa.PrivateKey
	keyID, teamID string
}

// bearer returns the current provider token of k. stale, when not "",
// is a token APNs called expired: a token equal to it is replaced.
func (p *providerTokens) bearer(ctx context.Context, k apnsKey, stale string) (string, error) {
	now := p.now()
	p.mu.Lock()
	c, ok := p.cache[k.id]
	p.mu.Unlock()
	if ok && now.Sub(c.issued) < p.refresh && c.bearer != stale {
		return c.bearer, nil
	}
	coll := p.sys.Collection(ProviderTokensCollection)
	aad := []byte("push-provider-token:" + k.id)
	for range 5 {
		doc, err := coll.Get(ctx, k.id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return "", fmt.Errorf("push: read provider token: %w", err)
		}
		if err == nil {
			issued := time.Unix(int64Of(doc["issuedAt"]), 0)
			sealed, _ := base64.StdEncoding.DecodeString(stringOf(doc["bearer"]))
			b, oerr := p.keys.Open(sealed, aad)
			if oerr == nil && now.Sub(issued) < p.refresh && string(b) != stale {
				p.remember(k.id, string(b), issued)
				return string(b), nil
			}
		}
		fresh, err := signProviderToken(k, now)
		if err != nil {
			return "", err
		}
		sealed, err := p.keys.Seal([]byte(fresh), aad)
		if err != nil {
			return "", fmt.Errorf("push: seal provider token: %w", err)
		}
		next := store.Doc{"bearer": base64.StdEncoding.EncodeToString(sealed), "issuedAt": now.Unix()}
		if doc == nil {
			next[store.FieldID] = k.id
			_, err = coll.Insert(ctx, next)
		} else {
			_, err = coll.Replace(ctx, k.id, store.DocVersion(doc), next)
		}
		if errors.Is(err, store.ErrDuplicate) || errors.Is(err, store.ErrVersionConflict) || errors.Is(err, store.ErrNotFound) {
			continue // another node refreshed it first: read theirs
		}
		if err != nil {
			return "", fmt.Errorf("push: store provider token: %w", err)
		}
		p.remember(k.id, fresh, time.Unix(now.Unix(), 0))
		return fresh, nil
	}
	return "", errors.New("push: provider token: too much contention")
}

func (p *providerTokens) remember(id, bearer string, issued time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cache[id] = cachedToken{bearer: bearer, issued: issued}
}

// signProviderToken signs an APNs provider token: an ES256 JWT with the
// key id in its header and the team id and issue time in its claims.
func signProviderToken(k apnsKey, now time.Time) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"iss": k.teamID, "iat": now.Unix()})
	t.Header["kid"] = k.keyID
	s, err := t.SignedString(k.key)
	if err != nil {
		return "", fmt.Errorf("push: sign provider token: %w", err)
	}
	return s, nil
}

func int64Of(v any) int64 {
	n, _ := store.Int64(v)
	return n
}
