package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// Collections of an environment database that hold its user pool.
const (
	collUsers         = "users"
	collSessions      = "sessions"
	collRefreshTokens = "refreshTokens"
)

// Fields of user documents (email, passwordHash, createdAt as for admins).
const (
	fieldDeviceID  = "deviceId"
	fieldAnonymous = "anonymous"
	fieldRoles     = "roles"
	fieldProfile   = "profile"
	fieldDisabled  = "disabled"
	// fieldEmailVerified is true once the user proved the email address:
	// through a verification mail, or a sign-in with an OpenID provider
	// that vouches for it.
	fieldEmailVerified = "emailVerified"
)

// Limits of user input.
const (
	// MinUserPasswordLen is the shortest password an app user may set, in
	// characters; common passwords are refused whatever their length.
	MinUserPasswordLen = 10
	// MaxProfileBytes bounds a user's profile, as JSON.
	MaxProfileBytes = 16 << 10
	minDeviceIDLen  = 1
	maxDeviceIDLen  = 128
)

// User is an app user of one environment's user pool. It never carries
// password material.
type User struct {
	ID    string `json:"id"`
	Email string `json:"email,omitempty"`
	// EmailVerified: the user proved the email address (a verification
	// mail, or an OpenID provider vouching for it).
	EmailVerified bool `json:"emailVerified"`
	Anonymous     bool `json:"anonymous"`
	// Disabled users are refused on their next request (see
	// Service.UpdateUser); only admins see the flag.
	Disabled  bool           `json:"disabled,omitempty"`
	Roles     []string       `json:"roles"`
	Profile   map[string]any `json:"profile,omitempty"`
	CreatedAt time.Time      `json:"createdAt"`
}

// UserSession is what signing up, logging in and refreshing return.
type UserSession struct {
	User         User
	AccessToken  string
	RefreshToken string // "" when the call keeps the caller's refresh token
	ExpiresIn    time.Duration
}

// UserIndexes returns the indexes a user pool needs in an environment
// database, by collection. The service ensures them on first use of each
// database.
func UserIndexes() map[string][]store.Index {
	return map[string][]store.Index{
		collUsers: {
			{Name: "users_email_u", Fields: []string{fieldEmail}, Unique: true},
			{Name: "users_device_u", Fields: []string{fieldDeviceID}, Unique: true},
			{Name: "users_created", Fields: []string{"-" + fieldCreatedAt}},
		},
		collSessions: {
			{Name: "sessions_user", Fields: []string{fieldUserID}},
			{Name: "sessions_expires", Fields: []string{fieldExpiresAt}},
			{Name: "sessions_revoked", Fields: []string{fieldRevoked}},
		},
		collRefreshTokens: {
			{Name: "refresh_user", Fields: []string{fieldUserID}},
			{Name: "refresh_family", Fields: []string{fieldFamilyID}},
			{Name: "refresh_expires", Fields: []string{fieldExpiresAt}},
		},
		collUserTokens: {
			{Name: "usertokens_expires", Fields: []string{fieldExpiresAt}},
		},
	}
}

// ensureUserIndexes creates the user pool's indexes in db once per
// Service and database.
func (s *Service) ensureUserIndexes(ctx context.Context, db store.DB) error {
	if _, ok := s.userIndexes.Load(db); ok {
		return nil
	}
	if err := store.EnsureIndexes(ctx, db, UserIndexes()); err != nil {
		return fmt.Errorf("user pool: %w", err)
	}
	s.userIndexes.Store(db, struct{}{})
	return nil
}

// checkUserPassword applies the app user password policy.
func checkUserPassword(password, email string) error {
	if err := checkPasswordShape(password); err != nil {
		return err
	}
	if n := len([]rune(password)); n < MinUserPasswordLen {
		return fmt.Errorf("%w: password needs at least %d characters", ErrWeakPassword, MinUserPasswordLen)
	}
	if isCommonPassword(password) {
		return fmt.Errorf("%w: password is too common", ErrWeakPassword)
	}
	if email != "" && strings.EqualFold(strings.TrimSpace(password), email) {
		return fmt.Errorf("%w: password must not be the email address", ErrWeakPassword)
	}
	return nil
}

