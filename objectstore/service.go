package objectstore

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// Store collections of an environment database that this package owns.
// Objects of collection c live in objectsPrefix+c, so that no client
// collection name can reach the environment's other collections (users,
// sessions, ...).
const (
	objectsPrefix   = "o_"
	collSettings    = "objectCollections"
	collIdempotency = "idempotencyKeys"
)

// Config tunes a Service. The zero value means every default.
type Config struct {
	// MaxObjectBytes bounds an object, encoded as JSON with its system
	// fields. Default: 1 MiB.
	MaxObjectBytes int
	// MaxPageBytes bounds one List page, estimated as JSON: a page that
	// would pass it ends early (with a cursor), after at least one object,
	// so that 1,000 large objects never build one huge answer in memory.
	// Default: 8 MiB.
	MaxPageBytes int
	// SettingsCacheTTL is how long a collection's settings (rules,
	// compiled schema) stay cached in memory. A change is seen at once on
	// the node that made it, and on other nodes within SettingsCacheTTL.
	// Negative disables the cache. Default: 5s.
	SettingsCacheTTL time.Duration
	// IdempotencyTTL is how long a stored Idempotency-Key answer is
	// replayed. Default: 24h.
	IdempotencyTTL time.Duration
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// Logger receives errors that cannot be returned. Default:
	// slog.Default().
	Logger *slog.Logger
	// OnChange, when set, is called after every committed object write
	// (create, update, delete), synchronously on the writer's goroutine
	// and in the order of that goroutine's writes. It cannot abort the
	// write; it should hand the change off quickly (the realtime feed
	// publishes it on the event bus).
	OnChange func(context.Context, Change)
}

// Defaults of Config.
const (
	DefaultMaxObjectBytes   = 1 << 20
	DefaultMaxPageBytes     = 8 << 20
	DefaultSettingsCacheTTL = 5 * time.Second
	DefaultIdempotencyTTL   = 24 * time.Hour
)

func (c Config) withDefaults() Config {
	if c.MaxObjectBytes <= 0 {
		c.MaxObjectBytes = DefaultMaxObjectBytes
	}
	if c.MaxPageBytes <= 0 {
		c.MaxPageBytes = DefaultMaxPageBytes
	}
	if c.SettingsCacheTTL == 0 {
		c.SettingsCacheTTL = DefaultSettingsCacheTTL
	}
	if c.IdempotencyTTL <= 0 {
		c.IdempotencyTTL = DefaultIdempotencyTTL
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Env is the app environment a request reached: its database and its
// policy on collections.
type Env struct {
	// DB is the environment's store database name (store.EnvDBName).
	DB string
	// AllowClientCreate lets a client's first write to a missing
	// collection create it, with the default settings (Parse's
	// allowClientClassCreation). Without it only the server key creates
	// collections implicitly.
	AllowClientCreate bool
}

// Principal is who makes a request.
type Principal struct {
	// UserID is the app user; "" is an anonymous caller (app key only).
	UserID string
	// Roles are the user's roles.
	Roles []string
	// Server is a caller with the environment's server key: it bypasses
	// every rule and ACL.
	Server bool
}

// Object is one stored JSON object with its system fields (_id, _v, _seq,
// _createdAt, _updatedAt, _owner, _acl, and _deleted on tombstones).
type Object map[string]any

// ID returns the object's _id.
func (o Object) ID() string { return store.DocID(store.Doc(o)) }

// Version returns the object's _v: the ETag of the api.
func (o Object) Version() int64 { return store.DocVersion(store.Doc(o)) }

// Seq returns the object's _seq in its collection's change feed.
func (o Object) Seq() int64 { return store.DocSeq(store.Doc(o)) }

// Deleted reports whether the object is a tombstone.
func (o Object) Deleted() bool { d, _ := o[store.FieldDeleted].(bool); return d }

// Owner returns the object's _owner ("" when none).
func (o Object) Owner() string { s, _ := o[store.FieldOwner].(string); return s }

// Service stores the JSON objects of every app environment. It is safe for
// concurrent use; several Services (on several nodes) may share one store.
type Service struct {
	provider store.Provider
	cfg      Config
	log      *slog.Logger
	settings settingsCache
	// envSettings caches EnvSettings (envsettings.go); its zero value is
	// ready.
	envSettings envSettingsCache
	// autoIdx remembers the sort indexes List made sure of (autoindex.go).
	autoIdx autoIndexes
}

// NewService returns a Service over the store provider p, which opens the
// environment databases named by Env.DB.
func NewService(p store.Provider, cfg Config) *Service {
	if p == nil {
		panic("objectstore: NewService needs a store provider")
	}
	cfg = cfg.withDefaults()
	return &Service{
		provider: p,
		cfg:      cfg,
		log:      cfg.Logger.With("component", "objectstore"),
		settings: newSettingsCache(),
	}
}

var collectionRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)

// ValidCollectionName checks a client collection name: a letter, then up
// to 63 letters, digits, '_' or '-'.
func ValidCollectionName(name string) error {
	if !collectionRe.MatchString(name) {
		return fieldErr("collection", ErrInvalid, "%q is not a collection name (a letter, then up to 63 letters, digits, '_' or '-')", name)
	}
	return nil
}

// db opens the environment's database.
func (s *Service) db(ctx context.Context, env Env) (store.DB, error) {
	db, err := s.provider.DB(ctx, env.DB)
	if err != nil {
		return nil, fmt.Errorf("objectstore: open database %q: %w", env.DB, err)
	}
	return db, nil
}

// objects returns the store collection holding the objects of col.
func objects(db store.DB, col string) store.Collection {
	return db.Collection(objectsPrefix + col)
}

// now is the service clock in UTC at the store's microsecond precision.
func (s *Service) now() time.Time {
	return s.cfg.Now().UTC().Truncate(time.Microsecond)
}
