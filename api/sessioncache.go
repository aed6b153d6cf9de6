package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/cache"
	"github.com/skybridgehq/skybridge/store"
)

// sessionCacheTTL is how long a passed session check is cached. Every
// write to the session or its user removes the entry at once
// (SessionCacheStore); the TTL only bounds a check that read the store
// just before a concurrent revocation committed.
const sessionCacheTTL = 10 * time.Second

// Store collections whose writes invalidate cached session checks: the
// auth package's users and sessions.
const (
	usersCollection    = "users"
	sessionsCollection = "sessions"
)

func userTag(ns cache.Namespace, uid string) string    { return ns.Tag("user:" + uid) }
func sessionTag(ns cache.Namespace, sid string) string { return ns.Tag("session:" + sid) }
func sessionKey(ns cache.Namespace, c auth.UserClaims) string {
	return ns.Key("session", c.SessionID, c.UserID)
}

// checkSession is auth's CheckSession, cached per session and user: only
// passed checks are cached, so a refused token reads the store each time.
func (a *API) checkSession(ctx context.Context, env auth.Environment, db store.DB, claims auth.UserClaims) (auth.User, error) {
	if a.loader == nil {
		return a.deps.Auth.CheckSession(ctx, db, claims)
	}
	ns := cache.NewNamespace(env.AppID, env.Name)
	raw, _, err := a.loader.GetOrLoad(ctx, sessionKey(ns, claims), cache.LoadOptions{
		TTL:  sessionCacheTTL,
		Tags: []string{userTag(ns, claims.UserID), sessionTag(ns, claims.SessionID), ns.All()},
	}, func(ctx context.Context) ([]byte, error) {
		u, err := a.deps.Auth.CheckSession(ctx, db, claims)
		if err != nil {
			return nil, err
		}
		return json.Marshal(u)
	})
	if err != nil {
		return auth.User{}, err
	}
	var u auth.User
	if err := json.Unmarshal(raw, &u); err != nil {
		return a.deps.Auth.CheckSession(ctx, db, claims)
	}
	return u, nil
}

// SessionCacheStore wraps p so that every write to an environment's users
// or sessions (a logout, a revoked refresh family, a disabled, changed or
// deleted user, pruning) removes the cached session checks of that user
// or session from c at once: write-through, whoever writes.
func SessionCacheStore(p store.Provider, c cache.Cache, log *slog.Logger) store.Provider {
	return sessionProvider{Provider: p, c: c, log: log, wrapped: new(sync.Map)}
}

type sessionProvider struct {
	store.Provider
	c   cache.Cache
	log *slog.Logger
	// wrapped keeps the wrapper of each database by name, as a store.DB
	// holding a sessionDB: every /v1 request asks for its database, and
	// the wrapper (with its namespace) need not be built each time.
	wrapped *sync.Map
}

func (p sessionProvider) DB(ctx context.Context, name string) (store.DB, error) {
	db, err := p.Provider.DB(ctx, name)
	if err != nil {
		return nil, err
	}
	appID, env, ok := strings.Cut(name, "_") // store.EnvDBName; the system database has no '_'
	if !ok {
		return db, nil
	}
	if w, ok := p.wrapped.Load(name); ok && sameDB(w.(sessionDB).DB, db) {
		return w.(store.DB), nil
	}
	var w store.DB = sessionDB{DB: db, p: p, ns: cache.NewNamespace(appID, env)}
	p.wrapped.Store(name, w)
	return w, nil
}

// sameDB reports whether a and b are the same database handle (the
// adapters hand out pointers; a handle of a type that cannot be compared
// is never taken for the same).
func sameDB(a, b store.DB) bool {
	return reflect.TypeOf(a) == reflect.TypeOf(b) && reflect.TypeOf(a).Comparable() && a == b
}

type sessionDB struct {
	store.DB
	p  sessionProvider
	ns cache.Namespace
}

func (d sessionDB) Collection(name string) store.Collection {
	c := d.DB.Collection(name)
	switch name {
	case usersCollection:
		return sessionColl{Collection: c, d: d, tag: func(id string) string { return userTag(d.ns, id) }}
	case sessionsCollection:
		return sessionColl{Collection: c, d: d, tag: func(id string) string { return sessionTag(d.ns, id) }}
	}
	return c
}

// sessionColl invalidates the tag of every document it changes.
type sessionColl struct {
	store.Collection
	d   sessionDB
	tag func(id string) string
}

func (c sessionColl) invalidate(ctx context.Context, id string) {
	if err := c.d.p.c.InvalidateTags(context.WithoutCancel(ctx), c.tag(id)); err != nil {
		c.d.p.log.Warn("cache: invalidate cached session checks", "error", err.Error())
	}
}

func (c sessionColl) Replace(ctx context.Context, id string, version int64, doc store.Doc) (store.Doc, error) {
	out, err := c.Collection.Replace(ctx, id, version, doc)
	c.invalidate(ctx, id)
	return out, err
}

func (c sessionColl) Update(ctx context.Context, id string, version int64, u store.Update) (store.Doc, error) {
	out, err := c.Collection.Update(ctx, id, version, u)
	c.invalidate(ctx, id)
	return out, err
}

func (c sessionColl) Delete(ctx context.Context, id string, version int64) error {
	err := c.Collection.Delete(ctx, id, version)
	c.invalidate(ctx, id)
	return err
}
