package sync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/skybridgehq/skybridge/objectstore"
	"github.com/skybridgehq/skybridge/store"
)

// collReplay is the environment database collection of the change ids
// pushed, with their first results.
//
// A change id is claimed before its change is applied: the claim is a
// document under the change id's key, unique by _id, so of several pushes
// of one change id racing (a client retrying on a flaky network while the
// first request still runs) exactly one applies it; the others wait for
// its result and return it. A claim whose holder died is taken over once
// it is older than claimLease.
const collReplay = "syncChangeIds"

// Replay document fields.
const (
	replayResult  = "result" // the first result, JSON; absent while pending
	replayClaimed = "claimed"
	replayAt      = "at" // unix microseconds of the claim, for pruning
)

// Claim timing. A change is applied in milliseconds; claimLease only
// matters when a node dies between claim and result.
const (
	claimLease = 15 * time.Second
	claimPoll  = 5 * time.Millisecond
)

// replayKey names a change id of one caller in one collection: two
// users' change ids never collide.
func replayKey(p objectstore.Principal, col, changeID string) string {
	who := "anon:"
	switch {
	case p.UserID != "":
		who = "user:" + p.UserID
	case p.Server:
		who = "server:"
	}
	h := sha256.Sum256([]byte(who + "\x00" + col + "\x00" + changeID))
	return hex.EncodeToString(h[:])
}

// claim is a held change id: apply the change, then finish the claim.
type claim struct {
	coll    store.Collection
	id      string
	version int64
}

// applyOnce applies c through apply unless its change id was applied
// before, in which case it returns the first result. A change without a
// change id is simply applied.
func (s *Service) applyOnce(ctx context.Context, env objectstore.Env, p objectstore.Principal, col string, c Change, apply func() (result, error)) (result, error) {
	if c.ChangeID == "" {
		return apply()
	}
	db, err := s.provider.DB(ctx, env.DB)
	if err != nil {
		return result{}, err
	}
	coll := db.Collection(collReplay)
	key := replayKey(p, col, c.ChangeID)
	cl, first, err := s.claimChange(ctx, coll, key)
	if err != nil {
		return result{}, err
	}
	if cl == nil {
		return first, nil
	}
	r, err := apply()
	// The claim is finished even when the caller went away: the change
	// may be written already.
	fctx := context.WithoutCancel(ctx)
	if err != nil || r.Rejected != nil {
		// Nothing was written: release the id, so that a retry may apply
		// it (a refused change may succeed later, after a permission or
		// schema change).
		if derr := coll.Delete(fctx, cl.id, cl.version); derr != nil && !errors.Is(derr, store.ErrNotFound) && !errors.Is(derr, store.ErrVersionConflict) {
			err = errors.Join(err, derr)
		}
		return r, err
	}
	raw, err := json.Marshal(r)
	if err != nil {
		return result{}, err
	}
	doc := store.Doc{replayResult: string(raw), replayAt: s.cfg.Now().UnixMicro()}
	if _, err := coll.Replace(fctx, cl.id, cl.version, doc); err != nil {
		return result{}, fmt.Errorf("sync: record change id: %w", err)
	}
	return r, nil
}

// claimChange takes the change id key, or returns the result of its
// first application. It waits while another push holds the claim, and
// takes over a claim older than claimLease.
func (s *Service) claimChange(ctx context.Context, coll store.Collection, key string) (*claim, result, error) {
	for {
		// The lease runs on the real clock; the pruning time on the
		// configured one (tests move it).
		now, at := time.Now().UnixMicro(), s.cfg.Now().UnixMicro()
		d, err := coll.Insert(ctx, store.Doc{store.FieldID: key, replayClaimed: now, replayAt: at})
		if err == nil {
			return &claim{coll: coll, id: key, version: store.DocVersion(d)}, result{}, nil
		}
		if !errors.Is(err, store.ErrDuplicate) {
			return nil, result{}, err
		}
		cur, err := coll.Get(ctx, key)
		if errors.Is(err, store.ErrNotFound) {
			continue // released meanwhile: claim it
		}
		if err != nil {
			return nil, result{}, err
		}
		if raw, ok := cur[replayResult].(string); ok {
			var r result
			if err := json.Unmarshal([]byte(raw), &r); err != nil {
				return nil, result{}, fmt.Errorf("sync: stored result of a change id: %w", err)
			}
			return nil, r, nil
		}
		claimed, _ := cur[replayClaimed].(int64)
		if time.Duration(now-claimed)*time.Microsecond > claimLease {
			d, err := coll.Replace(ctx, key, store.DocVersion(cur), store.Doc{replayClaimed: now, replayAt: at})
			if err == nil {
				return &claim{coll: coll, id: key, version: store.DocVersion(d)}, result{}, nil
			}
			if !errors.Is(err, store.ErrVersionConflict) && !errors.Is(err, store.ErrNotFound) {
				return nil, result{}, err
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil, result{}, ctx.Err()
		case <-time.After(claimPoll):
		}
	}
}

// pruneReplays forgets change ids claimed before cutoff: a client that
// has been away longer than the tombstone retention resyncs from scratch
// anyway (its checkpoint answers 410).
func pruneReplays(ctx context.Context, db store.DB, cutoff time.Time) (int, error) {
	return store.DeleteMatching(ctx, db.Collection(collReplay), store.Query{
		Filter: olderThan(replayAt, cutoff),
	})
}

// olderThan selects documents whose unix-microsecond field is before
// cutoff, or that lack it (written before the field existed).
func olderThan(field string, cutoff time.Time) store.Filter {
	return store.Or{Filters: []store.Filter{
		store.Compare{Path: field, Op: store.OpLt, Value: cutoff.UnixMicro()},
		store.Exists{Path: field, Exists: false},
	}}
}
