package objectstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// Per-environment object settings live in one document of their own store
// collection in the environment's database.
const (
	collEnvSettings          = "objectSettings"
	envSettingsID            = "env"
	fieldAllowClientCreate   = "allowClientCreate"
	maxEnvSettingsWriteTries = 8
	// DevEnvironment is the environment whose clients create collections
	// by default.
	DevEnvironment = "dev"
)

// EnvSettings are an environment's policy on its object store, set by
// admins.
type EnvSettings struct {
	// AllowClientCreate lets a client's first write to a missing
	// collection create it (Parse's allowClientClassCreation). Default:
	// true in the "dev" environment, false in the others.
	AllowClientCreate bool `json:"allowClientCreate"`
}

// EnvSettingsPatch changes some of an environment's settings; nil fields
// keep their value (the stored one, else the default).
type EnvSettingsPatch struct {
	// AllowClientCreate replaces EnvSettings.AllowClientCreate.
	AllowClientCreate *bool
}

// DefaultEnvSettings are the settings of environment envName until an
// admin changes them.
func DefaultEnvSettings(envName string) EnvSettings {
	return EnvSettings{AllowClientCreate: envName == DevEnvironment}
}

// storedEnvSettings are the explicitly set fields of the settings
// document; nil fields fall back to the environment's default.
type storedEnvSettings struct {
	allowClientCreate *bool
}

func (st storedEnvSettings) resolve(envName string) EnvSettings {
	out := DefaultEnvSettings(envName)
	if st.allowClientCreate != nil {
		out.AllowClientCreate = *st.allowClientCreate
	}
	return out
}

func (st storedEnvSettings) doc() store.Doc {
	d := store.Doc{store.FieldID: envSettingsID}
	if st.allowClientCreate != nil {
		d[fieldAllowClientCreate] = *st.allowClientCreate
	}
	return d
}

func envSettingsFromDoc(db string, d store.Doc) (storedEnvSettings, error) {
	var st storedEnvSettings
	if v, ok := d[fieldAllowClientCreate]; ok && v != nil {
		b, ok := v.(bool)
		if !ok {
			return st, fmt.Errorf("objectstore: object settings of %q: %s is %T, not a boolean", db, fieldAllowClientCreate, v)
		}
		st.allowClientCreate = &b
	}
	return st, nil
}

// EnvSettings returns the object settings of the environment whose
// database is db and whose name is envName: the stored ones, with the
// defaults (DefaultEnvSettings) for what was never set. They are cached
// in memory for Config.SettingsCacheTTL, like collection settings: this
// node sees its own changes at once, other nodes within the TTL.
func (s *Service) EnvSettings(ctx context.Context, db string, envName string) (EnvSettings, error) {
	if s.cfg.SettingsCacheTTL > 0 {
		if st, ok := s.envSettings.get(db, s.cfg.Now()); ok {
			return st.resolve(envName), nil
		}
	}
	sdb, err := s.db(ctx, Env{DB: db})
	if err != nil {
		return EnvSettings{}, err
	}
	st, _, err := loadEnvSettings(ctx, sdb)
	if err != nil {
		return EnvSettings{}, err
	}
	if s.cfg.SettingsCacheTTL > 0 {
		s.envSettings.put(db, st, s.cfg.Now().Add(s.cfg.SettingsCacheTTL))
	}
	return st.resolve(envName), nil
}

// loadEnvSettings reads the stored settings and their document's _v (0
// when none are stored).
func loadEnvSettings(ctx context.Context, db store.DB) (storedEnvSettings, int64, error) {
	d, err := db.Collection(collEnvSettings).Get(ctx, envSettingsID)
	if errors.Is(err, store.ErrNotFound) {
		return storedEnvSettings{}, 0, nil
	}
	if err != nil {
		return storedEnvSettings{}, 0, fmt.Errorf("objectstore: object settings of %q: %w", db.Name(), err)
	}
	st, err := envSettingsFromDoc(db.Name(), d)
	return st, store.DocVersion(d), err
}

// PutEnvSettings changes the object settings of the environment whose
// database is db and whose name is envName, and returns them whole. Only
// the fields the patch sets are stored: the others keep following the
// defaults.
func (s *Service) PutEnvSettings(ctx context.Context, db string, envName string, patch EnvSettingsPatch) (EnvSettings, error) {
	sdb, err := s.db(ctx, Env{DB: db})
	if err != nil {
		return EnvSettings{}, err
	}
	defer s.envSettings.forget(db)
	c := sdb.Collection(collEnvSettings)
	for try := 1; ; try++ {
		st, version, err := loadEnvSettings(ctx, sdb)
		if err != nil {
			return EnvSettings{}, err
		}
		if patch.AllowClientCreate != nil {
			v := *patch.AllowClientCreate
			st.allowClientCreate = &v
		}
		if version == 0 {
			_, err = c.Insert(ctx, st.doc())
		} else {
			_, err = c.Replace(ctx, envSettingsID, version, st.doc())
		}
		if err == nil {
			return st.resolve(envName), nil
		}
		// A concurrent writer got there first: apply the patch to its
		// version.
		if !(errors.Is(err, store.ErrDuplicate) || errors.Is(err, store.ErrVersionConflict)) || try >= maxEnvSettingsWriteTries {
			return EnvSettings{}, fmt.Errorf("objectstore: save object settings of %q: %w", db, err)
		}
	}
}

// envSettingsCache keeps the stored object settings by database name
// until they expire. The zero value is ready to use.
type envSettingsCache struct {
	mu sync.Mutex
	m  map[string]cachedEnvSettings
}

type cachedEnvSettings struct {
	st      storedEnvSettings
	expires time.Time
}

func (c *envSettingsCache) get(db string, now time.Time) (storedEnvSettings, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[db]
	if !ok || !now.Before(e.expires) {
		return storedEnvSettings{}, false
	}
	return e.st, true
}

func (c *envSettingsCache) put(db string, st storedEnvSettings, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedCollections {
		c.m = map[string]cachedEnvSettings{}
	}
	c.m[db] = cachedEnvSettings{st: st, expires: expires}
}

func (c *envSettingsCache) forget(db string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, db)
}