// Signup creates a user with an email and password in env's pool (db) and
// starts a session. A taken email is ErrExists; a weak password
// ErrWeakPassword; a malformed email or profile ErrInvalid.
func (s *Service) Signup(ctx context.Context, env Environment, db store.DB, email, password string, profile map[string]any) (UserSession, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return UserSession{}, err
	}
	if err := checkUserPassword(password, email); err != nil {
		return UserSession{}, err
	}
	prof, err := normalizeProfile(profile)
	if err != nil {
		return UserSession{}, err
	}
	if err := s.ensureUserIndexes(ctx, db); err != nil {
		return UserSession{}, err
	}
	hash, err := s.hashPassword(ctx, password)
	if err != nil {
		return UserSession{}, fmt.Errorf("signup: %w", err)
	}
	u := User{ID: store.NewID(), Email: email, Roles: []string{}, Profile: prof, CreatedAt: s.now()}
	d := u.doc()
	d[fieldPasswordHash] = hash
	_, err = db.Collection(collUsers).Insert(ctx, d)
	switch {
	case errors.Is(err, store.ErrDuplicate):
		return UserSession{}, fmt.Errorf("%w: a user with email %q", ErrExists, email)
	case err != nil:
		return UserSession{}, fmt.Errorf("signup: %w", err)
	}
	return s.startSession(ctx, env, db, u)
}

// Login checks a user's email and password and starts a session. An
// unknown email and a wrong password give the same ErrBadCredentials after
// the same work; a disabled user too.
func (s *Service) Login(ctx context.Context, env Environment, db store.DB, email, password string) (UserSession, error) {
	if len(password) > MaxPasswordBytes {
		password, email = password[:MaxPasswordBytes], ""
	}
	if err := s.ensureUserIndexes(ctx, db); err != nil {
		return UserSession{}, err
	}
	doc, err := findOne(ctx, db.Collection(collUsers), fieldEmail, normalizedOrEmpty(email))
	if errors.Is(err, ErrNotFound) {
		_, _, _ = s.verifyPassword(ctx, password, s.dummyHash())
		return UserSession{}, ErrBadCredentials
	}
	if err != nil {
		return UserSession{}, fmt.Errorf("login: %w", err)
	}
	ok, _, err := s.verifyPassword(ctx, password, docString(doc, fieldPasswordHash))
	if err != nil && !errors.Is(err, errBadHash) {
		return UserSession{}, fmt.Errorf("login: %w", err)
	}
	if !ok || doc[fieldDisabled] == true {
		return UserSession{}, ErrBadCredentials
	}
	u, err := userFromDoc(doc)
	if err != nil {
		return UserSession{}, fmt.Errorf("login: %w", err)
	}
	return s.startSession(ctx, env, db, u)
}

