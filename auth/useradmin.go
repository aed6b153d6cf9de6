package auth

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/skybridgehq/skybridge/store"
)

// Limits of user roles.
const (
	// MaxUserRoles bounds the roles of one app user.
	MaxUserRoles = 32
	// MaxUserSearchLen bounds UserQuery.Search, in bytes.
	MaxUserSearchLen = 254
)

// userRoleRe is the shape of a user role: ACL rules of later issues name
// roles as "role:<name>", so a role is a short lower-case identifier.
var userRoleRe = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// UserQuery selects app users for ListUsers. The zero value lists every
// user, newest first.
type UserQuery struct {
	// Search matches users whose id equals it or whose email starts with
	// it (case-insensitively).
	Search string
	// Role, when set, keeps the users holding that role.
	Role string
	// Disabled, when set, keeps the disabled (true) or enabled (false)
	// users.
	Disabled *bool
	// Limit caps the page; 0 means store.DefaultLimit, at most
	// store.MaxLimit.
	Limit int
	// Cursor continues from a previous UserPage.Cursor of the same query.
	Cursor string
}

// UserPage is one page of ListUsers.
type UserPage struct {
	Users []User
	// Cursor continues after the last user; "" on the last page.
	Cursor string
}

// UserChange is an admin's change to a user; nil fields stay as they are.
type UserChange struct {
	// Roles replaces the user's roles.
	Roles *[]string
	// Disabled disables (true) or enables (false) the user. Disabling
	// revokes every session of the user at once.
	Disabled *bool
}

// ValidUserRoles checks and normalizes a role list: each role a short
// lower-case identifier, duplicates dropped, sorted.
func ValidUserRoles(roles []string) ([]string, error) {
	if len(roles) > MaxUserRoles {
		return nil, fmt.Errorf("%w: at most %d roles", ErrInvalid, MaxUserRoles)
	}
	out := make([]string, 0, len(roles))
	for _, r := range roles {
		if !userRoleRe.MatchString(r) {
			return nil, fmt.Errorf("%w: role %q must be a lower-case letter then up to 31 letters, digits, '_' or '-'", ErrInvalid, r)
		}
		out = append(out, r)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// ListUsers returns one page of the users in db matching q, newest first.
func (s *Service) ListUsers(ctx context.Context, db store.DB, q UserQuery) (UserPage, error) {
	if err := s.ensureUserIndexes(ctx, db); err != nil {
		return UserPage{}, err
	}
	var terms []store.Filter
	if q.Search != "" {
		if len(q.Search) > MaxUserSearchLen {
			return UserPage{}, fmt.Errorf("%w: search is longer than %d bytes", ErrInvalid, MaxUserSearchLen)
		}
		terms = append(terms, store.Or{Filters: []store.Filter{
			store.Compare{Path: store.FieldID, Op: store.OpEq, Value: q.Search},
			store.Regex{Path: fieldEmail, Pattern: "^" + regexp.QuoteMeta(strings.ToLower(q.Search))},
		}})
	}
	if q.Role != "" {
		if !userRoleRe.MatchString(q.Role) {
			return UserPage{}, fmt.Errorf("%w: role %q", ErrInvalid, q.Role)
		}
		terms = append(terms, store.Compare{Path: fieldRoles, Op: store.OpEq, Value: q.Role})
	}
	if q.Disabled != nil {
		if *q.Disabled {
			terms = append(terms, store.Compare{Path: fieldDisabled, Op: store.OpEq, Value: true})
		} else {
			terms = append(terms, store.Compare{Path: fieldDisabled, Op: store.OpNe, Value: true})
		}
	}
	var f store.Filter
	if len(terms) > 0 {
		f = store.And{Filters: terms}
	}
	page, err := db.Collection(collUsers).Find(ctx, store.Query{
		Filter: f,
		Sort:   []store.SortKey{{Path: fieldCreatedAt, Desc: true}},
		Limit:  q.Limit,
		Cursor: q.Cursor,
	})
	if err != nil {
		return UserPage{}, fmt.Errorf("list users: %w", err)
	}
	out := UserPage{Users: make([]User, 0, len(page.Docs)), Cursor: page.Cursor}
	for _, d := range page.Docs {
		u, err := userFromDoc(d)
		if err != nil {
			return UserPage{}, err
		}
		out.Users = append(out.Users, u)
	}
	return out, nil
}

// UpdateUser applies an admin's change to user id (ErrNotFound). Roles
// take effect on the user's next request: the session middleware reads
// the user from the store each time. Disabling revokes every session of
// the user, so that the refresh tokens die with the access tokens.
func (s *Service) UpdateUser(ctx context.Context, db store.DB, id string, ch UserChange) (User, error) {
	set := map[string]any{}
	if ch.Roles != nil {
		roles, err := ValidUserRoles(*ch.Roles)
		if err != nil {
			return User{}, err
		}
		list := make([]any, len(roles))
		for i, r := range roles {
			list[i] = r
		}
		set[fieldRoles] = list
	}
	if ch.Disabled != nil {
		set[fieldDisabled] = *ch.Disabled
	}
	users := db.Collection(collUsers)
	if len(set) == 0 {
		return s.GetUser(ctx, db, id)
	}
	d, err := users.Update(ctx, id, 0, store.Update{Set: set})
	if err != nil {
		return User{}, fmt.Errorf("update user: %w", notFound(err))
	}
	if ch.Disabled != nil && *ch.Disabled {
		// The disabled flag already refuses the user's next request (the
		// session check reads it); revoking makes the sessions stay dead
		// when the user is enabled again.
		if err := s.revokeUserSessions(ctx, db, id, ""); err != nil {
			return User{}, err
		}
	}
	return userFromDoc(d)
}

// DeleteUser removes user id (ErrNotFound) with its sessions and refresh
// tokens. The user is disabled first, so that a failure half way leaves a
// user who cannot sign in rather than live sessions of a missing user.
func (s *Service) DeleteUser(ctx context.Context, db store.DB, id string) error {
	disabled := true
	if _, err := s.UpdateUser(ctx, db, id, UserChange{Disabled: &disabled}); err != nil {
		return err
	}
	byUser := store.Compare{Path: fieldUserID, Op: store.OpEq, Value: id}
	for _, coll := range []string{collRefreshTokens, collSessions} {
		if _, err := deleteCounting(ctx, db.Collection(coll), byUser); err != nil {
			return fmt.Errorf("delete user: %w", err)
		}
	}
	if err := db.Collection(collUsers).Delete(ctx, id, 0); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("delete user: %w", err)
	}
	return nil
}
