package objectstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/skybridgehq/skybridge/store"
)

// Conflict strategies of offline sync (DESIGN.md §5).
const (
	ConflictReject        = "reject"
	ConflictServerWins    = "server-wins"
	ConflictClientWins    = "client-wins"
	ConflictLastWriteWins = "last-write-wins"
	ConflictMergeFields   = "merge-fields"
	// DefaultConflict is the strategy of a new collection.
	DefaultConflict = ConflictReject
)

const (
	maxIndexesPerColl      = 16
	maxCacheTTL            = 24 * time.Hour
	maxSettingsWriteTries  = 8
	fieldSettingsRules     = "rules"
	fieldSettingsSchema    = "schema"
	fieldSettingsIndexes   = "indexes"
	fieldSettingsConflict  = "conflict"
	fieldSettingsCacheTTL  = "cacheTTL"
	fieldSettingsCreatedAt = "createdAt"
	fieldSettingsUpdatedAt = "updatedAt"
)

// Settings are one collection's configuration, set by admins.
type Settings struct {
	// Name is the collection's name.
	Name string `json:"name"`
	// Rules say who may read, create, update and delete objects.
	Rules Rules `json:"rules"`
	// Schema is the JSON Schema (draft 2020-12 by default) every write is
	// checked against; empty when there is none.
	Schema json.RawMessage `json:"schema,omitempty"`
	// Indexes are the declared indexes on the collection's objects.
	Indexes []store.Index `json:"indexes"`
	// Conflict is the offline sync conflict strategy. Default: reject.
	Conflict string `json:"conflict"`
	// CacheTTL is how long reads of the collection may be cached; 0 means
	// not cached.
	CacheTTL time.Duration `json:"-"`
	// CreatedAt and UpdatedAt are when the settings were first and last
	// written.
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// RulesPatch changes some rules; nil fields keep their value.
type RulesPatch struct {
	Read, Create, Update, Delete *string
}

// SettingsPatch changes some settings of a collection; nil fields keep
// their value.
type SettingsPatch struct {
	// Rules replaces the rules it names.
	Rules *RulesPatch
	// Schema replaces the schema; JSON null (or empty) removes it.
	Schema *json.RawMessage
	// Indexes replaces the declared index list. Each index is ensured on
	// the objects; one left out of the new list stays in the store (the
	// store has no index removal) but is no longer declared.
	Indexes *[]store.Index
	// Conflict replaces the sync conflict strategy.
	Conflict *string
	// CacheTTL replaces the read cache duration (0 to 24h).
	CacheTTL *time.Duration
}

func defaultSettings(name string, now time.Time) Settings {
	return Settings{Name: name, Rules: DefaultRules, Conflict: DefaultConflict, CreatedAt: now, UpdatedAt: now}
}

// apply returns s changed by patch, validated.
func (s Settings) apply(patch SettingsPatch) (Settings, error) {
	if r := patch.Rules; r != nil {
		for _, f := range []struct {
			dst *string
			src *string
		}{{&s.Rules.Read, r.Read}, {&s.Rules.Create, r.Create}, {&s.Rules.Update, r.Update}, {&s.Rules.Delete, r.Delete}} {
			if f.src != nil {
				*f.dst = *f.src
			}
		}
	}
	if err := s.Rules.validate(); err != nil {
		return s, err
	}
	if patch.Schema != nil {
		sch, err := compileSchema(*patch.Schema)
		if err != nil {
			return s, err
		}
		s.Schema = nil
		if sch != nil {
			s.Schema = append(json.RawMessage(nil), *patch.Schema...)
		}
	}
	if patch.Indexes != nil {
		idxs := *patch.Indexes
		if len(idxs) > maxIndexesPerColl {
			return s, fieldErr(fieldSettingsIndexes, ErrInvalid, "more than %d indexes", maxIndexesPerColl)
		}
		names := map[string]bool{}
		for i, idx := range idxs {
			f := fmt.Sprintf("%s[%d]", fieldSettingsIndexes, i)
			if err := idx.Validate(); err != nil {
				return s, &FieldError{Field: f, Err: fmt.Errorf("%w: %v", ErrInvalid, err)}
			}
			if names[idx.IndexName()] {
				return s, fieldErr(f, ErrInvalid, "index name %q repeated", idx.IndexName())
			}
			names[idx.IndexName()] = true
		}
		s.Indexes = slices.Clone(idxs)
	}
	if patch.Conflict != nil {
		switch *patch.Conflict {
		case ConflictReject, ConflictServerWins, ConflictClientWins, ConflictLastWriteWins, ConflictMergeFields:
			s.Conflict = *patch.Conflict
		default:
			return s, fieldErr(fieldSettingsConflict, ErrInvalid, "%q is not a conflict strategy (reject, server-wins, client-wins, last-write-wins, merge-fields)", *patch.Conflict)
		}
	}
	if patch.CacheTTL != nil {
		if d := *patch.CacheTTL; d < 0 || d > maxCacheTTL {
			return s, fieldErr("cache.ttl", ErrInvalid, "must be between 0 and %s", maxCacheTTL)
		}
		s.CacheTTL = *patch.CacheTTL
	}
	return s, nil
}

// doc is the settings document stored in collSettings. The schema is kept
// as a string: its keywords ($schema, $ref, ...) are not store field names.
func (s Settings) doc() store.Doc {
	idxs := make([]any, 0, len(s.Indexes))
	for _, idx := range s.Indexes {
		fields := make([]any, len(idx.Fields))
		for i, f := range idx.Fields {
			fields[i] = f
		}
		idxs = append(idxs, map[string]any{"name": idx.Name, "fields": fields, "unique": idx.Unique})
	}
	return store.Doc{
		store.FieldID:          s.Name,
		fieldSettingsRules:     map[string]any{"read": s.Rules.Read, "create": s.Rules.Create, "update": s.Rules.Update, "delete": s.Rules.Delete},
		fieldSettingsSchema:    string(s.Schema),
		fieldSettingsIndexes:   idxs,
		fieldSettingsConflict:  s.Conflict,
		fieldSettingsCacheTTL:  s.CacheTTL.String(),
		fieldSettingsCreatedAt: store.FormatTime(s.CreatedAt),
		fieldSettingsUpdatedAt: store.FormatTime(s.UpdatedAt),
	}
}

func settingsFromDoc(d store.Doc) (Settings, error) {
	str := func(m map[string]any, k string) string { v, _ := m[k].(string); return v }
	s := Settings{Name: store.DocID(d), Conflict: str(d, fieldSettingsConflict)}
	rules, _ := d[fieldSettingsRules].(map[string]any)
	s.Rules = Rules{Read: str(rules, "read"), Create: str(rules, "create"), Update: str(rules, "update"), Delete: str(rules, "delete")}
	if raw := str(d, fieldSettingsSchema); raw != "" {
		s.Schema = json.RawMessage(raw)
	}
	list, _ := d[fieldSettingsIndexes].([]any)
	for _, e := range list {
		m, _ := e.(map[string]any)
		idx := store.Index{Name: str(m, "name")}
		idx.Unique, _ = m["unique"].(bool)
		fields, _ := m["fields"].([]any)
		for _, f := range fields {
			if fs, ok := f.(string); ok {
				idx.Fields = append(idx.Fields, fs)
			}
		}
		s.Indexes = append(s.Indexes, idx)
	}
	var err error
	if s.CacheTTL, err = time.ParseDuration(str(d, fieldSettingsCacheTTL)); err != nil {
		return s, fmt.Errorf("objectstore: settings of %q: cacheTTL: %w", s.Name, err)
	}
	for _, t := range []struct {
		dst *time.Time
		key string
	}{{&s.CreatedAt, fieldSettingsCreatedAt}, {&s.UpdatedAt, fieldSettingsUpdatedAt}} {
		if *t.dst, err = time.Parse(store.TimeFormat, str(d, t.key)); err != nil {
			return s, fmt.Errorf("objectstore: settings of %q: %s: %w", s.Name, t.key, err)
		}
	}
	if err := s.Rules.validate(); err != nil {
		return s, fmt.Errorf("objectstore: settings of %q: %w", s.Name, err)
	}
	return s, nil
}

// GetSettings returns the settings of collection col, or
// ErrCollectionNotFound.
func (s *Service) GetSettings(ctx context.Context, env Env, col string) (Settings, error) {
	if err := ValidCollectionName(col); err != nil {
		return Settings{}, err
	}
	db, err := s.db(ctx, env)
	if err != nil {
		return Settings{}, err
	}
	st, err := s.loadCollection(ctx, db, col, true)
	if err != nil {
		return Settings{}, err
	}
	if !st.exists {
		return Settings{}, fmt.Errorf("collection %q: %w", col, ErrCollectionNotFound)
	}
	return st.settings, nil
}

// ListCollections returns the settings of every collection of the
// environment, sorted by name.
func (s *Service) ListCollections(ctx context.Context, env Env) ([]Settings, error) {
	db, err := s.db(ctx, env)
	if err != nil {
		return nil, err
	}
	var out []Settings
	q := store.Query{Limit: store.MaxLimit}
	for {
		page, err := db.Collection(collSettings).Find(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("objectstore: list collections: %w", err)
		}
		for _, d := range page.Docs {
			st, err := settingsFromDoc(d)
			if err != nil {
				return nil, err
			}
			out = append(out, st)
		}
		if page.Cursor == "" {
			return out, nil
		}
		q.Cursor = page.Cursor
	}
}

// PutSettings changes the settings of collection col, creating the
// collection with the default settings first when it does not exist. The
// patch's indexes are ensured before the settings are saved, so that a
// unique index the existing objects break (ErrConflict) changes nothing.
func (s *Service) PutSettings(ctx context.Context, env Env, col string, patch SettingsPatch) (Settings, error) {
	if err := ValidCollectionName(col); err != nil {
		return Settings{}, err
	}
	db, err := s.db(ctx, env)
	if err != nil {
		return Settings{}, err
	}
	defer s.settings.forget(db.Name(), col)
	settings := db.Collection(collSettings)
	for try := 0; ; try++ {
		cur, err := settings.Get(ctx, col)
		var old Settings
		var version int64
		switch {
		case errors.Is(err, store.ErrNotFound):
			old = defaultSettings(col, s.now())
		case err != nil:
			return Settings{}, fmt.Errorf("objectstore: settings of %q: %w", col, err)
		default:
			if old, err = settingsFromDoc(cur); err != nil {
				return Settings{}, err
			}
			version = store.DocVersion(cur)
		}
		next, err := old.apply(patch)
		if err != nil {
			return Settings{}, err
		}
		next.UpdatedAt = s.now()
		if err := ensureIndexes(ctx, objects(db, col), next.Indexes); err != nil {
			return Settings{}, err
		}
		if version == 0 {
			_, err = settings.Insert(ctx, next.doc())
		} else {
			_, err = settings.Replace(ctx, col, version, next.doc())
		}
		if err == nil {
			return next, nil
		}
		if !(errors.Is(err, store.ErrDuplicate) || errors.Is(err, store.ErrVersionConflict)) || try >= maxSettingsWriteTries {
			return Settings{}, fmt.Errorf("objectstore: save settings of %q: %w", col, err)
		}
	}
}

// ensureIndexes ensures the declared indexes, mapping a unique index that
// the stored objects break to ErrConflict on the index.
func ensureIndexes(ctx context.Context, c store.Collection, idxs []store.Index) error {
	for i, idx := range idxs {
		if err := c.EnsureIndex(ctx, idx); err != nil {
			f := fmt.Sprintf("%s[%d]", fieldSettingsIndexes, i)
			switch {
			case errors.Is(err, store.ErrDuplicate):
				return &FieldError{Field: f, Err: fmt.Errorf("%w: the stored objects break the unique index: %v", ErrConflict, err)}
			case errors.Is(err, store.ErrInvalid):
				return &FieldError{Field: f, Err: fmt.Errorf("%w: %v", ErrInvalid, err)}
			}
			return fmt.Errorf("objectstore: ensure index %s: %w", idx.IndexName(), err)
		}
	}
	return nil
}

// collState is what a request needs of a collection: whether it exists,
// its settings and its compiled schema.
type collState struct {
	exists   bool
	settings Settings
	schema   *jsonschema.Schema
}

// loadCollection returns the collection's state, from the cache unless
// fresh is set.
func (s *Service) loadCollection(ctx context.Context, db store.DB, col string, fresh bool) (*collState, error) {
	if !fresh {
		if st := s.settings.get(db.Name(), col, s.cfg.Now()); st != nil {
			return st, nil
		}
	}
	d, err := db.Collection(collSettings).Get(ctx, col)
	st := &collState{}
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("objectstore: settings of %q: %w", col, err)
	default:
		if st.settings, err = settingsFromDoc(d); err != nil {
			return nil, err
		}
		if st.schema, err = compileSchema(st.settings.Schema); err != nil {
			return nil, fmt.Errorf("objectstore: stored schema of %q: %w", col, err)
		}
		st.exists = true
	}
	if s.cfg.SettingsCacheTTL > 0 {
		s.settings.put(db.Name(), col, st, s.cfg.Now().Add(s.cfg.SettingsCacheTTL))
	}
	return st, nil
}

