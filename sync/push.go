package sync

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/skybridgehq/skybridge/objectstore"
	"github.com/skybridgehq/skybridge/store"
)

// maxChangeIDLen bounds a change id.
const maxChangeIDLen = 128

// maxApplyTries bounds how often one change is decided again when the
// object changes between reading its version and writing.
const maxApplyTries = 5

// PushRequest is the body of POST /v1/sync/push.
type PushRequest struct {
	// Collection is the client collection the changes are in.
	Collection string `json:"collection"`
	// Changes are applied in order.
	Changes []Change `json:"changes"`
}

// Change is one offline edit of one object.
type Change struct {
	// ID is the object's _id.
	ID string `json:"id"`
	// BaseVersion is the _v the edit was made on; 0 for a new object.
	BaseVersion int64 `json:"baseVersion"`
	// Doc is the object's new content (user fields, and _acl); absent
	// when Deleted.
	Doc map[string]any `json:"doc,omitempty"`
	// Deleted deletes the object.
	Deleted bool `json:"deleted,omitempty"`
	// ClientTime is when the edit was made on the device (RFC 3339), for
	// last-write-wins.
	ClientTime *time.Time `json:"clientTime,omitempty"`
	// ChangeID makes the change idempotent: a change id seen before from
	// the same caller in the same collection is answered with its first
	// result and not applied again.
	ChangeID string `json:"changeId,omitempty"`
}

// Resolutions of a conflict, as PushResult and the audit trail name them.
const (
	ResolutionRejected   = "rejected"
	ResolutionServerWins = "server-wins"
	ResolutionClientWins = "client-wins"
	ResolutionMerged     = "merged"
)

// PushResult is the answer of a push.
type PushResult struct {
	// Applied are the changes written (or that found the object already
	// in the state they asked for).
	Applied []Applied `json:"applied"`
	// Conflicts are the changes whose baseVersion was not the server's
	// _v and that left the server's document in place of the client's:
	// the client adopts Server.
	Conflicts []Conflict `json:"conflicts"`
	// Rejected are the changes the object store refused (rules, ACL,
	// schema, size); nothing of them was written.
	Rejected []Rejected `json:"rejected,omitempty"`
}

// Applied is one written change.
type Applied struct {
	ID  string `json:"id"`
	V   int64  `json:"_v"`
	Seq int64  `json:"_seq"`
	// Resolution, when set, says the change conflicted and how that was
	// resolved (client-wins, or last-write-wins decided for the client).
	Resolution string `json:"resolution,omitempty"`
}

// Conflict is one change that met a newer server version.
type Conflict struct {
	ID string `json:"id"`
	// Server is the server's document after resolution (a merge's
	// result, a tombstone, or null when the caller may not read it).
	Server objectstore.Object `json:"server"`
	// Resolution is how the conflict was resolved: rejected,
	// server-wins or merged.
	Resolution string `json:"resolution"`
}

// Rejected is one change the object store refused.
type Rejected struct {
	ID string `json:"id"`
	// Error says why.
	Error string `json:"error"`
	// Err is the refusal, for the api to map to a status.
	Err error `json:"-"`
}

// result is what one change came to, as the replay log keeps it.
type result struct {
	Applied  *Applied  `json:"applied,omitempty"`
	Conflict *Conflict `json:"conflict,omitempty"`
	Rejected *Rejected `json:"rejected,omitempty"`
}