// SignInAnonymous returns a session for the anonymous user of deviceID,
// creating it on first use: the same device id gives the same user until
// that user is linked to an email (LinkUser).
func (s *Service) SignInAnonymous(ctx context.Context, env Environment, db store.DB, deviceID string) (UserSession, error) {
	if err := validDeviceID(deviceID); err != nil {
		return UserSession{}, err
	}
	if err := s.ensureUserIndexes(ctx, db); err != nil {
		return UserSession{}, err
	}
	users := db.Collection(collUsers)
	for attempt := 0; attempt < 2; attempt++ {
		doc, err := findOne(ctx, users, fieldDeviceID, deviceID)
		if err == nil {
			if doc[fieldDisabled] == true {
				return UserSession{}, fmt.Errorf("%w: user disabled", ErrUnauthorized)
			}
			u, err := userFromDoc(doc)
			if err != nil {
				return UserSession{}, fmt.Errorf("anonymous sign-in: %w", err)
			}
			return s.startSession(ctx, env, db, u)
		}
		if !errors.Is(err, ErrNotFound) {
			return UserSession{}, fmt.Errorf("anonymous sign-in: %w", err)
		}
		u := User{ID: store.NewID(), Anonymous: true, Roles: []string{}, CreatedAt: s.now()}
		d := u.doc()
		d[fieldDeviceID] = deviceID
		_, err = users.Insert(ctx, d)
		if errors.Is(err, store.ErrDuplicate) {
			continue // another request created it: read it
		}
		if err != nil {
			return UserSession{}, fmt.Errorf("anonymous sign-in: %w", err)
		}
		return s.startSession(ctx, env, db, u)
	}
	return UserSession{}, fmt.Errorf("anonymous sign-in: %w", store.ErrVersionConflict)
}

// LinkUser gives the anonymous user of claims an email and password,
// keeping its id, and returns a new access token in the same session.
// A user that has an email already is ErrInvalid; a taken email ErrExists.
func (s *Service) LinkUser(ctx context.Context, env Environment, db store.DB, claims UserClaims, email, password string) (UserSession, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return UserSession{}, err
	}
	if err := checkUserPassword(password, email); err != nil {
		return UserSession{}, err
	}
	users := db.Collection(collUsers)
	doc, err := users.Get(ctx, claims.UserID)
	if err != nil {
		return UserSession{}, fmt.Errorf("link user: %w", notFound(err))
	}
	if doc[fieldAnonymous] != true {
		return UserSession{}, fmt.Errorf("%w: the user has an email already", ErrInvalid)
	}
	hash, err := s.hashPassword(ctx, password)
	if err != nil {
		return UserSession{}, fmt.Errorf("link user: %w", err)
	}
	u, err := userFromDoc(doc)
	if err != nil {
		return UserSession{}, fmt.Errorf("link user: %w", err)
	}
	u.Email, u.Anonymous = email, false
	nd := u.doc() // without deviceId: the device's next anonymous sign-in is a new user
	nd[fieldPasswordHash] = hash
	_, err = users.Replace(ctx, u.ID, store.DocVersion(doc), nd)
	switch {
	case errors.Is(err, store.ErrDuplicate):
		return UserSession{}, fmt.Errorf("%w: a user with email %q", ErrExists, email)
	case errors.Is(err, store.ErrVersionConflict):
		return UserSession{}, fmt.Errorf("%w: the user changed meanwhile; retry", ErrConflict)
	case err != nil:
		return UserSession{}, fmt.Errorf("link user: %w", err)
	}
	tok, err := s.issueAccessToken(ctx, env, u, claims.SessionID)
	if err != nil {
		return UserSession{}, err
	}
	return UserSession{User: u, AccessToken: tok, ExpiresIn: s.cfg.AccessTokenTTL}, nil
}

