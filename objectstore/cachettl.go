package objectstore

import (
	"context"
	"time"
)

// CacheTTL returns how long reads of col may be cached (its settings'
// "cache": {"ttl"}), from the settings cache; 0 for a collection that does
// not opt in or does not exist. Errors are the store's.
func (s *Service) CacheTTL(ctx context.Context, env Env, col string) (time.Duration, error) {
	if err := ValidCollectionName(col); err != nil {
		return 0, err
	}
	db, err := s.db(ctx, env)
	if err != nil {
		return 0, err
	}
	st, err := s.loadCollection(ctx, db, col, false)
	if err != nil || !st.exists {
		return 0, err
	}
	return st.settings.CacheTTL, nil
}
