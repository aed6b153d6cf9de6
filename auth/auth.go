// Package auth owns who may call Skybridge: admins (argon2id passwords,
// admin JWTs), apps and their environments, and the keys that identify them
// (public app keys, secret server keys, rotation with a grace period), and
// the app users of each environment (users.go, usertoken.go, refresh.go).
//
// Admins, apps and keys live in the system database, in the collections
// listed by SystemIndexes; app users and their sessions live in their
// environment's own database (UserIndexes). There are no transactions:
// each write touches one document, and multi-document writes are ordered
// so that a failure half way leaves nothing usable behind (see CreateApp).
package auth

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/sync/semaphore"
	"golang.org/x/sync/singleflight"

	"github.com/skybridgehq/skybridge/keyring"
	"github.com/skybridgehq/skybridge/store"
)

// Sentinel errors. Test with errors.Is; only the api package turns them
// into HTTP statuses.
var (
	// ErrNotFound: no such admin, app or environment.
	ErrNotFound = errors.New("auth: not found")
	// ErrBadCredentials: unknown email or wrong password (never which).
	ErrBadCredentials = errors.New("auth: bad credentials")
	// ErrWeakPassword: the password is too short (see MinPasswordLen).
	ErrWeakPassword = errors.New("auth: weak password")
	// ErrExists: an admin with that email, or an environment with that
	// name, exists already.
	ErrExists = errors.New("auth: already exists")
	// ErrInvalid: a malformed email, name, role, key kind or grace period.
	ErrInvalid = errors.New("auth: invalid argument")
	// ErrConflict: a record changed between read and write; retry.
	ErrConflict = errors.New("auth: conflict")
	// ErrUnauthorized: a token or key that is malformed, unknown, expired
	// or forged.
	ErrUnauthorized = errors.New("auth: unauthorized")
	// ErrOIDCProvider: an OpenID provider could not be reached or gave an
	// answer that is not the protocol (discovery, token endpoint).
	ErrOIDCProvider = errors.New("auth: OpenID provider failed")
)

// Collections of the system database that this package owns.
const (
	collAdmins       = "admins"
	collApps         = "apps"
	collEnvironments = "environments"
)

// Config tunes a Service. The zero value means every default.
type Config struct {
	// AdminTokenTTL is how long an admin token stays valid. Default: 1h.
	AdminTokenTTL time.Duration
	// AccessTokenTTL is how long an app user's access token stays valid.
	// Default: 15m.
	AccessTokenTTL time.Duration
	// RefreshTokenTTL is how long an app user's session (refresh token
	// family) lasts without a refresh. Default: 30 days.
	RefreshTokenTTL time.Duration
	// KeyCacheTTL is how long a resolved app key, and an environment's
	// server key hashes, stay cached in memory. A rotation is seen at once
	// on the node that made it, and on other nodes within KeyCacheTTL.
	// Negative disables the cache. Default: 10s.
	KeyCacheTTL time.Duration
	// KeyCacheSize bounds the number of cached keys; the least recently
	// used go first. Default: 10000.
	KeyCacheSize int
	// Password holds the argon2id cost of new password hashes; zero fields
	// take the defaults of DefaultPasswordParams. Existing hashes keep the
	// cost they were made with and are upgraded at the next login.
	Password PasswordParams
	// MaxConcurrentHashes bounds how many password hashes run at once,
	// each taking Password.Memory KiB, so that a burst of logins cannot
	// exhaust memory. Default: GOMAXPROCS.
	MaxConcurrentHashes int
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// Logger receives errors that cannot be returned. Default:
	// slog.Default().
	Logger *slog.Logger
	// Mailer sends verification and password reset mails (usermail.go).
	// Default: a mail.Sender with its defaults.
	Mailer Mailer
}

// Defaults of Config.
const (
	DefaultAdminTokenTTL   = time.Hour
	DefaultAccessTokenTTL  = 15 * time.Minute
	DefaultRefreshTokenTTL = 30 * 24 * time.Hour
	DefaultKeyCacheTTL     = 10 * time.Second
	DefaultKeyCacheSize    = 10000
)