// ChangePassword replaces the password of the user of claims after
// checking the current one (ErrBadCredentials), and revokes every other
// session of the user; the caller's session stays.
func (s *Service) ChangePassword(ctx context.Context, db store.DB, claims UserClaims, current, next string) error {
	users := db.Collection(collUsers)
	doc, err := users.Get(ctx, claims.UserID)
	if err != nil {
		return fmt.Errorf("change password: %w", notFound(err))
	}
	if len(current) > MaxPasswordBytes {
		current = current[:MaxPasswordBytes]
	}
	ok, _, err := s.verifyPassword(ctx, current, docString(doc, fieldPasswordHash))
	if err != nil && !errors.Is(err, errBadHash) {
		return fmt.Errorf("change password: %w", err)
	}
	if !ok {
		return ErrBadCredentials
	}
	if err := checkUserPassword(next, docString(doc, fieldEmail)); err != nil {
		return err
	}
	hash, err := s.hashPassword(ctx, next)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	_, err = users.Update(ctx, claims.UserID, store.DocVersion(doc), store.Update{Set: map[string]any{fieldPasswordHash: hash}})
	if errors.Is(err, store.ErrVersionConflict) {
		return fmt.Errorf("%w: the user changed meanwhile; retry", ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	return s.revokeUserSessions(ctx, db, claims.UserID, claims.SessionID)
}

// GetUser returns the user with that id (ErrNotFound).
func (s *Service) GetUser(ctx context.Context, db store.DB, id string) (User, error) {
	doc, err := db.Collection(collUsers).Get(ctx, id)
	if err != nil {
		return User{}, fmt.Errorf("get user: %w", notFound(err))
	}
	return userFromDoc(doc)
}

func (u User) doc() store.Doc {
	roles := make([]any, 0, len(u.Roles))
	for _, r := range u.Roles {
		roles = append(roles, r)
	}
	d := store.Doc{
		store.FieldID:  u.ID,
		fieldAnonymous: u.Anonymous,
		fieldRoles:     roles,
		fieldCreatedAt: store.FormatTime(u.CreatedAt),
	}
	if u.Email != "" {
		d[fieldEmail] = u.Email
	}
	if u.EmailVerified {
		d[fieldEmailVerified] = true
	}
	if u.Disabled {
		d[fieldDisabled] = true
	}
	if u.Profile != nil {
		d[fieldProfile] = u.Profile
	}
	return d
}

func userFromDoc(d store.Doc) (User, error) {
	created, err := parseTime(d[fieldCreatedAt])
	if err != nil {
		return User{}, fmt.Errorf("user %q: %w", store.DocID(d), err)
	}
	u := User{ID: store.DocID(d), Email: docString(d, fieldEmail), Roles: []string{}, CreatedAt: created}
	u.Anonymous, _ = d[fieldAnonymous].(bool)
	u.EmailVerified, _ = d[fieldEmailVerified].(bool)
	u.Disabled, _ = d[fieldDisabled].(bool)
	u.Profile, _ = d[fieldProfile].(map[string]any)
	roles, _ := d[fieldRoles].([]any)
	for _, r := range roles {
		if rs, ok := r.(string); ok {
			u.Roles = append(u.Roles, rs)
		}
	}
	return u, nil
}

// normalizeProfile checks a profile's size and puts it in store shape.
func normalizeProfile(p map[string]any) (map[string]any, error) {
	if p == nil {
		return nil, nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("%w: profile: %v", ErrInvalid, err)
	}
	if len(b) > MaxProfileBytes {
		return nil, fmt.Errorf("%w: profile is larger than %d bytes", ErrInvalid, MaxProfileBytes)
	}
	n, ok := store.Normalize(p).(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: profile must be an object", ErrInvalid)
	}
	return n, nil
}

func validDeviceID(id string) error {
	if len(id) < minDeviceIDLen || len(id) > maxDeviceIDLen {
		return fmt.Errorf("%w: deviceId must have %d to %d characters", ErrInvalid, minDeviceIDLen, maxDeviceIDLen)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("%w: deviceId must be printable ASCII without spaces", ErrInvalid)
		}
	}
	return nil
}

func normalizedOrEmpty(email string) string {
	e, err := NormalizeEmail(email)
	if err != nil {
		return ""
	}
	return e
}

// findOne returns the document whose field equals value (ErrNotFound).
func findOne(ctx context.Context, c store.Collection, field, value string) (store.Doc, error) {
	if value == "" {
		return nil, ErrNotFound
	}
	page, err := c.Find(ctx, store.Query{Filter: store.Compare{Path: field, Op: store.OpEq, Value: value}, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(page.Docs) == 0 {
		return nil, ErrNotFound
	}
	return page.Docs[0], nil
}

// notFound turns the store's ErrNotFound into this package's.
func notFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}
