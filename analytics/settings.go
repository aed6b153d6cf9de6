package analytics

import (
	"context"
	"errors"
	"fmt"

	"github.com/skybridgehq/skybridge/store"
)

// Settings are an environment's analytics settings.
type Settings struct {
	// RetentionDays is how many days of counts the environment keeps,
	// MinRetentionDays to MaxRetentionDays. Default: Config.RetentionDays.
	RetentionDays int `json:"retentionDays"`
}

// settingsID is the one document of collSettings.
const settingsID = "settings"

// Settings returns db's settings, the defaults where none are stored.
func (s *Service) Settings(ctx context.Context, db store.DB) (Settings, error) {
	d, err := db.Collection(collSettings).Get(ctx, settingsID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Settings{RetentionDays: s.cfg.RetentionDays}, nil
	case err != nil:
		return Settings{}, fmt.Errorf("analytics: read settings: %w", err)
	}
	n, ok := store.Int64(d["retentionDays"])
	if !ok || n < MinRetentionDays || n > MaxRetentionDays {
		n = int64(s.cfg.RetentionDays)
	}
	return Settings{RetentionDays: int(n)}, nil
}

// SetSettings validates st and stores it as db's settings.
func (s *Service) SetSettings(ctx context.Context, db store.DB, st Settings) error {
	if st.RetentionDays < MinRetentionDays || st.RetentionDays > MaxRetentionDays {
		return fieldErr("retentionDays", "%d: want %d to %d", st.RetentionDays, MinRetentionDays, MaxRetentionDays)
	}
	coll := db.Collection(collSettings)
	doc := store.Doc{store.FieldID: settingsID, "retentionDays": int64(st.RetentionDays)}
	for range 3 { // lost races with another writer: read again
		cur, err := coll.Get(ctx, settingsID)
		if errors.Is(err, store.ErrNotFound) {
			_, err = coll.Insert(ctx, doc)
		} else if err == nil {
			_, err = coll.Replace(ctx, settingsID, store.DocVersion(cur), doc)
		}
		if errors.Is(err, store.ErrDuplicate) || errors.Is(err, store.ErrVersionConflict) || errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("analytics: store settings: %w", err)
		}
		return nil
	}
	return fmt.Errorf("analytics: store settings: %w", store.ErrVersionConflict)
}
