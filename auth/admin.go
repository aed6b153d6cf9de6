package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// Admin roles. The api package enforces what each may do; the auth
// package only stores them.
const (
	// RoleOwner may do everything, including managing other admins.
	RoleOwner = "owner"
	// RoleDeveloper manages apps, environments, their data and their
	// deploy tokens, but not admin accounts.
	RoleDeveloper = "developer"
	// RoleViewer may only read.
	RoleViewer = "viewer"

	// legacyRoleAdmin is the role admins had before developer and viewer
	// existed. Stored admins with it read as RoleDeveloper; it cannot be
	// given any more.
	legacyRoleAdmin = "admin"
)

// ErrLastOwner: the change would leave no owner (demoting or deleting the
// last one).
var ErrLastOwner = errors.New("auth: the last owner cannot be demoted or deleted")

// Admin is an operator of the admin portal. It never carries the password
// hash.
type Admin struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Role      string    `json:"role"` // RoleOwner, RoleDeveloper or RoleViewer
	CreatedAt time.Time `json:"createdAt"`
}

// Fields of an admin document.
const (
	fieldEmail        = "email"
	fieldRole         = "role"
	fieldPasswordHash = "passwordHash"
	fieldCreatedAt    = "createdAt"
)

// ValidRole reports whether role is one an admin can be given.
func ValidRole(role string) bool {
	return role == RoleOwner || role == RoleDeveloper || role == RoleViewer
}

// canonicalRole maps a stored role to the one it means today.
func canonicalRole(stored string) string {
	if stored == legacyRoleAdmin {
		return RoleDeveloper
	}
	return stored
}

// errBadRole is the ErrInvalid of a role that ValidRole refuses.
func errBadRole(role string) error {
	return fmt.Errorf("%w: role %q (want %q, %q or %q)", ErrInvalid, role, RoleOwner, RoleDeveloper, RoleViewer)
}

// NormalizeEmail trims and lower-cases an email address and checks its
// shape: ASCII only (internationalised domains in their xn-- form), one
// '@', a local part of 1 to 64 characters without spaces, quotes, or
// brackets, and a domain of dot-separated labels of letters, digits and
// inner hyphens; 254 characters at most. It does not try to accept every
// address RFC 5322 allows, only those an operator uses.
func NormalizeEmail(email string) (string, error) {
	e := strings.TrimSpace(email)
	bad := func(reason string) (string, error) {
		return "", fmt.Errorf("%w: email %s", ErrInvalid, reason)
	}
	if e == "" {
		return bad("is empty")
	}
	if len(e) > 254 {
		return bad("is longer than 254 characters")
	}
	// Check ASCII before lower-casing: strings.ToLower maps some non-ASCII
	// letters (the Kelvin sign) onto ASCII ones, which would let two
	// different inputs meet as one address.
	for i := 0; i < len(e); i++ {
		if c := e[i]; c <= ' ' || c >= 0x7f {
			return bad("must be ASCII without spaces or control characters")
		}
	}
	e = strings.ToLower(e)
	local, domain, ok := strings.Cut(e, "@")
	if !ok || strings.Contains(domain, "@") {
		return bad("needs exactly one '@'")
	}
	if local == "" || len(local) > 64 {
		return bad("local part must have 1 to 64 characters")
	}
	if strings.ContainsAny(local, `"(),:;<>[\]`) || strings.HasPrefix(local, ".") ||
		strings.HasSuffix(local, ".") || strings.Contains(local, "..") {
		return bad("local part has a character or dot placement that is not allowed")
	}
	if domain == "" {
		return bad("domain is empty")
	}
	for _, label := range strings.Split(domain, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return bad("domain labels must have 1 to 63 characters and not start or end with '-'")
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return bad("domain may hold only letters, digits, '-' and '.'")
			}
		}
	}
	return e, nil
}

// CreateAdmin adds an admin. The email is normalised (NormalizeEmail) and
// must be unused, case-insensitively (ErrExists); the password must have at
// least MinPasswordLen characters (ErrWeakPassword); role is RoleOwner,
// RoleDeveloper or RoleViewer (ErrInvalid).
func (s *Service) CreateAdmin(ctx context.Context, email, password, role string) (Admin, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return Admin{}, err
	}
	if !ValidRole(role) {
		return Admin{}, errBadRole(role)
	}
	if err := checkPassword(password, email); err != nil {
		return Admin{}, err
	}
	hash, err := s.hashPassword(ctx, password)
	if err != nil {
		return Admin{}, fmt.Errorf("create admin: %w", err)
	}
	a := Admin{ID: store.NewID(), Email: email, Role: role, CreatedAt: s.now()}
	_, err = s.sys.Collection(collAdmins).Insert(ctx, store.Doc{
		store.FieldID:     a.ID,
		fieldEmail:        a.Email,
		fieldRole:         a.Role,
		fieldPasswordHash: hash,
		fieldCreatedAt:    store.FormatTime(a.CreatedAt),
	})
	switch {
	case errors.Is(err, store.ErrDuplicate):
		return Admin{}, fmt.Errorf("%w: an admin with email %q", ErrExists, email)
	case err != nil:
		return Admin{}, fmt.Errorf("create admin: %w", err)
	}
	s.log.InfoContext(ctx, "admin created", "admin", a.ID, "role", a.Role)
	return a, nil
}