func (c Config) withDefaults() Config {
	if c.AdminTokenTTL <= 0 {
		c.AdminTokenTTL = DefaultAdminTokenTTL
	}
	if c.AccessTokenTTL <= 0 {
		c.AccessTokenTTL = DefaultAccessTokenTTL
	}
	if c.RefreshTokenTTL <= 0 {
		c.RefreshTokenTTL = DefaultRefreshTokenTTL
	}
	if c.KeyCacheTTL == 0 {
		c.KeyCacheTTL = DefaultKeyCacheTTL
	}
	if c.KeyCacheSize <= 0 {
		c.KeyCacheSize = DefaultKeyCacheSize
	}
	c.Password = c.Password.withDefaults()
	if c.MaxConcurrentHashes <= 0 {
		c.MaxConcurrentHashes = runtime.GOMAXPROCS(0)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Service manages admins, apps, environments and their keys. It is safe
// for concurrent use; several Services (on several nodes) may share one
// system database.
type Service struct {
	sys    store.DB
	cfg    Config
	log    *slog.Logger
	jwtKey []byte
	parser *jwt.Parser
	kr     *keyring.Keyring // derives the per-environment user token keys

	userKeys    *keyCache[userKeyGens]
	userIndexes sync.Map // store.DB -> struct{}: user pool indexes ensured

	hashes    *semaphore.Weighted
	hashing   atomic.Int32  // hashes running now
	dummyHash func() string // hash that unknown emails are checked against
	// derived, when set (by tests), learns the parameters of every
	// password key verifyPassword derives.
	derived func(PasswordParams)

	appKeys    *keyCache[resolvedKey]
	serverKeys *keyCache[serverHashes]
	lookups    singleflight.Group

	oidc oidcCache // discovered OpenID providers (oidccache.go)

	mailJobs mailJobs // background password reset mails (usermailtoken.go)
}

// NewService returns a Service over the system database sys, signing admin
// tokens with a key derived from kr. The indexes of SystemIndexes must
// exist in sys (the migrations create them).
func NewService(sys store.DB, kr *keyring.Keyring, cfg Config) *Service {
	if sys == nil || kr == nil {
		panic("auth: NewService needs a system database and a keyring")
	}
	cfg = cfg.withDefaults()
	s := &Service{
		sys:        sys,
		cfg:        cfg,
		log:        cfg.Logger.With("component", "auth"),
		jwtKey:     kr.Derive(adminJWTPurpose),
		kr:         kr,
		userKeys:   newKeyCache[userKeyGens](cfg.KeyCacheSize),
		hashes:     semaphore.NewWeighted(int64(cfg.MaxConcurrentHashes)),
		appKeys:    newKeyCache[resolvedKey](cfg.KeyCacheSize),
		serverKeys: newKeyCache[serverHashes](cfg.KeyCacheSize),
	}
	s.parser = newAdminTokenParser(cfg.Now)
	s.dummyHash = newDummyHash(cfg.Password)
	return s
}

// SystemIndexes returns the indexes this package needs in the system
// database, by collection name. The migrations create them.
func SystemIndexes() map[string][]store.Index {
	return map[string][]store.Index{
		collAdmins: {
			{Name: "admins_email_u", Fields: []string{"email"}, Unique: true},
		},
		collApps: {
			{Name: "apps_created", Fields: []string{"createdAt"}},
		},
		collEnvironments: {
			{Name: "environments_app", Fields: []string{"appId"}},
			{Name: "environments_appkey_u", Fields: []string{"appKey"}, Unique: true},
			{Name: "environments_appkeyprev_u", Fields: []string{"appKeyPrev"}, Unique: true},
		},
		collDeployTokens: {
			{Name: "deploytokens_hash_u", Fields: []string{"hash"}, Unique: true},
			{Name: "deploytokens_app_env", Fields: []string{"appId", "env", "createdAt"}},
		},
		collOIDCProviders: {
			{Name: "oidcproviders_app_env", Fields: []string{"appId", "env", "name"}},
		},
	}
}

// now is the service clock, in UTC at the microsecond precision of the
// store's time strings, so that what is returned equals what is stored.
func (s *Service) now() time.Time {
	return s.cfg.Now().UTC().Truncate(time.Microsecond)
}

// parseTime reads a time written with store.FormatTime.
func parseTime(v any) (time.Time, error) {
	str, ok := v.(string)
	if !ok {
		return time.Time{}, fmt.Errorf("time field is %T, not a string", v)
	}
	t, err := time.Parse(store.TimeFormat, str)
	if err != nil {
		return time.Time{}, fmt.Errorf("time field: %w", err)
	}
	return t, nil
}

// docString reads a string field of a document ("" when absent).
func docString(d store.Doc, field string) string {
	s, _ := d[field].(string)
	return s
}
