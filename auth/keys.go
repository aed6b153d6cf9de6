package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// Key kinds for RotateKey.
const (
	// KeyApp is the public app key (X-Skybridge-Key).
	KeyApp = "app"
	// KeyServer is the secret server key (X-Skybridge-Server-Key).
	KeyServer = "server"
)

// MaxRotationGrace is the longest a rotated-out key may keep working.
const MaxRotationGrace = 30 * 24 * time.Hour

// Key formats: a prefix that says what the key is (so that leaked keys are
// easy to recognise and scan for) and random base62 characters. An app key
// carries 32 of them (190 bits), a server key 43 (256 bits).
const (
	AppKeyPrefix    = "sbk_"
	ServerKeyPrefix = "sbs_"
	appKeyRandLen   = 32
	serverKeyLen    = 43
	base62          = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	appIDAlphabet   = "abcdefghijklmnopqrstuvwxyz0123456789"
	rotateAttempts  = 16
	lookupTimeout   = 10 * time.Second
)

// RotatedKey is the answer to a rotation.
type RotatedKey struct {
	Environment
	Key              string    `json:"key"` // "app" | "server"
	NewKey           string    `json:"newKey"`
	OldKeyValidUntil time.Time `json:"oldKeyValidUntil"`
}

// resolvedKey is a cached answer of ResolveAppKey.
type resolvedKey struct{ env Environment }

// randomString returns n characters drawn uniformly from alphabet (at most
// 256 of them) with crypto/rand, rejecting the bytes that would bias the
// draw.
func randomString(alphabet string, n int) string {
	limit := 256 - 256%len(alphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/2)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			panic(fmt.Sprintf("auth: crypto/rand failed: %v", err))
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out)
}

// newAppID returns a 12-character app id: a lower-case letter and 11
// lower-case letters or digits (61 bits), so that it fits database names.
func newAppID() string {
	return randomString(appIDAlphabet[:26], 1) + randomString(appIDAlphabet, appIDLen-1)
}

func newAppKey() string { return AppKeyPrefix + randomString(base62, appKeyRandLen) }

// newServerKey returns a server key and the hex SHA-256 that is stored in
// its place. The key is 256 random bits, not a password: nothing can be
// guessed from a fast hash of it, so SHA-256 is the right tool here, and a
// slow hash (argon2) would only cost time on every server call.
func newServerKey() (key, hash string) {
	key = ServerKeyPrefix + randomString(base62, serverKeyLen)
	return key, hashSecret(key)
}

