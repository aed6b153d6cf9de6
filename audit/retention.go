package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// MaxRetentionDays bounds a chain's retention: ten years.
const MaxRetentionDays = 3650

// Retention is how long one chain keeps its records.
type Retention struct {
	// Days the chain keeps records; 0 means it sets none and follows the
	// service's default.
	Days int `json:"days"`
	// Effective is what applies: Days, or the default (Config.Retention);
	// 0 means the records are kept forever.
	Effective time.Duration `json:"-"`
}

// SetRetention makes chain keep its records for days days; 0 clears the
// chain's own setting, so that the default applies again.
func (s *Service) SetRetention(ctx context.Context, chain string, days int) error {
	if days < 0 || days > MaxRetentionDays {
		return fmt.Errorf("%w: retention days must be 0 to %d", ErrInvalid, MaxRetentionDays)
	}
	if days == 0 {
		err := s.settings.Delete(ctx, chain, 0)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("audit: set retention of %q: %w", chain, err)
		}
		return nil
	}
	doc := store.Doc{store.FieldID: chain, "retentionDays": int64(days)}
	_, err := s.settings.Replace(ctx, chain, 0, doc)
	if errors.Is(err, store.ErrNotFound) {
		_, err = s.settings.Insert(ctx, doc)
		if errors.Is(err, store.ErrDuplicate) { // a racing first write: ours goes on top
			_, err = s.settings.Replace(ctx, chain, 0, doc)
		}
	}
	if err != nil {
		return fmt.Errorf("audit: set retention of %q: %w", chain, err)
	}
	return nil
}

// RetentionOf returns chain's retention.
func (s *Service) RetentionOf(ctx context.Context, chain string) (Retention, error) {
	r := Retention{Effective: s.cfg.Retention}
	d, err := s.settings.Get(ctx, chain)
	if errors.Is(err, store.ErrNotFound) {
		return r, nil
	}
	if err != nil {
		return r, fmt.Errorf("audit: retention of %q: %w", chain, err)
	}
	n, ok := store.Int64(d["retentionDays"])
	if !ok || n < 1 || n > MaxRetentionDays {
		return r, fmt.Errorf("audit: retention of %q: stored value %v is malformed", chain, d["retentionDays"])
	}
	r.Days = int(n)
	r.Effective = time.Duration(n) * 24 * time.Hour
	return r, nil
}

// PruneExpired prunes each of chains by its retention (see Prune): it
// removes the records older than the retention, keeping the chain
// verifiable. Chains kept forever are skipped. It goes on past a chain
// that fails (a broken chain is never pruned) and returns how many
// records it removed and the failures joined.
func (s *Service) PruneExpired(ctx context.Context, chains []string) (int, error) {
	removed := 0
	var errs []error
	for _, chain := range chains {
		r, err := s.RetentionOf(ctx, chain)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if r.Effective <= 0 {
			continue
		}
		n, err := s.Prune(ctx, chain, s.now().Add(-r.Effective))
		removed += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return removed, errors.Join(errs...)
}
