package trigger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// feedLease takes or renews the feed lease, so that normally one node
// reads the change feeds and schedules. It is a courtesy, not a guard:
// two nodes reading at once (a lease taken over, or a store whose
// compare-and-swap is not atomic) enqueue the same firing ids, and the
// second insert of an id fails harmlessly.
func (s *Service) feedLease(ctx context.Context) (bool, error) {
	leases := s.sys.Collection(leasesCollection)
	now := s.now()
	doc := store.Doc{
		store.FieldID: feedLeaseID,
		"holder":      s.cfg.Holder,
		"expiresAt":   store.FormatTime(now.Add(3 * s.cfg.PollInterval).Add(time.Second)),
	}
	cur, err := leases.Get(ctx, feedLeaseID)
	if errors.Is(err, store.ErrNotFound) {
		_, err = leases.Insert(ctx, doc)
		if errors.Is(err, store.ErrDuplicate) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("feed lease: %w", err)
		}
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("feed lease: %w", err)
	}
	if exp, _ := cur["expiresAt"].(string); exp > store.FormatTime(now) && cur["holder"] != s.cfg.Holder {
		return false, nil
	}
	_, err = leases.Replace(ctx, feedLeaseID, store.DocVersion(cur), doc)
	if errors.Is(err, store.ErrVersionConflict) || errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("feed lease: %w", err)
	}
	return true, nil
}

// releaseFeedLease gives the lease up at shutdown, so that another node
// takes over the feeds at once.
func (s *Service) releaseFeedLease() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	leases := s.sys.Collection(leasesCollection)
	cur, err := leases.Get(ctx, feedLeaseID)
	if err != nil || cur["holder"] != s.cfg.Holder {
		return
	}
	if err := leases.Delete(ctx, feedLeaseID, store.DocVersion(cur)); err != nil && !errors.Is(err, store.ErrVersionConflict) {
		s.log.Warn("trigger: release the feed lease", "err", err)
	}
}
