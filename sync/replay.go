package sync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"

	"github.com/skybridgehq/skybridge/objectstore"
	"github.com/skybridgehq/skybridge/store"
)

// collReplay is the environment database collection of the change ids
// pushed, with their first results.
const collReplay = "syncChangeIds"

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

// replayed returns the first result of a change id seen before.
func (s *Service) replayed(ctx context.Context, env objectstore.Env, p objectstore.Principal, col, changeID string) (result, bool, error) {
	if changeID == "" {
		return result{}, false, nil
	}
	db, err := s.provider.DB(ctx, env.DB)
	if err != nil {
		return result{}, false, err
	}
	d, err := db.Collection(collReplay).Get(ctx, replayKey(p, col, changeID))
	if errors.Is(err, store.ErrNotFound) {
		return result{}, false, nil
	}
	if err != nil {
		return result{}, false, err
	}
	raw, _ := d["result"].(string)
	var r result
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return result{}, false, err
	}
	if r.Rejected != nil {
		return result{}, false, nil // a refused change may be retried
	}
	return r, true, nil
}

// remember keeps the result of a change id.
func (s *Service) remember(ctx context.Context, env objectstore.Env, p objectstore.Principal, col, changeID string, r result) error {
	if changeID == "" || r.Rejected != nil {
		return nil
	}
	db, err := s.provider.DB(ctx, env.DB)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	doc := store.Doc{store.FieldID: replayKey(p, col, changeID), "result": string(raw)}
	if _, err := db.Collection(collReplay).Insert(context.WithoutCancel(ctx), doc); err != nil && !errors.Is(err, store.ErrDuplicate) {
		return err
	}
	return nil
}
