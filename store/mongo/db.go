package mongo

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/skybridgehq/skybridge/store"
)

// internalPrefix starts the names of the adapter's own collections and
// indexes; Collections and Indexes leave them out.
const internalPrefix = "_sb_"

// Internal collections of every database (see seq.go).
const (
	seqCollName   = internalPrefix + "seq"
	floorCollName = internalPrefix + "seqfloor"
	// seqIndexName is the index on _seq that every user collection gets on
	// its first write, for Changes.
	seqIndexName = internalPrefix + "seq"
)

// DB is one store database: the MongoDB database DBPrefix+name.
type DB struct {
	p      *Provider
	name   string
	mdb    *mongo.Database
	seqs   *mongo.Collection
	floors *mongo.Collection

	initMu   sync.Mutex
	initDone bool

	mu    sync.Mutex
	colls map[string]*collState
}

var _ store.DB = (*DB)(nil)

// collState is what this process knows about one collection: the
// allocator's next candidate and the last watermark it computed.
type collState struct {
	// next is the highest _seq this process has seen allocated; the next
	// candidate is next+1.
	next atomic.Int64

	hintMu     sync.Mutex
	hintLoaded bool

	idxMu   sync.Mutex
	indexed bool

	// wmMu serialises watermark computations of this collection, so that
	// one process does not repair the same expired lease twice at once.
	wmMu sync.Mutex
	// wm is the last computed watermark, a valid lower bound for the next.
	wm int64
	// floor is the last floor this process read or wrote.
	floor    int64
	wmLoaded bool
	// pruneTried is the _seq after which a writer last tried to advance
	// the floor (see maybePrune).
	pruneTried int64
}

func newDB(p *Provider, name string) *DB {
	mdb := p.client.Database(p.opts.DBPrefix + name)
	return &DB{
		p:      p,
		name:   name,
		mdb:    mdb,
		seqs:   mdb.Collection(seqCollName),
		floors: mdb.Collection(floorCollName),
		colls:  map[string]*collState{},
	}
}

// Name returns the store name the database was opened with.
func (db *DB) Name() string { return db.name }

// ensureInternal creates the unique indexes of the sequence records
// (collection, seq, kind) and floors (collection, seq) that the change
// feed's correctness rests on.
func (db *DB) ensureInternal(ctx context.Context) error {
	db.initMu.Lock()
	defer db.initMu.Unlock()
	if db.initDone {
		return nil
	}
	for _, ix := range []struct {
		mc   *mongo.Collection
		keys bson.D
	}{
		{db.seqs, bson.D{{Key: "c", Value: 1}, {Key: "s", Value: 1}, {Key: "k", Value: 1}}},
		{db.floors, bson.D{{Key: "c", Value: 1}, {Key: "s", Value: 1}}},
	} {
		mc := ix.mc
		_, err := mc.Indexes().CreateOne(ctx, mongo.IndexModel{
			Keys:    ix.keys,
			Options: options.Index().SetName(internalPrefix + "seq").SetUnique(true),
		})
		if err != nil {
			return db.p.wrap(fmt.Sprintf("database %q: create index on %s", db.name, mc.Name()), err)
		}
	}
	db.initDone = true
	return nil
}

// reset forgets everything cached about the database, after DropDB.
func (db *DB) reset() {
	db.initMu.Lock()
	db.initDone = false
	db.initMu.Unlock()
	db.mu.Lock()
	db.colls = map[string]*collState{}
	db.mu.Unlock()
}

func (db *DB) state(coll string) *collState {
	db.mu.Lock()
	defer db.mu.Unlock()
	st, ok := db.colls[coll]
	if !ok {
		st = &collState{}
		db.colls[coll] = st
	}
	return st
}

// Collection returns the named collection. An invalid name yields a
// collection whose every call fails with store.ErrInvalid.
func (db *DB) Collection(name string) store.Collection {
	if err := store.ValidCollectionName(name); err != nil {
		return &Collection{db: db, name: name, err: err}
	}
	return &Collection{db: db, name: name, mc: db.mdb.Collection(name)}
}

// Collections lists the user collections, sorted, without the adapter's
// internal ones.
func (db *DB) Collections(ctx context.Context) ([]string, error) {
	if err := db.p.checkOpen(); err != nil {
		return nil, err
	}
	ctx, cancel := db.p.opContext(ctx)
	defer cancel()
	names, err := db.mdb.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return nil, db.p.wrap(fmt.Sprintf("database %q: list collections", db.name), err)
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		if strings.HasPrefix(n, internalPrefix) || strings.HasPrefix(n, "system.") {
			continue
		}
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// DropCollection drops the collection and its indexes. Its allocation
// records stay, so that a collection created again under the same name
// continues the change sequence instead of reusing _seq values readers
// have already passed.
func (db *DB) DropCollection(ctx context.Context, name string) error {
	if err := db.p.checkOpen(); err != nil {
		return err
	}
	if err := store.ValidCollectionName(name); err != nil {
		return err
	}
	ctx, cancel := db.p.opContext(ctx)
	defer cancel()
	st := db.state(name)
	st.idxMu.Lock()
	st.indexed = false
	st.idxMu.Unlock()
	if err := db.mdb.Collection(name).Drop(ctx); err != nil {
		return db.p.wrap(fmt.Sprintf("drop collection %q", name), err)
	}
	return nil
}