// hashSecret is what is stored in place of a generated secret (server
// keys, refresh, deploy, mail and one-time tokens): the hex SHA-256. They
// are 256 random bits, not passwords, so a fast hash is enough.
func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// wellFormedAppKey lets ResolveAppKey refuse garbage without a lookup.
func wellFormedAppKey(k string) bool {
	if len(k) != len(AppKeyPrefix)+appKeyRandLen || k[:len(AppKeyPrefix)] != AppKeyPrefix {
		return false
	}
	for i := len(AppKeyPrefix); i < len(k); i++ {
		c := k[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// RotateKey replaces an environment's app or server key (which is KeyApp
// or KeyServer, else ErrInvalid) with a new one, returned in full. The
// key rotated out keeps working until now+grace (0 to MaxRotationGrace;
// 0 cuts it at once). Only one previous key is kept: a key that was still
// in its grace period from an earlier rotation stops working now.
//
// Concurrent rotations do not lose updates: each is a compare-and-swap on
// the environment document, retried on conflict.
func (s *Service) RotateKey(ctx context.Context, appID, env, which string, grace time.Duration) (RotatedKey, error) {
	if which != KeyApp && which != KeyServer {
		return RotatedKey{}, fmt.Errorf("%w: key must be %q or %q", ErrInvalid, KeyApp, KeyServer)
	}
	if grace < 0 || grace > MaxRotationGrace {
		return RotatedKey{}, fmt.Errorf("%w: grace must be between 0 and %v", ErrInvalid, MaxRotationGrace)
	}
	if !appIDRe.MatchString(appID) || ValidEnvironmentName(env) != nil {
		return RotatedKey{}, fmt.Errorf("%w: environment %q of app %q", ErrNotFound, env, appID)
	}
	id := store.EnvDBName(appID, env)
	coll := s.sys.Collection(collEnvironments)
	for attempt := 0; attempt < rotateAttempts; attempt++ {
		d, err := coll.Get(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return RotatedKey{}, fmt.Errorf("%w: environment %q of app %q", ErrNotFound, env, appID)
		}
		if err != nil {
			return RotatedKey{}, fmt.Errorf("rotate key: %w", err)
		}
		rec, err := envFromDoc(d)
		if err != nil {
			return RotatedKey{}, fmt.Errorf("rotate key: %w", err)
		}
		now := s.now()
		until := now.Add(grace)
		var newKey string
		switch which {
		case KeyApp:
			newKey = newAppKey()
			rec.appKeyPrev, rec.appKeyPrevUntil = rec.appKey, until
			if grace == 0 {
				rec.appKeyPrev, rec.appKeyPrevUntil = "", time.Time{}
			}
			rec.appKey = newKey
		case KeyServer:
			var hash string
			newKey, hash = newServerKey()
			rec.serverKeyPrevHash, rec.serverKeyPrevUntil = rec.serverKeyHash, until
			if grace == 0 {
				rec.serverKeyPrevHash, rec.serverKeyPrevUntil = "", time.Time{}
			}
			rec.serverKeyHash = hash
		}
		_, err = coll.Replace(ctx, id, rec.version, rec.doc())
		switch {
		case errors.Is(err, store.ErrVersionConflict), errors.Is(err, store.ErrDuplicate):
			// Another rotation won, or (never seen) a new key collided:
			// read again and redo.
			continue
		case errors.Is(err, store.ErrNotFound):
			return RotatedKey{}, fmt.Errorf("%w: environment %q of app %q", ErrNotFound, env, appID)
		case err != nil:
			return RotatedKey{}, fmt.Errorf("rotate key: %w", err)
		}
		s.appKeys.invalidateEnv(id)
		s.serverKeys.invalidateEnv(id)
		s.log.InfoContext(ctx, "key rotated", "app", appID, "environment", env, "key", which, "grace", grace)
		return RotatedKey{Environment: rec.public(), Key: which, NewKey: newKey, OldKeyValidUntil: until}, nil
	}
	return RotatedKey{}, fmt.Errorf("rotate key: %d conflicting writes in a row: %w", rotateAttempts, store.ErrVersionConflict)
}

// ResolveAppKey returns the environment an app key belongs to: its
// current key, or the previous one while its grace period lasts. Unknown,
// malformed and expired keys are ErrUnauthorized; store failures are
// returned as they are. Answers are cached for KeyCacheTTL (never past a
// previous key's grace period), and concurrent lookups of one key share
// one read.
func (s *Service) ResolveAppKey(ctx context.Context, appKey string) (Environment, error) {
	if !wellFormedAppKey(appKey) {
		return Environment{}, fmt.Errorf("%w: malformed app key", ErrUnauthorized)
	}
	if r, ok := s.appKeys.get(appKey, s.now()); ok {
		return r.env, nil
	}
	ch := s.lookups.DoChan(appKey, func() (any, error) {
		// The read is shared, so it must not die with the first caller.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lookupTimeout)
		defer cancel()
		return s.lookupAppKey(ctx, appKey)
	})
	select {
	case <-ctx.Done():
		return Environment{}, ctx.Err()
	case res := <-ch:
		if res.Err != nil {
			return Environment{}, res.Err
		}
		return res.Val.(resolvedKey).env, nil
	}
}

// lookupAppKey reads the environment holding appKey and caches it.
func (s *Service) lookupAppKey(ctx context.Context, appKey string) (resolvedKey, error) {
	gen := s.appKeys.generation()
	page, err := s.sys.Collection(collEnvironments).Find(ctx, store.Query{
		Filter: store.Or{Filters: []store.Filter{
			store.Compare{Path: fieldAppKey, Op: store.OpEq, Value: appKey},
			store.Compare{Path: fieldAppKeyPrev, Op: store.OpEq, Value: appKey},
		}},
		Limit: 1,
	})
	if err != nil {
		return resolvedKey{}, fmt.Errorf("resolve app key: %w", err)
	}
	if len(page.Docs) == 0 {
		return resolvedKey{}, fmt.Errorf("%w: unknown app key", ErrUnauthorized)
	}
	rec, err := envFromDoc(page.Docs[0])
	if err != nil {
		return resolvedKey{}, fmt.Errorf("resolve app key: %w", err)
	}
	now := s.now()
	expires := now.Add(s.cfg.KeyCacheTTL)
	switch {
	case rec.appKey == appKey:
	case rec.appKeyPrev == appKey && now.Before(rec.appKeyPrevUntil):
		expires = minTime(expires, rec.appKeyPrevUntil)
	default:
		return resolvedKey{}, fmt.Errorf("%w: app key expired", ErrUnauthorized)
	}
	r := resolvedKey{env: rec.public()}
	if s.cfg.KeyCacheTTL > 0 {
		s.appKeys.put(appKey, rec.id, r, expires, gen)
	}
	return r, nil
}

// CheckServerKey reports whether serverKey is env's server key, or its
// previous one while the grace period lasts. It compares SHA-256 hashes in
// constant time, always against both slots. Store failures count as a
// mismatch and are logged.
func (s *Service) CheckServerKey(ctx context.Context, env Environment, serverKey string) bool {
	sum := sha256.Sum256([]byte(serverKey))
	h, err := s.serverHashesFor(ctx, env)
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			s.log.ErrorContext(ctx, "check server key", "environment", env.DB, "err", err)
		}
		return false
	}
	var none [sha256.Size]byte
	prev, prevLive := h.prev, 0
	if prev == nil {
		prev = none[:]
	}
	if s.now().Before(h.prevUntil) {
		prevLive = 1
	}
	current := subtle.ConstantTimeCompare(sum[:], h.current)
	previous := subtle.ConstantTimeCompare(sum[:], prev) & prevLive
	return current|previous == 1
}

// serverHashesFor returns the server key hashes of env, cached like app
// keys.
func (s *Service) serverHashesFor(ctx context.Context, env Environment) (serverHashes, error) {
	id := store.EnvDBName(env.AppID, env.Name)
	if env.DB != id || !appIDRe.MatchString(env.AppID) || ValidEnvironmentName(env.Name) != nil {
		return serverHashes{}, fmt.Errorf("%w: environment %q", ErrNotFound, env.DB)
	}
	now := s.now()
	if h, ok := s.serverKeys.get(id, now); ok {
		return h, nil
	}
	gen := s.serverKeys.generation()
	d, err := s.sys.Collection(collEnvironments).Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return serverHashes{}, fmt.Errorf("%w: environment %q", ErrNotFound, id)
	}
	if err != nil {
		return serverHashes{}, err
	}
	rec, err := envFromDoc(d)
	if err != nil {
		return serverHashes{}, err
	}
	h, err := rec.serverHashes()
	if err != nil {
		return serverHashes{}, err
	}
	if s.cfg.KeyCacheTTL > 0 {
		s.serverKeys.put(id, id, h, now.Add(s.cfg.KeyCacheTTL), gen)
	}
	return h, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
