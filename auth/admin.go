package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// Admin roles.
const (
	// RoleOwner may do everything, including managing other admins.
	RoleOwner = "owner"
	// RoleAdmin manages apps, environments and their data.
	RoleAdmin = "admin"
)

// Admin is an operator of the admin portal. It never carries the password
// hash.
type Admin struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Role      string    `json:"role"` // "owner" | "admin"
	CreatedAt time.Time `json:"createdAt"`
}

// Fields of an admin document.
const (
	fieldEmail        = "email"
	fieldRole         = "role"
	fieldPasswordHash = "passwordHash"
	fieldCreatedAt    = "createdAt"
)

// ValidRole reports whether role is one an admin can have.
func ValidRole(role string) bool { return role == RoleOwner || role == RoleAdmin }

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
// least MinPasswordLen characters (ErrWeakPassword); role is RoleOwner or
// RoleAdmin (ErrInvalid).
func (s *Service) CreateAdmin(ctx context.Context, email, password, role string) (Admin, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return Admin{}, err
	}
	if !ValidRole(role) {
		return Admin{}, fmt.Errorf("%w: role must be %q or %q", ErrInvalid, RoleOwner, RoleAdmin)
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
		Role:      docString(d, fieldRole),
		CreatedAt: created,
	}, nil
}
