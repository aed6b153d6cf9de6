// Package sync is Skybridge's two-way offline sync (DESIGN.md §5): clients
// pull a collection's change feed from an opaque checkpoint and push the
// changes they made offline, which are checked against the server's
// versions and resolved by the collection's conflict strategy. Every write
// goes through the object store, so rules, ACLs, schemas and change
// notifications apply as they do to the object routes.
package sync

import (
	"errors"
	"time"

	"github.com/skybridgehq/skybridge/objectstore"
	"github.com/skybridgehq/skybridge/store"
)

// Sentinel errors. Test with errors.Is; only the api package turns them
// into HTTP statuses.
var (
	// ErrInvalid: a malformed pull, push or check (400), inside a
	// *objectstore.FieldError naming the field.
	ErrInvalid = errors.New("sync: invalid request")
	// ErrCheckpointExpired: the checkpoint is older than the tombstone
	// retention; deletions may have been compacted away, so the client
	// must drop its copy and pull from scratch (410).
	ErrCheckpointExpired = errors.New("sync: checkpoint expired; resync from scratch")
)

// Config tunes a Service. The zero value means every default.
type Config struct {
	// TombstoneRetention is how long tombstones (and merge-fields base
	// versions) are kept before Compact removes them. Default: 30 days.
	TombstoneRetention time.Duration
	// ClockSkew bounds a change's clientTime for last-write-wins: a time
	// further than ClockSkew ahead of the server's clock counts as the
	// server's time plus ClockSkew, so a device with a wrong clock cannot
	// win every conflict. Default: 5m.
	ClockSkew time.Duration
	// MaxChanges bounds the changes of one push. Default: 500.
	MaxChanges int
	// MaxKnown bounds the (id, _v) pairs of one check. Default: 1000.
	MaxKnown int
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

// Defaults of Config.
const (
	DefaultTombstoneRetention = 30 * 24 * time.Hour
	DefaultClockSkew          = 5 * time.Minute
	DefaultMaxChanges         = 500
	DefaultMaxKnown           = 1000
	// DefaultPullLimit and MaxPullLimit bound one collection of a pull.
	DefaultPullLimit = 100
	MaxPullLimit     = 1000
)

func (c Config) withDefaults() Config {
	if c.TombstoneRetention <= 0 {
		c.TombstoneRetention = DefaultTombstoneRetention
	}
	if c.ClockSkew <= 0 {
		c.ClockSkew = DefaultClockSkew
	}
	if c.MaxChanges <= 0 {
		c.MaxChanges = DefaultMaxChanges
	}
	if c.MaxKnown <= 0 {
		c.MaxKnown = DefaultMaxKnown
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Service serves pull, push and check over an object store. It is safe
// for concurrent use and keeps no state of its own in memory.
type Service struct {
	objects  *objectstore.Service
	provider store.Provider
	cfg      Config
}

// NewService returns a Service over objects, whose databases p opens (the
// replay log of change ids and the edit times of last-write-wins live
// beside the objects).
func NewService(objects *objectstore.Service, p store.Provider, cfg Config) *Service {
	if objects == nil || p == nil {
		panic("sync: NewService needs an object store and a store provider")
	}
	return &Service{objects: objects, provider: p, cfg: cfg.withDefaults()}
}

func invalid(field, msg string) error {
	return &objectstore.FieldError{Field: field, Err: errors.Join(ErrInvalid, errors.New(msg))}
}
