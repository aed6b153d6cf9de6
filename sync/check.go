package sync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/skybridgehq/skybridge/objectstore"
)

// CheckRequest is the body of POST /v1/sync/check.
type CheckRequest struct {
	// Collection is the client collection.
	Collection string `json:"collection"`
	// Known are the client's [id, _v] pairs.
	Known [][]json.RawMessage `json:"known"`
}

// CheckResult says which known objects are stale.
type CheckResult struct {
	// Changed are the ids whose server _v is not the known one.
	Changed []string `json:"changed"`
	// Deleted are the ids deleted since (or that the caller may no
	// longer read).
	Deleted []string `json:"deleted"`
}

// Check compares the client's known versions with the server's.
func (s *Service) Check(ctx context.Context, env objectstore.Env, p objectstore.Principal, req CheckRequest) (CheckResult, error) {
	if err := objectstore.ValidCollectionName(req.Collection); err != nil {
		return CheckResult{}, &objectstore.FieldError{Field: "collection", Err: err}
	}
	if len(req.Known) > s.cfg.MaxKnown {
		return CheckResult{}, invalid("known", fmt.Sprintf("at most %d pairs per check", s.cfg.MaxKnown))
	}
	pairs, err := parseKnown(req.Known)
	if err != nil {
		return CheckResult{}, err
	}
	if err := s.objects.CheckReadable(ctx, env, p, req.Collection); err != nil {
		return CheckResult{}, err
	}
	out := CheckResult{Changed: []string{}, Deleted: []string{}}
	for _, k := range pairs {
		cur, err := s.objects.Stored(ctx, env, req.Collection, k.id)
		if errors.Is(err, objectstore.ErrNotFound) {
			out.Deleted = append(out.Deleted, k.id)
			continue
		}
		if err != nil {
			return CheckResult{}, err
		}
		ok, err := s.objects.CanRead(ctx, env, p, req.Collection, cur)
		if err != nil {
			return CheckResult{}, err
		}
		switch {
		case cur.Deleted() || !ok:
			out.Deleted = append(out.Deleted, k.id)
		case cur.Version() != k.v:
			out.Changed = append(out.Changed, k.id)
		}
	}
	return out, nil
}

// knownPair is one [id, _v] pair of a check.
type knownPair struct {
	id string
	v  int64
}

// parseKnown reads a check's [id, _v] pairs; a malformed one is
// ErrInvalid naming it.
func parseKnown(known [][]json.RawMessage) ([]knownPair, error) {
	pairs := make([]knownPair, len(known))
	for i, k := range known {
		f := fmt.Sprintf("known[%d]", i)
		if len(k) != 2 {
			return nil, invalid(f, "is an [id, _v] pair")
		}
		if json.Unmarshal(k[0], &pairs[i].id) != nil {
			return nil, invalid(f+"[0]", "is an id string")
		}
		if json.Unmarshal(k[1], &pairs[i].v) != nil || pairs[i].v < 0 {
			return nil, invalid(f+"[1]", "is a version, an integer from 0")
		}
		if err := objectstore.ValidID(pairs[i].id); err != nil {
			return nil, &objectstore.FieldError{Field: f + "[0]", Err: err}
		}
	}
	return pairs, nil
}

// Compact removes, in col, the tombstones older than the retention, so
// that checkpoints from before them get ErrCheckpointExpired.
func (s *Service) Compact(ctx context.Context, env objectstore.Env, col string) (int, error) {
	return s.objects.CompactTombstones(ctx, env, col, s.cfg.Now().Add(-s.cfg.TombstoneRetention))
}

// CompactEnv compacts every collection of the environment database db
// (Compact), as the maintenance pass does; it goes on past a collection
// that fails.
func (s *Service) CompactEnv(ctx context.Context, db string) (int, error) {
	env := objectstore.Env{DB: db}
	cols, err := s.objects.ListCollections(ctx, env)
	if err != nil {
		return 0, err
	}
	total := 0
	var errs []error
	for _, c := range cols {
		n, err := s.Compact(ctx, env, c.Name)
		total += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}

// PruneEnv forgets the sync bookkeeping of the environment database db
// older than the tombstone retention: change ids pushed before it (a
// replay that late comes from a client whose checkpoint answers 410
// anyway) and last-write-wins edit times noted before it (an object's
// _updatedAt stands in for a forgotten edit time). It says how many
// records it removed.
func (s *Service) PruneEnv(ctx context.Context, db string) (int, error) {
	d, err := s.provider.DB(ctx, db)
	if err != nil {
		return 0, err
	}
	cutoff := s.cfg.Now().Add(-s.cfg.TombstoneRetention)
	n, err := pruneReplays(ctx, d, cutoff)
	if err != nil {
		return n, fmt.Errorf("sync: prune change ids: %w", err)
	}
	m, err := pruneEdits(ctx, d, cutoff)
	if err != nil {
		return n + m, fmt.Errorf("sync: prune edit times: %w", err)
	}
	return n + m, nil
}
