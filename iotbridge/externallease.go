package iotbridge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// Brokers such as mosquitto 2.0 do not deliver $-topics through shared
// subscriptions, and the shadow requests live under $aws/things/. So in
// cluster mode one node at a time — the holder of this lease in the
// system database — subscribes to them (without $share); the others take
// over when it stops renewing (decision 0014).
const (
	collLeases        = "deviceLeases"
	shadowLeaseID     = "shadow-requests"
	DefaultShadowTTL  = 15 * time.Second
	shadowLeaseRenews = 3 // renewals per TTL
)

// ClaimShadowLease takes or renews the lease on the shadow request
// topics for holder, for ttl; false when another holder's lease is still
// valid.
func (s *Service) ClaimShadowLease(ctx context.Context, holder string, ttl time.Duration) (bool, error) {
	leases := s.sys.Collection(collLeases)
	now := s.now()
	doc := store.Doc{store.FieldID: shadowLeaseID, "holder": holder, "expiresAt": store.FormatTime(now.Add(ttl))}
	cur, err := leases.Get(ctx, shadowLeaseID)
	if errors.Is(err, store.ErrNotFound) {
		_, err = leases.Insert(ctx, doc)
		if errors.Is(err, store.ErrDuplicate) {
			return false, nil
		}
		return err == nil, err
	}
	if err != nil {
		return false, fmt.Errorf("iotbridge: shadow lease: %w", err)
	}
	if exp := str(cur["expiresAt"]); exp > store.FormatTime(now) && str(cur["holder"]) != holder {
		return false, nil
	}
	_, err = leases.Replace(ctx, shadowLeaseID, store.DocVersion(cur), doc)
	if errors.Is(err, store.ErrVersionConflict) || errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("iotbridge: shadow lease: %w", err)
	}
	return true, nil
}

// ReleaseShadowLease gives the lease up when holder holds it, so that
// another node takes over at its next renewal instead of after the TTL.
func (s *Service) ReleaseShadowLease(ctx context.Context, holder string) error {
	leases := s.sys.Collection(collLeases)
	cur, err := leases.Get(ctx, shadowLeaseID)
	if err != nil || str(cur["holder"]) != holder {
		return nil
	}
	if err := leases.Delete(ctx, shadowLeaseID, store.DocVersion(cur)); err != nil && !errors.Is(err, store.ErrVersionConflict) && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("iotbridge: release shadow lease: %w", err)
	}
	return nil
}

// ExternalFiltersExclusive are the filters only the lease holder
// subscribes to: the shadow requests, under $aws/things/.
func ExternalFiltersExclusive() []string {
	return []string{
		awsThingsPrefix + "+/shadow/+",
		awsThingsPrefix + "+/shadow/name/+/+",
	}
}
