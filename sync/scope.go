package sync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/skybridgehq/skybridge/objectstore"
	"github.com/skybridgehq/skybridge/store"
)

// collScopes is the environment database collection holding each client
// collection's prefetch scopes, one document per collection.
const collScopes = "syncScopes"

// MaxScopes bounds the scopes of one collection.
const MaxScopes = 32

// UserIDVar is replaced, in a scope's filter, by the calling user's id.
const UserIDVar = "${user.id}"

var scopeNameRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)

// Scopes are a collection's named prefetch filters: name → filter in the
// object list filter language, where the string "${user.id}" stands for
// the caller's user id.
type Scopes map[string]json.RawMessage

// validate checks every scope's name and filter.
func (sc Scopes) validate() error {
	if len(sc) > MaxScopes {
		return invalid("scopes", fmt.Sprintf("at most %d scopes per collection", MaxScopes))
	}
	for name, f := range sc {
		if !scopeNameRe.MatchString(name) {
			return invalid("scopes", fmt.Sprintf("%q is not a scope name (a letter, then up to 63 letters, digits, '_' or '-')", name))
		}
		if _, err := parseScope(f, "u"); err != nil {
			return &objectstore.FieldError{Field: "scopes." + name, Err: err}
		}
	}
	return nil
}

// parseScope parses a scope's filter for user uid.
func parseScope(raw json.RawMessage, uid string) (store.Filter, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, errors.Join(ErrInvalid, fmt.Errorf("malformed filter: %v", err))
	}
	b, err := json.Marshal(substitute(v, uid))
	if err != nil {
		return nil, err
	}
	return store.ParseFilter(b)
}

// substitute replaces UserIDVar in every string of v by uid.
func substitute(v any, uid string) any {
	switch x := v.(type) {
	case string:
		return strings.ReplaceAll(x, UserIDVar, uid)
	case []any:
		for i := range x {
			x[i] = substitute(x[i], uid)
		}
	case map[string]any:
		for k, e := range x {
			x[k] = substitute(e, uid)
		}
	}
	return v
}

// SetScopes replaces the prefetch scopes of col (an admin setting).
func (s *Service) SetScopes(ctx context.Context, env objectstore.Env, col string, sc Scopes) (Scopes, error) {
	if err := objectstore.ValidCollectionName(col); err != nil {
		return nil, err
	}
	if sc == nil {
		sc = Scopes{}
	}
	if err := sc.validate(); err != nil {
		return nil, err
	}
	db, err := s.provider.DB(ctx, env.DB)
	if err != nil {
		return nil, err
	}
	c := db.Collection(collScopes)
	doc := store.Doc{"scopes": scopesDoc(sc)}
	for range 8 {
		cur, err := c.Get(ctx, col)
		if errors.Is(err, store.ErrNotFound) {
			doc[store.FieldID] = col
			if _, err = c.Insert(ctx, doc); errors.Is(err, store.ErrDuplicate) {
				delete(doc, store.FieldID)
				continue
			}
			return sc, err
		}
		if err != nil {
			return nil, err
		}
		if _, err = c.Replace(ctx, col, store.DocVersion(cur), doc); errors.Is(err, store.ErrVersionConflict) {
			continue
		}
		return sc, err
	}
	return nil, fmt.Errorf("%w: scopes of %s kept changing", objectstore.ErrConflict, col)
}

func scopesDoc(sc Scopes) map[string]any {
	m := make(map[string]any, len(sc))
	for k, v := range sc {
		m[k] = string(v)
	}
	return m
}

// GetScopes returns the prefetch scopes of col (empty when none).
func (s *Service) GetScopes(ctx context.Context, env objectstore.Env, col string) (Scopes, error) {
	if err := objectstore.ValidCollectionName(col); err != nil {
		return nil, err
	}
	db, err := s.provider.DB(ctx, env.DB)
	if err != nil {
		return nil, err
	}
	d, err := db.Collection(collScopes).Get(ctx, col)
	if errors.Is(err, store.ErrNotFound) {
		return Scopes{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := Scopes{}
	m, _ := d["scopes"].(map[string]any)
	for k, v := range m {
		if str, ok := v.(string); ok {
			out[k] = json.RawMessage(str)
		}
	}
	return out, nil
}

// ScopeFilter resolves scope name of col into its filter for p (the
// realtime nudge subscribes with it).
func (s *Service) ScopeFilter(ctx context.Context, env objectstore.Env, p objectstore.Principal, col, name string) (store.Filter, error) {
	return s.scopeFilter(ctx, env, p, col, name)
}

// scopeFilter resolves scope name of col for p.
func (s *Service) scopeFilter(ctx context.Context, env objectstore.Env, p objectstore.Principal, col, name string) (store.Filter, error) {
	sc, err := s.GetScopes(ctx, env, col)
	if err != nil {
		return nil, err
	}
	raw, ok := sc[name]
	if !ok {
		names := make([]string, 0, len(sc))
		for k := range sc {
			names = append(names, k)
		}
		sort.Strings(names)
		return nil, errors.Join(ErrInvalid, fmt.Errorf("collection %s has no scope %q (it has %v)", col, name, names))
	}
	if strings.Contains(string(raw), UserIDVar) && p.UserID == "" {
		return nil, fmt.Errorf("%w: scope %q needs a signed-in user", objectstore.ErrForbidden, name)
	}
	return parseScope(raw, p.UserID)
}