// checkPush validates req without touching the store.
func (s *Service) checkPush(req PushRequest) error {
	if err := objectstore.ValidCollectionName(req.Collection); err != nil {
		return err
	}
	if len(req.Changes) == 0 {
		return invalid("changes", "send at least one change")
	}
	if len(req.Changes) > s.cfg.MaxChanges {
		return invalid("changes", fmt.Sprintf("at most %d changes per push", s.cfg.MaxChanges))
	}
	for i, c := range req.Changes {
		f := func(n string) string { return fmt.Sprintf("changes[%d].%s", i, n) }
		if err := objectstore.ValidID(c.ID); err != nil {
			return &objectstore.FieldError{Field: f("id"), Err: err}
		}
		switch {
		case c.BaseVersion < 0:
			return invalid(f("baseVersion"), "is a version: 0 for a new object, else the _v the change was made on")
		case c.Deleted && c.Doc != nil:
			return invalid(f("doc"), "send doc or deleted:true, not both")
		case !c.Deleted && c.Doc == nil:
			return invalid(f("doc"), "send doc or deleted:true")
		case len(c.ChangeID) > maxChangeIDLen:
			return invalid(f("changeId"), fmt.Sprintf("at most %d characters", maxChangeIDLen))
		}
		if c.Doc != nil {
			if err := objectstore.CheckFields(userDoc(c.Doc)); err != nil {
				return &objectstore.FieldError{Field: f("doc"), Err: err}
			}
		}
	}
	return nil
}

// userDoc is the content of a pushed doc the client may set: its user
// fields and _acl. System fields a client echoes back from a pulled
// document are dropped.
func userDoc(doc map[string]any) map[string]any {
	out := make(map[string]any, len(doc))
	for k, v := range doc {
		if !strings.HasPrefix(k, "_") || k == store.FieldACL {
			out[k] = v
		}
	}
	return out
}

// Push applies req's changes in order as p. A change whose baseVersion is
// the server's _v is written; any other is resolved by the collection's
// conflict strategy. A malformed request is ErrInvalid and nothing is
// written; a change the object store refuses is Rejected and the others
// go on.
func (s *Service) Push(ctx context.Context, env objectstore.Env, p objectstore.Principal, req PushRequest) (PushResult, error) {
	if err := s.checkPush(req); err != nil {
		return PushResult{}, err
	}
	strategy := objectstore.DefaultConflict
	if st, err := s.objects.GetSettings(ctx, env, req.Collection); err == nil {
		strategy = st.Conflict
	} else if !errors.Is(err, objectstore.ErrNotFound) && !errors.Is(err, objectstore.ErrCollectionNotFound) {
		return PushResult{}, err
	}
	out := PushResult{Applied: []Applied{}, Conflicts: []Conflict{}}
	for _, c := range req.Changes {
		c.Doc = userDoc(c.Doc)
		r, err := s.applyOnce(ctx, env, p, req.Collection, c, func() (result, error) {
			return s.apply(ctx, env, p, req.Collection, strategy, c)
		})
		if err != nil {
			return out, err
		}
		switch {
		case r.Applied != nil:
			out.Applied = append(out.Applied, *r.Applied)
		case r.Rejected != nil:
			out.Rejected = append(out.Rejected, *r.Rejected)
		}
		if r.Conflict != nil {
			out.Conflicts = append(out.Conflicts, *r.Conflict)
		}
	}
	return out, nil
}

