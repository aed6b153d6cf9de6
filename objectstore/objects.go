package objectstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/skybridgehq/skybridge/store"
)

// maxWriteTries bounds how often an update without If-Match is retried on
// a concurrent change of the same object.
const maxWriteTries = 10

// ChangeType says what a write did to an object.
type ChangeType string

// Change types.
const (
	Created ChangeType = "created"
	Updated ChangeType = "updated"
	Deleted ChangeType = "deleted"
)

// Change is one committed write, as Config.OnChange receives it.
type Change struct {
	// DB is the environment database, Collection the client collection.
	DB, Collection string
	// Type is what happened.
	Type ChangeType
	// Object is the stored object (a tombstone for Deleted).
	Object Object
}

// mapStoreErr turns a store error into this package's sentinels.
func mapStoreErr(op string, err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%s: %w", op, ErrNotFound)
	case errors.Is(err, store.ErrDuplicate):
		return fmt.Errorf("%w: %s: a unique index or the id is taken: %v", ErrConflict, op, err)
	case errors.Is(err, store.ErrInvalid):
		return fmt.Errorf("%w: %s: %v", ErrInvalid, op, err)
	case errors.Is(err, store.ErrVersionConflict):
		return fmt.Errorf("%w: %s: the object kept changing concurrently; retry", ErrConflict, op)
	}
	return fmt.Errorf("objectstore: %s: %w", op, err)
}

// checkWrite runs the checks every written document passes: schema, then
// size.
func (s *Service) checkWrite(st *collState, doc store.Doc) error {
	if err := checkSchema(st.schema, doc); err != nil {
		return err
	}
	return checkSize(doc, s.cfg.MaxObjectBytes)
}

func (s *Service) notify(ctx context.Context, db store.DB, col string, t ChangeType, obj Object) {
	s.keepBase(ctx, db, col, obj)
	if s.cfg.OnChange != nil {
		s.cfg.OnChange(ctx, Change{DB: db.Name(), Collection: col, Type: t, Object: obj})
	}
}

// Create stores a new object in col. The body may set _id (else one is
// generated) and _acl; _owner becomes the caller (the server key may set
// it); any other '_' field is refused. A missing collection is created
// when env.AllowClientCreate or p.Server, else ErrCollectionNotFound. An
// _id in use is ErrConflict, unless it is a tombstone, which the new
// object replaces.
func (s *Service) Create(ctx context.Context, env Env, p Principal, col string, body map[string]any) (Object, error) {
	if err := ValidCollectionName(col); err != nil {
		return nil, err
	}
	db, err := s.db(ctx, env)
	if err != nil {
		return nil, err
	}
	st, err := s.collectionForWrite(ctx, db, env, p, col)
	if err != nil {
		return nil, err
	}
	if !mayCreate(st.settings.Rules.Create, p) {
		return nil, fmt.Errorf("create in %q: %w", col, ErrForbidden)
	}
	doc, err := prepareCreate(p, store.Normalize(body).(map[string]any))
	if err != nil {
		return nil, err
	}
	if err := s.checkWrite(st, doc); err != nil {
		return nil, err
	}
	c := objects(db, col)
	stored, err := c.Insert(ctx, doc)
	if errors.Is(err, store.ErrDuplicate) && store.DocID(doc) != "" {
		stored, err = s.replaceTombstone(ctx, c, doc)
	}
	if err != nil {
		return nil, mapStoreErr("create", err)
	}
	obj := Object(stored)
	s.notify(ctx, db, col, Created, obj)
	return obj, nil
}

// replaceTombstone writes doc over the tombstone of the same _id; an _id
// held by a live object is a conflict on _id.
func (s *Service) replaceTombstone(ctx context.Context, c store.Collection, doc store.Doc) (store.Doc, error) {
	id := store.DocID(doc)
	cur, err := c.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, store.ErrDuplicate // a unique index, not the id
	}
	if err != nil {
		return nil, err
	}
	if !Object(cur).Deleted() {
		return nil, &FieldError{Field: store.FieldID, Err: fmt.Errorf("%w: an object with id %q exists", ErrConflict, id)}
	}
	return c.Replace(ctx, id, store.DocVersion(cur), doc)
}

// Get returns object id of col. A missing object, a tombstone and an
// object the caller may not read are all ErrNotFound.
func (s *Service) Get(ctx context.Context, env Env, p Principal, col, id string) (Object, error) {
	_, st, c, err := s.open(ctx, env, col, id)
	if err != nil {
		return nil, err
	}
	d, err := c.Get(ctx, id)
	if err != nil {
		return nil, mapStoreErr("get "+id, err)
	}
	obj := Object(d)
	if obj.Deleted() || !mayAccess(st.settings.Rules.Read, p, obj, aclRead) {
		return nil, fmt.Errorf("get %s: %w", id, ErrNotFound)
	}
	return obj, nil
}

// open checks the names and returns the database, the state of an
// existing collection and its objects; a missing collection is
// ErrNotFound.
func (s *Service) open(ctx context.Context, env Env, col, id string) (store.DB, *collState, store.Collection, error) {
	if err := ValidCollectionName(col); err != nil {
		return nil, nil, nil, err
	}
	if err := ValidID(id); err != nil {
		return nil, nil, nil, err
	}
	db, err := s.db(ctx, env)
	if err != nil {
		return nil, nil, nil, err
	}
	st, err := s.loadCollection(ctx, db, col, false)
	if err != nil {
		return nil, nil, nil, err
	}
	if !st.exists {
		return nil, nil, nil, fmt.Errorf("collection %q: %w", col, ErrNotFound)
	}
	return db, st, objects(db, col), nil
}

