// Package cache is Skybridge's last-mile cache: one small interface with an
// in-process implementation (the zero-configuration default, bounded by
// bytes), a Redis one (production, shared by every node), Fallback (Redis
// with the in-process cache behind a circuit breaker) and Loader
// (get-or-load with stampede protection, stale-while-revalidate and
// stale-if-error).
//
// Keys and tags are namespaced by app and environment: Namespace builds
// them as "<appId>:<env>:...", so no environment reads another's entries.
package cache

import (
	"context"
	"errors"
	"strings"
	"time"
)

// Sentinel errors.
var (
	// ErrClosed is returned by a cache after Close.
	ErrClosed = errors.New("cache: closed")
	// ErrInvalid is a key or tag the cache cannot take (e.g. an entry and
	// its tags in different namespaces).
	ErrInvalid = errors.New("cache: invalid")
)

// Cache stores byte values under string keys for a while, with tags.
type Cache interface {
	// Kind names the implementation: "memory" or "redis".
	Kind() string
	// Get returns the value under key; ok is false when absent or expired.
	Get(ctx context.Context, key string) (val []byte, ok bool, err error)
	// Set stores val under key for ttl (ttl <= 0 means no expiry), tagged
	// with tags: InvalidateTags of any of them removes the entry.
	Set(ctx context.Context, key string, val []byte, ttl time.Duration, tags ...string) error
	// Delete removes keys; absent keys are ignored.
	Delete(ctx context.Context, keys ...string) error
	// InvalidateTags removes every entry carrying one of tags.
	InvalidateTags(ctx context.Context, tags ...string) error
	// Stats returns the cache's counters since it was built.
	Stats(ctx context.Context) Stats
	// Ping reports whether the cache answers.
	Ping(ctx context.Context) error
	// Close releases the cache's resources.
	Close() error
}

// Locker is implemented by caches shared between nodes (Redis): a short
// lock with a token, so that one node loads a missing key while the others
// wait for its answer.
type Locker interface {
	// TryLock takes the lock named key for ttl unless another holder has
	// it; the token proves ownership to Unlock.
	TryLock(ctx context.Context, key string, ttl time.Duration) (token string, ok bool, err error)
	// Unlock releases the lock if token still holds it.
	Unlock(ctx context.Context, key, token string) error
}

// Stats are a cache's counters.
type Stats struct {
	// Hits and Misses count Get calls that found, or did not find, a value.
	Hits, Misses uint64
	// Bytes is the size of the stored entries (for Redis: the server's
	// used memory), Evictions how many entries were dropped to stay
	// within the bound.
	Bytes, Evictions uint64
	// Degraded is set while a Fallback serves from memory because Redis
	// fails.
	Degraded bool
}

// Ratio is Hits / (Hits + Misses), 0 without lookups.
func (s Stats) Ratio() float64 {
	if s.Hits+s.Misses == 0 {
		return 0
	}
	return float64(s.Hits) / float64(s.Hits+s.Misses)
}

// Namespace is the key prefix of one app environment: "<appId>:<env>:".
type Namespace string

// NewNamespace returns the namespace of app environment env of appID.
func NewNamespace(appID, env string) Namespace { return Namespace(appID + ":" + env + ":") }

// Key returns the key of parts in n, joined by ':'.
func (n Namespace) Key(parts ...string) string { return string(n) + strings.Join(parts, ":") }

// Tag returns the tag t in n. Tags share the key space's namespace but
// never collide with keys (they live under "#").
func (n Namespace) Tag(t string) string { return string(n) + "#" + t }

// All is the tag every entry written through Loader carries: invalidating
// it purges the whole namespace.
func (n Namespace) All() string { return n.Tag("*") }

// splitNamespace returns the namespace ("<a>:<b>:") of a key and the rest;
// keys without two ':' are their own namespace.
func splitNamespace(key string) (ns, rest string) {
	i := strings.IndexByte(key, ':')
	if i < 0 {
		return key, ""
	}
	j := strings.IndexByte(key[i+1:], ':')
	if j < 0 {
		return key, ""
	}
	return key[:i+j+2], key[i+j+2:]
}

// expiry returns the absolute expiry of ttl from now; zero means never.
func expiry(now time.Time, ttl time.Duration) time.Time {
	if ttl <= 0 {
		return time.Time{}
	}
	return now.Add(ttl)
}