// BootstrapAdmin creates an owner with the given email and password when
// there is no admin at all yet, and does nothing (created false) when
// there is one. Several nodes starting at once with the same bootstrap
// email create one owner between them (the email index is unique).
func (s *Service) BootstrapAdmin(ctx context.Context, email, password string) (created bool, err error) {
	n, err := s.sys.Collection(collAdmins).Count(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("bootstrap admin: count admins: %w", err)
	}
	if n > 0 {
		return false, nil
	}
	if _, err := s.CreateAdmin(ctx, email, password, RoleOwner); err != nil {
		if errors.Is(err, ErrExists) {
			return false, nil
		}
		return false, fmt.Errorf("bootstrap admin: %w", err)
	}
	return true, nil
}

// AdminLogin checks an admin's email and password and returns a signed
// admin token (see VerifyAdminToken). An unknown email and a wrong password
// give the same ErrBadCredentials after the same work: an unknown email is
// checked against a dummy hash.
func (s *Service) AdminLogin(ctx context.Context, email, password string) (token string, err error) {
	if len(password) > MaxPasswordBytes {
		// No such password can have been set; check it against the
		// dummy like an unknown email.
		password, email = password[:MaxPasswordBytes], ""
	}
	doc, err := s.findAdmin(ctx, email)
	if errors.Is(err, ErrNotFound) {
		_, _, _ = s.verifyPassword(ctx, password, s.dummyHash())
		return "", ErrBadCredentials
	}
	if err != nil {
		return "", fmt.Errorf("admin login: %w", err)
	}
	a, err := adminFromDoc(doc)
	if err != nil {
		return "", fmt.Errorf("admin login: %w", err)
	}
	ok, rehash, err := s.verifyPassword(ctx, password, docString(doc, fieldPasswordHash))
	if errors.Is(err, errBadHash) {
		s.log.ErrorContext(ctx, "admin has a malformed password hash; they cannot log in", "admin", a.ID)
		return "", ErrBadCredentials
	}
	if err != nil {
		return "", fmt.Errorf("admin login: %w", err)
	}
	if !ok {
		return "", ErrBadCredentials
	}
	if rehash {
		s.upgradeHash(ctx, doc, password)
	}
	return s.issueAdminToken(a)
}

// findAdmin returns the admin document with that email; any email that
// does not normalise is simply not found.
func (s *Service) findAdmin(ctx context.Context, email string) (store.Doc, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return nil, ErrNotFound
	}
	page, err := s.sys.Collection(collAdmins).Find(ctx, store.Query{
		Filter: store.Compare{Path: fieldEmail, Op: store.OpEq, Value: email},
		Limit:  1,
	})
	if err != nil {
		return nil, fmt.Errorf("find admin: %w", err)
	}
	if len(page.Docs) == 0 {
		return nil, ErrNotFound
	}
	return page.Docs[0], nil
}

// upgradeHash rewrites an admin's hash with the current parameters after a
// successful login. It is best effort: a concurrent change of the admin
// wins, and the login succeeds either way.
func (s *Service) upgradeHash(ctx context.Context, doc store.Doc, password string) {
	hash, err := s.hashPassword(ctx, password)
	if err == nil {
		_, err = s.sys.Collection(collAdmins).Update(ctx, store.DocID(doc), store.DocVersion(doc),
			store.Update{Set: map[string]any{fieldPasswordHash: hash}})
	}
	if err != nil && !errors.Is(err, store.ErrVersionConflict) {
		s.log.WarnContext(ctx, "upgrade admin password hash", "admin", store.DocID(doc), "err", err)
	}
}

func adminFromDoc(d store.Doc) (Admin, error) {
	created, err := parseTime(d[fieldCreatedAt])
	if err != nil {
		return Admin{}, fmt.Errorf("admin %q: %w", store.DocID(d), err)
	}
	return Admin{
		ID:        store.DocID(d),
		Email:     docString(d, fieldEmail),
		Role:      canonicalRole(docString(d, fieldRole)),
		CreatedAt: created,
	}, nil
}

// GetAdmin returns the admin with that id, or ErrNotFound.
func (s *Service) GetAdmin(ctx context.Context, id string) (Admin, error) {
	d, err := s.adminDoc(ctx, id)
	if err != nil {
		return Admin{}, err
	}
	return adminFromDoc(d)
}

// ListAdmins returns every admin, oldest first. There are few admins; the
// list is not paged.
func (s *Service) ListAdmins(ctx context.Context) ([]Admin, error) {
	docs, err := findAll(ctx, s.sys.Collection(collAdmins), store.Query{
		Sort: []store.SortKey{{Path: fieldCreatedAt}},
	})
	if err != nil {
		return nil, fmt.Errorf("list admins: %w", err)
	}
	out := make([]Admin, 0, len(docs))
	for _, d := range docs {
		a, err := adminFromDoc(d)
		if err != nil {
			return nil, fmt.Errorf("list admins: %w", err)
		}
		out = append(out, a)
	}
	return out, nil
}

