// Package mongo is the MongoDB adapter of the store contract, built on the
// official driver go.mongodb.org/mongo-driver/v2.
//
// A store database named N is the MongoDB database Options.DBPrefix+N.
// Documents keep their string _id as the MongoDB _id; filters are compiled
// from the validated store.Filter tree into BSON (filter.go); the change
// feed is made gap-free without transactions or change streams by a lease
// based sequence allocator (seq.go).
//
// The adapter targets a MongoDB replica set. It also runs against FerretDB
// (the embedded MongoDB-wire server the tests use), which differs in ways
// the tests name (see ferretdb_test.go).
package mongo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"

	"github.com/skybridgehq/skybridge/store"
)

// Options configures Open. The zero value of every field but URI means its
// default.
type Options struct {
	// URI is the mongodb:// or mongodb+srv:// connection string. Required.
	// Write and read concerns come from it; for a replica set,
	// "w=majority" (the server default since MongoDB 5.0) is recommended.
	URI string
	// DBPrefix is prepended to every store database name to form the
	// MongoDB database name ("sb_system", "sb_<appID>_<env>").
	// Default: "sb_".
	DBPrefix string
	// LeaseDuration is how long an allocated but uncommitted _seq may hold
	// back the change feed before readers skip it (a writer that commits
	// later re-stamps its document with a fresh _seq). Default: 30s.
	LeaseDuration time.Duration
	// OpTimeout bounds each store call (all of its round trips) when the
	// caller's context has no earlier deadline. A write that has taken its
	// _seq runs on to the end within OpTimeout even when the caller's
	// context ends first (see Collection.Insert). Default: 10s.
	OpTimeout time.Duration
	// Logger receives warnings about background repairs (expired leases,
	// re-stamped documents). Default: slog.Default().
	Logger *slog.Logger
}

// Defaults applied by withDefaults.
const (
	DefaultDBPrefix      = "sb_"
	DefaultLeaseDuration = 30 * time.Second
	DefaultOpTimeout     = 10 * time.Second
)

// withDefaults returns o with every zero field set to its default.
func (o Options) withDefaults() Options {
	if o.DBPrefix == "" {
		o.DBPrefix = DefaultDBPrefix
	}
	if o.LeaseDuration <= 0 {
		o.LeaseDuration = DefaultLeaseDuration
	}
	if o.OpTimeout <= 0 {
		o.OpTimeout = DefaultOpTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// validate checks the options after defaults.
func (o Options) validate() error {
	if o.URI == "" {
		return fmt.Errorf("%w: mongo: Options.URI is required", store.ErrInvalid)
	}
	// MongoDB database names may not contain these, and the longest store
	// name (48) plus the prefix must stay under MongoDB's 64-byte limit.
	if strings.ContainsAny(o.DBPrefix, "/\\. \"$*<>:|?\x00") || len(o.DBPrefix) > 15 {
		return fmt.Errorf("%w: mongo: DBPrefix %q (at most 15 bytes, none of /\\. \"$*<>:|?)", store.ErrInvalid, o.DBPrefix)
	}
	return nil
}

// Provider is a store.Provider over one MongoDB deployment. It is safe for
// concurrent use.
type Provider struct {
	opts   Options
	client *mongo.Client
	closed atomic.Bool

	mu  sync.Mutex
	dbs map[string]*DB
}

var _ store.Provider = (*Provider)(nil)

// Open connects to the deployment at opts.URI and checks that it answers.
func Open(ctx context.Context, opts Options) (*Provider, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	client, err := mongo.Connect(options.Client().ApplyURI(opts.URI))
	if err != nil {
		return nil, fmt.Errorf("mongo: connect: %w", err)
	}
	p := &Provider{opts: opts, client: client, dbs: map[string]*DB{}}
	pctx, cancel := p.opContext(ctx)
	defer cancel()
	if err := client.Ping(pctx, readpref.Primary()); err != nil {
		_ = client.Disconnect(context.WithoutCancel(pctx))
		return nil, fmt.Errorf("mongo: ping %s: %w", redactURI(opts.URI), err)
	}
	return p, nil
}

// redactURI drops credentials from a connection string for error messages.
func redactURI(uri string) string {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return "(connection string)"
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		rest = rest[at+1:]
	}
	return scheme + "://" + rest
}

// Kind returns "mongo".
func (p *Provider) Kind() string { return "mongo" }

// opContext bounds one store call by OpTimeout.
func (p *Provider) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, p.opts.OpTimeout)
}

