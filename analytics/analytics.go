// Package analytics ingests the custom events mobile apps send in batches
// and keeps them aggregated per event name, day, app version and platform,
// with the distinct sessions and users behind each count.
//
// Every batch is stored as one document, written with one insert, so that
// a batch is either counted whole or not at all; a client batch id makes a
// retried batch a duplicate instead of a second count. A maintenance pass
// (Maintain) folds days past CompactAfter into one document per day and
// removes days past the environment's retention.
package analytics

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// Sentinel errors. Test with errors.Is.
var (
	// ErrInvalid: a batch, query or setting the service refuses. The
	// offending fields are *FieldError values in the error's tree.
	ErrInvalid = errors.New("analytics: invalid input")
)

// FieldError is one refused field of a batch, query or setting. It wraps
// ErrInvalid.
type FieldError struct {
	// Field is the path of the field, e.g. "events[3].timestamp".
	Field string
	// Reason says what is wrong with it.
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap makes every FieldError an ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Config tunes the service. The zero value means every default.
type Config struct {
	// MaxEvents bounds the events of one batch. Default: 500.
	MaxEvents int
	// MaxBodyBytes bounds the JSON body of one batch (the API answers 413
	// past it). Default: 512 KiB.
	MaxBodyBytes int64
	// MaxProperties bounds the properties of one event. Default: 25.
	MaxProperties int
	// MaxPropertyKey bounds a property name, in characters. Default: 100.
	MaxPropertyKey int
	// MaxPropertyValue bounds a property value (a string's length, or a
	// number's or boolean's JSON text), in bytes. Default: 1024.
	MaxPropertyValue int
	// MaxEventNames bounds the distinct event names of one environment;
	// a batch bringing the next new name is refused. Default: 500.
	MaxEventNames int
	// MaxAge is how old an event's timestamp may be; older events are
	// dropped and counted as such. Default: 72h.
	MaxAge time.Duration
	// MaxAhead is how far ahead of the server's clock a timestamp may be;
	// later events are dropped and counted. Default: 1h.
	MaxAhead time.Duration
	// MaxDistinct bounds the distinct session (and user) ids kept per
	// event, day, app version and platform; past it the distinct counts
	// saturate. Default: 10000.
	MaxDistinct int
	// CompactAfter is how many days after a day (UTC) Maintain folds its
	// counts into one document. It must exceed MaxAge + MaxAhead, so that
	// no event can arrive for a folded day. Default: 4.
	CompactAfter int
	// RetentionDays is how many days of counts an environment keeps unless
	// an admin sets its own. Default: 90.
	RetentionDays int
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

// Defaults of Config.
const (
	DefaultMaxEvents        = 500
	DefaultMaxBodyBytes     = 512 << 10
	DefaultMaxProperties    = 25
	DefaultMaxPropertyKey   = 100
	DefaultMaxPropertyValue = 1024
	DefaultMaxEventNames    = 500
	DefaultMaxAge           = 72 * time.Hour
	DefaultMaxAhead         = time.Hour
	DefaultMaxDistinct      = 10000
	DefaultCompactAfter     = 4
	DefaultRetentionDays    = 90
	// MinRetentionDays and MaxRetentionDays bound Settings.RetentionDays.
	MinRetentionDays = 1
	MaxRetentionDays = 3650
)

func (c Config) withDefaults() Config {
	if c.MaxEvents <= 0 {
		c.MaxEvents = DefaultMaxEvents
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxProperties <= 0 {
		c.MaxProperties = DefaultMaxProperties
	}
	if c.MaxPropertyKey <= 0 {
		c.MaxPropertyKey = DefaultMaxPropertyKey
	}
	if c.MaxPropertyValue <= 0 {
		c.MaxPropertyValue = DefaultMaxPropertyValue
	}
	if c.MaxEventNames <= 0 {
		c.MaxEventNames = DefaultMaxEventNames
	}
	if c.MaxAge <= 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.MaxAhead <= 0 {
		c.MaxAhead = DefaultMaxAhead
	}
	if c.MaxDistinct <= 0 {
		c.MaxDistinct = DefaultMaxDistinct
	}
	if c.CompactAfter <= 0 {
		c.CompactAfter = DefaultCompactAfter
	}
	if c.RetentionDays <= 0 {
		c.RetentionDays = DefaultRetentionDays
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Collections of an environment database.
const (
	collBatches  = "analyticsBatches"
	collDays     = "analyticsDays"
	collNames    = "analyticsNames"
	collSettings = "analyticsSettings"
)

// Indexes are the indexes the service's queries use, by collection, for
// store.EnsureIndexes on an environment database.
func Indexes() map[string][]store.Index {
	return map[string][]store.Index{
		collBatches: {{Fields: []string{"minDay"}}, {Fields: []string{"maxDay"}}},
	}
}

// Service ingests, queries and compacts the analytics of app environments.
type Service struct {
	p       store.Provider
	cfg     Config
	indexed sync.Map // store.DB → struct{}: indexes ensured
	// names caches the event names known to be recorded, per database:
	// names are never removed, so a cached name needs no store read.
	names sync.Map // store.DB → *nameSet
}

// nameSet is the event names of one database known to be recorded.
type nameSet struct {
	mu    sync.RWMutex
	names map[string]bool
}

// NewService returns a service over the provider p, which opens the
// environment databases Maintain visits.
func NewService(p store.Provider, cfg Config) *Service {
	if p == nil {
		panic("analytics: NewService needs a store provider")
	}
	return &Service{p: p, cfg: cfg.withDefaults()}
}

// ensureIndexes creates the indexes of Indexes in db once per Service and
// database.
func (s *Service) ensureIndexes(ctx context.Context, db store.DB) error {
	if _, ok := s.indexed.Load(db); ok {
		return nil
	}
	if err := store.EnsureIndexes(ctx, db, Indexes()); err != nil {
		return fmt.Errorf("analytics: %w", err)
	}
	s.indexed.Store(db, struct{}{})
	return nil
}

// Config returns the effective configuration (defaults applied).
func (s *Service) Config() Config { return s.cfg }

// dayFormat renders a UTC day.
const dayFormat = "2006-01-02"

func day(t time.Time) string { return t.UTC().Format(dayFormat) }

// today is the service clock's UTC day, at midnight.
func (s *Service) today() time.Time {
	n := s.cfg.Now().UTC()
	return time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, time.UTC)
}

// Maintain runs the maintenance of one environment database: it folds
// days past CompactAfter and removes those past the retention. It returns
// how many day documents it wrote or removed plus batch documents it
// removed.
func (s *Service) Maintain(ctx context.Context, envDB string) (int, error) {
	db, err := s.p.DB(ctx, envDB)
	if err != nil {
		return 0, fmt.Errorf("analytics: open %s: %w", envDB, err)
	}
	rep, err := s.Compact(ctx, db)
	return rep.Folded + rep.Removed, err
}