// refusal reports whether err is the object store refusing a change (not
// a failure of the store).
func refusal(err error) bool {
	for _, e := range []error{objectstore.ErrForbidden, objectstore.ErrInvalid, objectstore.ErrSchema,
		objectstore.ErrTooLarge, objectstore.ErrCollectionNotFound, objectstore.ErrNotFound} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// apply decides and writes one change.
func (s *Service) apply(ctx context.Context, env objectstore.Env, p objectstore.Principal, col, strategy string, c Change) (result, error) {
	for try := 1; ; try++ {
		r, err := s.decide(ctx, env, p, col, strategy, c)
		if err == nil {
			return r, nil
		}
		retry := errors.Is(err, objectstore.ErrPreconditionFailed) || errors.Is(err, objectstore.ErrConflict)
		if retry && try < maxApplyTries {
			continue // the object changed under us: decide again
		}
		if refusal(err) || retry {
			return result{Rejected: &Rejected{ID: c.ID, Error: err.Error(), Err: err}}, nil
		}
		return result{}, err
	}
}

// decide reads the server's version of c's object and writes c, or not,
// by strategy.
func (s *Service) decide(ctx context.Context, env objectstore.Env, p objectstore.Principal, col, strategy string, c Change) (result, error) {
	cur, err := s.objects.Stored(ctx, env, col, c.ID)
	if errors.Is(err, objectstore.ErrNotFound) {
		cur, err = nil, nil
	}
	if err != nil {
		return result{}, err
	}
	curV := int64(0)
	if cur != nil {
		curV = cur.Version()
	}
	if c.BaseVersion == curV || (cur != nil && cur.Deleted() && c.BaseVersion == 0 && !c.Deleted) {
		a, err := s.write(ctx, env, p, col, cur, c, c.Doc)
		if err != nil {
			return result{}, err
		}
		return result{Applied: &a}, nil
	}
	switch strategy {
	case objectstore.ConflictClientWins:
		return s.clientWins(ctx, env, p, col, cur, c, ResolutionClientWins)
	case objectstore.ConflictServerWins:
		return s.serverKeeps(ctx, env, p, col, cur, c.ID, ResolutionServerWins)
	case objectstore.ConflictLastWriteWins:
		if s.clientIsLater(ctx, env, col, cur, c) {
			return s.clientWins(ctx, env, p, col, cur, c, ResolutionClientWins)
		}
		return s.serverKeeps(ctx, env, p, col, cur, c.ID, ResolutionServerWins)
	case objectstore.ConflictMergeFields:
		return s.merge(ctx, env, p, col, cur, c)
	}
	return s.serverKeeps(ctx, env, p, col, cur, c.ID, ResolutionRejected)
}

// clientWins writes c over the server's current version.
func (s *Service) clientWins(ctx context.Context, env objectstore.Env, p objectstore.Principal, col string, cur objectstore.Object, c Change, res string) (result, error) {
	a, err := s.write(ctx, env, p, col, cur, c, c.Doc)
	if err != nil {
		return result{}, err
	}
	a.Resolution = res
	return result{Applied: &a}, nil
}

// serverKeeps answers a conflict with the server's document, as far as p
// may read it.
func (s *Service) serverKeeps(ctx context.Context, env objectstore.Env, p objectstore.Principal, col string, cur objectstore.Object, id, res string) (result, error) {
	var doc objectstore.Object
	if cur != nil {
		ok, err := s.objects.CanRead(ctx, env, p, col, cur)
		if err != nil {
			return result{}, err
		}
		if ok {
			doc = cur
		}
	}
	return result{Conflict: &Conflict{ID: id, Server: doc, Resolution: res}}, nil
}

// write stores body (or a deletion) for c's object over cur, guarded by
// cur's version.
func (s *Service) write(ctx context.Context, env objectstore.Env, p objectstore.Principal, col string, cur objectstore.Object, c Change, body map[string]any) (Applied, error) {
	var obj objectstore.Object
	var err error
	switch {
	case c.Deleted && (cur == nil || cur.Deleted()):
		if cur == nil {
			return Applied{ID: c.ID}, nil // nothing to delete: the state asked for
		}
		return Applied{ID: c.ID, V: cur.Version(), Seq: cur.Seq()}, nil
	case c.Deleted:
		obj, err = s.objects.Delete(ctx, env, p, col, c.ID, cur.Version())
	case cur == nil || cur.Deleted():
		b := make(map[string]any, len(body)+1)
		for k, v := range body {
			b[k] = v
		}
		b[store.FieldID] = c.ID
		obj, err = s.objects.Create(ctx, env, p, col, b)
	default:
		obj, err = s.objects.Replace(ctx, env, p, col, c.ID, body, cur.Version())
	}
	if err != nil {
		return Applied{}, err
	}
	if err := s.noteEdit(ctx, env, col, obj, c); err != nil {
		return Applied{}, err
	}
	return Applied{ID: c.ID, V: obj.Version(), Seq: obj.Seq()}, nil
}