func (p *Provider) checkOpen() error {
	if p.closed.Load() {
		return store.ErrClosed
	}
	return nil
}

// DB opens the store database name, creating the adapter's internal
// collections on first use.
func (p *Provider) DB(ctx context.Context, name string) (store.DB, error) {
	if err := p.checkOpen(); err != nil {
		return nil, err
	}
	p.mu.Lock()
	db, ok := p.dbs[name] // only valid names get in: checked once, below
	if !ok {
		if err := store.ValidDBName(name); err != nil {
			p.mu.Unlock()
			return nil, err
		}
		db = newDB(p, name)
		p.dbs[name] = db
	}
	p.mu.Unlock()
	octx, cancel := p.opContext(ctx)
	defer cancel()
	if err := db.ensureInternal(octx); err != nil {
		return nil, err
	}
	return db, nil
}

// DropDB drops the MongoDB database behind name.
func (p *Provider) DropDB(ctx context.Context, name string) error {
	if err := p.checkOpen(); err != nil {
		return err
	}
	if err := store.ValidDBName(name); err != nil {
		return err
	}
	p.mu.Lock()
	db := p.dbs[name]
	p.mu.Unlock()
	if db != nil {
		// Forget cached state (allocator hints, watermarks, ensured
		// indexes) so that the next use starts from the empty database.
		db.reset()
	}
	octx, cancel := p.opContext(ctx)
	defer cancel()
	if err := p.client.Database(p.opts.DBPrefix + name).Drop(octx); err != nil {
		return p.wrap(fmt.Sprintf("drop database %q", name), err)
	}
	return nil
}

// Ping checks that the primary answers.
func (p *Provider) Ping(ctx context.Context) error {
	if err := p.checkOpen(); err != nil {
		return err
	}
	octx, cancel := p.opContext(ctx)
	defer cancel()
	if err := p.client.Ping(octx, readpref.Primary()); err != nil {
		return p.wrap("ping", err)
	}
	return nil
}

// Close disconnects the client. Later calls fail with store.ErrClosed.
func (p *Provider) Close() error {
	if p.closed.Swap(true) {
		return store.ErrClosed
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.opts.OpTimeout)
	defer cancel()
	if err := p.client.Disconnect(ctx); err != nil {
		return fmt.Errorf("mongo: disconnect: %w", err)
	}
	return nil
}

// wrap turns a driver error into a store error with context: duplicate
// keys become store.ErrDuplicate, refused updates store.ErrInvalid, and a
// client closed under the call store.ErrClosed.
func (p *Provider) wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	switch {
	case p.closed.Load() || errors.Is(err, mongo.ErrClientDisconnected):
		return fmt.Errorf("mongo: %s: %w", what, store.ErrClosed)
	case isDuplicate(err):
		return fmt.Errorf("mongo: %s: %w: %w", what, store.ErrDuplicate, err)
	case isRefused(err):
		return fmt.Errorf("mongo: %s: %w: %w", what, store.ErrInvalid, err)
	}
	return fmt.Errorf("mongo: %s: %w", what, err)
}

// isDuplicate reports a unique-index violation. FerretDB reports one found
// while building a unique index as an InternalError carrying SQLite's
// message rather than code 11000, so that message is recognised too.
func isDuplicate(err error) bool {
	if mongo.IsDuplicateKeyError(err) {
		return true
	}
	var se mongo.ServerError
	return errors.As(err, &se) && se.HasErrorMessage("UNIQUE constraint failed")
}

// refusedCodes are server error codes that mean the request itself was
// wrong (an update over a non-numeric field, a path through a scalar, two
// updates of one path, a bad index definition).
var refusedCodes = []int{
	2,     // BadValue
	9,     // FailedToParse
	14,    // TypeMismatch ($inc of a non-number)
	17,    // CannotCreateIndex
	28,    // PathNotViable ($set through a scalar)
	40,    // ConflictingUpdateOperators (a and a.b in one update)
	52,    // DollarPrefixedFieldName
	56,    // EmptyFieldName
	57,    // DottedFieldName
	67,    // CannotCreateIndex
	85,    // IndexOptionsConflict
	86,    // IndexKeySpecsConflict
	10334, // BSONObjectTooLarge
	17419, // document too large
}

func isRefused(err error) bool {
	var se mongo.ServerError
	if !errors.As(err, &se) {
		return false
	}
	for _, c := range refusedCodes {
		if se.HasErrorCode(c) {
			return true
		}
	}
	return false
}
