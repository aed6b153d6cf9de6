// Package cache is Skybridge's last-mile cache: one small interface with an
// in-process implementation (the zero-configuration default) and a Redis one
// (production, shared by every node).
package cache

import (
	"context"
	"errors"
	"time"
)

// ErrClosed is returned by a cache after Close.
var ErrClosed = errors.New("cache: closed")

// Cache stores byte values under string keys for a while.
type Cache interface {
	// Kind names the implementation: "memory" or "redis".
	Kind() string
	// Get returns the value under key; ok is false when absent or expired.
	Get(ctx context.Context, key string) (val []byte, ok bool, err error)
	// Set stores val under key for ttl; ttl <= 0 means no expiry.
	Set(ctx context.Context, key string, val []byte, ttl time.Duration) error
	// Delete removes keys; absent keys are ignored.
	Delete(ctx context.Context, keys ...string) error
	// Ping reports whether the cache answers.
	Ping(ctx context.Context) error
	// Close releases the cache's resources.
	Close() error
}