// loadForWrite reads object id for an update or delete under rule: an
// object the caller can neither read nor write is ErrNotFound, one it can
// read but not write ErrForbidden, a version other than ifMatch (when not
// 0) ErrPreconditionFailed.
func loadForWrite(ctx context.Context, c store.Collection, st *collState, p Principal, id, rule string, ifMatch int64) (Object, error) {
	d, err := c.Get(ctx, id)
	if err != nil {
		return nil, mapStoreErr("load "+id, err)
	}
	obj := Object(d)
	if obj.Deleted() {
		return nil, fmt.Errorf("load %s: %w", id, ErrNotFound)
	}
	if !mayAccess(rule, p, obj, aclWrite) {
		if mayAccess(st.settings.Rules.Read, p, obj, aclRead) {
			return nil, fmt.Errorf("write %s: %w", id, ErrForbidden)
		}
		return nil, fmt.Errorf("load %s: %w", id, ErrNotFound)
	}
	if ifMatch != 0 && obj.Version() != ifMatch {
		return nil, fmt.Errorf("%w: object %s is at version %d, not %d", ErrPreconditionFailed, id, obj.Version(), ifMatch)
	}
	return obj, nil
}

// update runs one guarded write of object id: load under rule, build the
// new document with next, check it, compare-and-swap on _v. Without
// ifMatch a concurrent change is retried on the new version.
func (s *Service) update(ctx context.Context, env Env, p Principal, col, id string, ifMatch int64, deleting bool,
	next func(stored Object) (store.Doc, error)) (Object, error) {
	db, st, c, err := s.open(ctx, env, col, id)
	if err != nil {
		return nil, err
	}
	rule := st.settings.Rules.Update
	if deleting {
		rule = st.settings.Rules.Delete
	}
	for try := 1; ; try++ {
		stored, err := loadForWrite(ctx, c, st, p, id, rule, ifMatch)
		if err != nil {
			return nil, err
		}
		doc, err := next(stored)
		if err != nil {
			return nil, err
		}
		if !deleting {
			if err := s.checkWrite(st, doc); err != nil {
				return nil, err
			}
		}
		written, err := c.Replace(ctx, id, stored.Version(), doc)
		if errors.Is(err, store.ErrVersionConflict) {
			if ifMatch != 0 {
				return nil, fmt.Errorf("%w: object %s changed concurrently", ErrPreconditionFailed, id)
			}
			if try < maxWriteTries {
				continue
			}
		}
		if err != nil {
			return nil, mapStoreErr("write "+id, err)
		}
		obj := Object(written)
		t := Updated
		if deleting {
			t = Deleted
		}
		s.notify(ctx, db, col, t, obj)
		return obj, nil
	}
}

// Replace writes body as the whole new content of object id. System
// fields sent back unchanged are ignored; a differing one is ErrInvalid
// naming it, except _acl (writers may change it; absent keeps it) and
// _owner for the server key. ifMatch (0: none) must be the stored _v,
// else ErrPreconditionFailed.
func (s *Service) Replace(ctx context.Context, env Env, p Principal, col, id string, body map[string]any, ifMatch int64) (Object, error) {
	body = store.Normalize(body).(map[string]any)
	return s.update(ctx, env, p, col, id, ifMatch, false, func(stored Object) (store.Doc, error) {
		return prepareUpdate(p, id, stored, body, false)
	})
}

// Patch applies an RFC 7396 JSON merge patch to object id: null deletes a
// field, objects merge, anything else replaces. System fields follow
// Replace's rules; "_acl": null removes the ACL. Without ifMatch a
// concurrent change is retried on the new version.
func (s *Service) Patch(ctx context.Context, env Env, p Principal, col, id string, patch map[string]any, ifMatch int64) (Object, error) {
	patch = store.Normalize(patch).(map[string]any)
	for _, k := range checkOrder(patch) {
		// A null deletes: no system field but the ACL can be deleted.
		if strings.HasPrefix(k, "_") && patch[k] == nil && k != store.FieldACL {
			return nil, fieldErr(k, ErrInvalid, "a system field cannot be deleted")
		}
	}
	v, dropACL := patch[store.FieldACL]
	dropACL = dropACL && v == nil
	return s.update(ctx, env, p, col, id, ifMatch, false, func(stored Object) (store.Doc, error) {
		return prepareUpdate(p, id, stored, MergePatch(stored, patch), dropACL)
	})
}

// Delete replaces object id by a tombstone: _deleted true with only the
// system fields, kept so that sync and Changes see the deletion; it reads
// as ErrNotFound from then on. It returns the tombstone.
func (s *Service) Delete(ctx context.Context, env Env, p Principal, col, id string, ifMatch int64) (Object, error) {
	return s.update(ctx, env, p, col, id, ifMatch, true, func(stored Object) (store.Doc, error) {
		doc := store.Doc{store.FieldDeleted: true}
		for _, f := range []string{store.FieldOwner, store.FieldACL} {
			if v, ok := stored[f]; ok {
				doc[f] = v
			}
		}
		return doc, nil
	})
}