// collectionForWrite returns the state of col for a write by p, creating
// the collection with the default settings when it is missing and p may
// create it, else ErrCollectionNotFound.
func (s *Service) collectionForWrite(ctx context.Context, db store.DB, env Env, p Principal, col string) (*collState, error) {
	st, err := s.loadCollection(ctx, db, col, false)
	if err != nil || st.exists {
		return st, err
	}
	if !env.AllowClientCreate && !p.Server {
		return nil, fmt.Errorf("collection %q: %w", col, ErrCollectionNotFound)
	}
	_, err = db.Collection(collSettings).Insert(ctx, defaultSettings(col, s.now()).doc())
	if err != nil && !errors.Is(err, store.ErrDuplicate) {
		return nil, fmt.Errorf("objectstore: create collection %q: %w", col, err)
	}
	if err == nil {
		s.log.InfoContext(ctx, "collection created by first write", "db", db.Name(), "collection", col, "server", p.Server)
	}
	s.settings.forget(db.Name(), col)
	st, err = s.loadCollection(ctx, db, col, true)
	if err != nil {
		return nil, err
	}
	if !st.exists {
		return nil, fmt.Errorf("collection %q: %w", col, ErrCollectionNotFound)
	}
	return st, nil
}

// DropCollection deletes collection col: its objects (tombstones
// included, so sync clients are not told), its indexes and its settings.
// A missing collection is ErrCollectionNotFound.
func (s *Service) DropCollection(ctx context.Context, env Env, col string) error {
	if err := ValidCollectionName(col); err != nil {
		return err
	}
	db, err := s.db(ctx, env)
	if err != nil {
		return err
	}
	defer s.settings.forget(db.Name(), col)
	// Settings first: once they are gone no client write recreates the
	// objects unless the environment lets clients create collections.
	if err := db.Collection(collSettings).Delete(ctx, col, 0); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("collection %q: %w", col, ErrCollectionNotFound)
		}
		return fmt.Errorf("objectstore: drop settings of %q: %w", col, err)
	}
	if err := db.DropCollection(ctx, objectsPrefix+col); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("objectstore: drop objects of %q: %w", col, err)
	}
	return nil
}
