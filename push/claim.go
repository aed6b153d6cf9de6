package push

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/skybridgehq/skybridge/store"
)

// Queue states of notifications' planning and of batches.
const (
	statePending = "pending"
	stateRunning = "running"
	stateDone    = "done"
)

// claim takes cur, a document of coll read at its current version, for
// this node: a claim document whose _id is the collection, id and version
// is inserted first (unique: exactly one node wins a version, even on
// stores whose compare-and-swap is not atomic), then cur is replaced by
// next under compare-and-swap. It reports whether this node won.
func (s *Service) claim(ctx context.Context, coll string, cur, next store.Doc) (store.Doc, bool, error) {
	id := store.DocID(cur)
	claimID := coll + ":" + id + ":" + strconv.FormatInt(store.DocVersion(cur), 10)
	claims := s.sys.Collection(ClaimsCollection)
	if _, err := claims.Insert(ctx, store.Doc{store.FieldID: claimID, "node": s.node}); err != nil {
		if errors.Is(err, store.ErrDuplicate) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("push: claim %s: %w", id, err)
	}
	// The claim only matters while the version is current; the write below
	// changes it either way, so the claim can go.
	defer func() { _ = claims.Delete(context.WithoutCancel(ctx), claimID, 0) }()
	stored, err := s.sys.Collection(coll).Replace(ctx, id, store.DocVersion(cur), next)
	if errors.Is(err, store.ErrVersionConflict) || errors.Is(err, store.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("push: claim %s: %w", id, err)
	}
	return stored, true, nil
}
