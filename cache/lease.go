package cache

import (
	"context"
	"time"
)

// Leaser is implemented by caches that can void a load's store when the
// key was invalidated while it loaded, as memcached's leases do: a load
// takes a Lease before it reads the source, and stores with SetLeased,
// which stores only while no Delete of the key and no InvalidateTags of
// one of its tags has run since the lease was taken. Without it, a load
// that read the source just before a write committed would store the old
// value after the write's invalidation, to be served until its TTL ends.
// Loader uses it on every cache that implements it (all of this
// package's do).
type Leaser interface {
	// Lease begins a load of key, whose entry will carry tags; it lives
	// ttl at most (a load that takes longer does not store).
	Lease(ctx context.Context, key string, ttl time.Duration, tags ...string) (Lease, error)
	// SetLeased is Set done only while lease holds; stored reports
	// whether it was done. tags must be the lease's.
	SetLeased(ctx context.Context, lease Lease, key string, val []byte, ttl time.Duration, tags ...string) (stored bool, err error)
}

// Lease is a load's claim on a key, from Leaser.Lease. The zero Lease
// holds nothing: SetLeased with it stores nothing.
type Lease struct {
	gen   uint64 // Memory (or a Fallback's or TwoLevel's memory): invalidation generation when taken
	token string // Redis: the token in the lease key
	far   *Lease // TwoLevel: the shared cache's lease
	valid bool
}
