package objectstore

import (
	"context"
	"fmt"
)

// CanRead reports whether p may read obj, an object of col as a write
// stored it (a tombstone included), under col's read rule and obj's _acl:
// the check Get applies, for objects that arrive as events rather than
// from the store. A collection not known yet (the settings cache may lag
// an implicit creation) is read afresh.
func (s *Service) CanRead(ctx context.Context, env Env, p Principal, col string, obj Object) (bool, error) {
	if p.Server {
		return true, nil
	}
	db, err := s.db(ctx, env)
	if err != nil {
		return false, err
	}
	st, err := s.loadCollection(ctx, db, col, false)
	if err == nil && !st.exists {
		st, err = s.loadCollection(ctx, db, col, true)
	}
	if err != nil {
		return false, err
	}
	if !st.exists {
		return false, nil
	}
	return mayAccess(st.settings.Rules.Read, p, obj, aclRead), nil
}

// CheckReadable returns ErrForbidden when col's read rule admits p to no
// object at all (role:x without the role, server, authenticated for an
// anonymous caller), as List and Changes do. A collection that does not
// exist yet is readable: it will have the rules it is created with, and
// CanRead decides per object.
func (s *Service) CheckReadable(ctx context.Context, env Env, p Principal, col string) error {
	if err := ValidCollectionName(col); err != nil {
		return err
	}
	db, err := s.db(ctx, env)
	if err != nil {
		return err
	}
	st, err := s.loadCollection(ctx, db, col, false)
	if err != nil {
		return err
	}
	if !st.exists {
		return nil
	}
	if _, err := readFilter(st.settings.Rules.Read, p); err != nil {
		return fmt.Errorf("read %q: %w", col, err)
	}
	return nil
}