// SetAdminRole gives admin id a new role. Demoting the last owner is
// ErrLastOwner; an unknown admin is ErrNotFound, a bad role ErrInvalid,
// and a concurrent change of the same admin ErrConflict.
func (s *Service) SetAdminRole(ctx context.Context, id, role string) (Admin, error) {
	if !ValidRole(role) {
		return Admin{}, errBadRole(role)
	}
	d, err := s.adminDoc(ctx, id)
	if err != nil {
		return Admin{}, err
	}
	if docString(d, fieldRole) == role {
		return adminFromDoc(d)
	}
	if docString(d, fieldRole) == RoleOwner {
		d, err = s.demoteOwner(ctx, d, role)
	} else {
		d, err = s.setRole(ctx, d, role)
	}
	if err != nil {
		return Admin{}, err
	}
	s.log.InfoContext(ctx, "admin role changed", "admin", id, "role", role)
	return adminFromDoc(d)
}

// DeleteAdmin removes admin id; its admin tokens stop working at once
// (VerifyAdminToken reads the admin). Deleting the last owner is
// ErrLastOwner. An owner is first demoted to viewer under the same
// last-owner guard as SetAdminRole, then deleted: if the delete then
// fails, the admin stays, as a viewer.
func (s *Service) DeleteAdmin(ctx context.Context, id string) error {
	d, err := s.adminDoc(ctx, id)
	if err != nil {
		return err
	}
	if docString(d, fieldRole) == RoleOwner {
		if d, err = s.demoteOwner(ctx, d, RoleViewer); err != nil {
			return err
		}
	}
	err = s.sys.Collection(collAdmins).Delete(ctx, id, store.DocVersion(d))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: admin %q", ErrNotFound, id)
	case errors.Is(err, store.ErrVersionConflict):
		return fmt.Errorf("%w: admin %q changed while being deleted", ErrConflict, id)
	case err != nil:
		return fmt.Errorf("delete admin: %w", err)
	}
	s.log.InfoContext(ctx, "admin deleted", "admin", id)
	return nil
}

// demoteOwner gives the owner d another role unless no owner would be
// left. Without transactions, two owners demoted at once could each count
// the other one; so the owners are counted again after the write, and if
// none is left the write is undone and ErrLastOwner returned. Both racers
// may then fail, but an owner always remains.
func (s *Service) demoteOwner(ctx context.Context, d store.Doc, role string) (store.Doc, error) {
	n, err := s.countOwners(ctx)
	if err != nil {
		return nil, err
	}
	if n <= 1 {
		return nil, fmt.Errorf("%w: admin %q is the only owner", ErrLastOwner, store.DocID(d))
	}
	updated, err := s.setRole(ctx, d, role)
	if err != nil {
		return nil, err
	}
	n, err = s.countOwners(ctx)
	if err != nil || n > 0 {
		// A failed recount keeps the change: the count before the write
		// saw another owner.
		return updated, nil
	}
	if _, err := s.setRole(ctx, updated, RoleOwner); err != nil {
		s.log.ErrorContext(ctx, "restore the last owner after a concurrent demotion", "admin", store.DocID(d), "err", err)
	}
	return nil, fmt.Errorf("%w: another owner was demoted or deleted at the same time", ErrLastOwner)
}

// setRole writes role into d, guarded by its version.
func (s *Service) setRole(ctx context.Context, d store.Doc, role string) (store.Doc, error) {
	updated, err := s.sys.Collection(collAdmins).Update(ctx, store.DocID(d), store.DocVersion(d),
		store.Update{Set: map[string]any{fieldRole: role}})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("%w: admin %q", ErrNotFound, store.DocID(d))
	case errors.Is(err, store.ErrVersionConflict):
		return nil, fmt.Errorf("%w: admin %q changed meanwhile", ErrConflict, store.DocID(d))
	case err != nil:
		return nil, fmt.Errorf("set admin role: %w", err)
	}
	return updated, nil
}

func (s *Service) countOwners(ctx context.Context) (int64, error) {
	n, err := s.sys.Collection(collAdmins).Count(ctx, store.Compare{Path: fieldRole, Op: store.OpEq, Value: RoleOwner})
	if err != nil {
		return 0, fmt.Errorf("count owners: %w", err)
	}
	return n, nil
}

// adminDoc reads the admin document with that id; ErrNotFound when there
// is none.
func (s *Service) adminDoc(ctx context.Context, id string) (store.Doc, error) {
	if !plausibleID(id) {
		return nil, fmt.Errorf("%w: admin %q", ErrNotFound, id)
	}
	d, err := s.sys.Collection(collAdmins).Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: admin %q", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("get admin: %w", err)
	}
	return d, nil
}

// plausibleID reports whether id could have come from store.NewID (URL-safe
// base64, short): ids that cannot exist are not found without a lookup.
func plausibleID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
