package auth

import (
	"context"
	"errors"
	"fmt"

	"github.com/skybridgehq/skybridge/store"
)

// RefreshTokenPrefix starts every refresh token; 43 base62 characters
// (256 bits) follow.
const RefreshTokenPrefix = "sbr_"

const refreshTokenRandLen = 43

// Fields of session (refresh token family) and refresh token documents.
// A session's _id is the family id (the sid claim of access tokens); a
// refresh token's _id is the hex SHA-256 of the token, never the token.
const (
	fieldUserID    = "userId"
	fieldFamilyID  = "familyId"
	fieldRevoked   = "revoked"
	fieldSpent     = "spent"
	fieldExpiresAt = "expiresAt"
)

// wellFormedRefreshToken lets Refresh refuse garbage without a lookup.
func wellFormedRefreshToken(tok string) bool {
	if len(tok) != len(RefreshTokenPrefix)+refreshTokenRandLen || tok[:len(RefreshTokenPrefix)] != RefreshTokenPrefix {
		return false
	}
	for i := len(RefreshTokenPrefix); i < len(tok); i++ {
		c := tok[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// startSession opens a new session (refresh token family) for u and
// returns its first token pair.
func (s *Service) startSession(ctx context.Context, env Environment, db store.DB, u User) (UserSession, error) {
	sid := store.NewID()
	now := s.now()
	_, err := db.Collection(collSessions).Insert(ctx, store.Doc{
		store.FieldID:  sid,
		fieldUserID:    u.ID,
		fieldRevoked:   false,
		fieldCreatedAt: store.FormatTime(now),
		fieldExpiresAt: store.FormatTime(now.Add(s.cfg.RefreshTokenTTL + sessionSlack)),
	})
	if err != nil {
		return UserSession{}, fmt.Errorf("start session: %w", err)
	}
	return s.issuePair(ctx, env, db, u, sid)
}

// issuePair stores a new refresh token of family sid and signs an access
// token.
func (s *Service) issuePair(ctx context.Context, env Environment, db store.DB, u User, sid string) (UserSession, error) {
	access, err := s.issueAccessToken(ctx, env, u, sid)
	if err != nil {
		return UserSession{}, err
	}
	refresh := RefreshTokenPrefix + randomString(base62, refreshTokenRandLen)
	_, err = db.Collection(collRefreshTokens).Insert(ctx, store.Doc{
		store.FieldID:  hashSecret(refresh),
		fieldFamilyID:  sid,
		fieldUserID:    u.ID,
		fieldSpent:     false,
		fieldExpiresAt: store.FormatTime(s.now().Add(s.cfg.RefreshTokenTTL)),
	})
	if err != nil {
		return UserSession{}, fmt.Errorf("store refresh token: %w", err)
	}
	return UserSession{User: u, AccessToken: access, RefreshToken: refresh, ExpiresIn: s.cfg.AccessTokenTTL}, nil
}

// Refresh trades a refresh token for a new pair in the same session; the
// presented token is spent. Presenting a spent token again (a replay, or
// two clients racing with one token) revokes the whole session, so that
// the newer tokens stop working too. Every refusal is ErrUnauthorized.
// Spending is a compare-and-swap on the token document: of two concurrent
// refreshes with one token, at most one gets a pair.
func (s *Service) Refresh(ctx context.Context, env Environment, db store.DB, refreshToken string) (UserSession, error) {
	if !wellFormedRefreshToken(refreshToken) {
		return UserSession{}, fmt.Errorf("%w: malformed refresh token", ErrUnauthorized)
	}
	tokens := db.Collection(collRefreshTokens)
	d, err := tokens.Get(ctx, hashSecret(refreshToken))
	if errors.Is(err, store.ErrNotFound) {
		return UserSession{}, fmt.Errorf("%w: unknown refresh token", ErrUnauthorized)
	}
	if err != nil {
		return UserSession{}, fmt.Errorf("refresh: %w", err)
	}
	sid := docString(d, fieldFamilyID)
	if d[fieldSpent] == true {
		s.revokeSession(ctx, db, sid)
		s.log.WarnContext(ctx, "spent refresh token reused; session revoked", "environment", env.DB, "session", sid)
		return UserSession{}, fmt.Errorf("%w: refresh token reused; the session is revoked", ErrUnauthorized)
	}
	exp, err := parseTime(d[fieldExpiresAt])
	if err != nil || !s.now().Before(exp) {
		return UserSession{}, fmt.Errorf("%w: refresh token expired", ErrUnauthorized)
	}
	_, err = tokens.Update(ctx, store.DocID(d), store.DocVersion(d), store.Update{Set: map[string]any{fieldSpent: true}})
	if errors.Is(err, store.ErrVersionConflict) {
		s.revokeSession(ctx, db, sid)
		return UserSession{}, fmt.Errorf("%w: refresh token used concurrently; the session is revoked", ErrUnauthorized)
	}
	if err != nil {
		return UserSession{}, fmt.Errorf("refresh: %w", err)
	}
	u, sess, err := s.checkSession(ctx, db, UserClaims{UserID: docString(d, fieldUserID), SessionID: sid})
	if err != nil {
		return UserSession{}, err
	}
	s.extendSession(ctx, db, sess)
	return s.issuePair(ctx, env, db, u, sid)
}

// CheckSession returns the user of claims when the user exists and is not
// disabled and the session is live; else ErrUnauthorized.
func (s *Service) CheckSession(ctx context.Context, db store.DB, claims UserClaims) (User, error) {
	u, _, err := s.checkSession(ctx, db, claims)
	return u, err
}

// checkSession is CheckSession, also returning the session document.
func (s *Service) checkSession(ctx context.Context, db store.DB, claims UserClaims) (User, store.Doc, error) {
	sess, err := db.Collection(collSessions).Get(ctx, claims.SessionID)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		return User{}, nil, fmt.Errorf("%w: unknown session", ErrUnauthorized)
	}
	if err != nil {
		return User{}, nil, fmt.Errorf("check session: %w", err)
	}
	if sess[fieldRevoked] == true || docString(sess, fieldUserID) != claims.UserID {
		return User{}, nil, fmt.Errorf("%w: session revoked", ErrUnauthorized)
	}
	doc, err := db.Collection(collUsers).Get(ctx, claims.UserID)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		return User{}, nil, fmt.Errorf("%w: unknown user", ErrUnauthorized)
	}
	if err != nil {
		return User{}, nil, fmt.Errorf("check session: %w", err)
	}
	if doc[fieldDisabled] == true {
		return User{}, nil, fmt.Errorf("%w: user disabled", ErrUnauthorized)
	}
	u, err := userFromDoc(doc)
	return u, sess, err
}

// Logout revokes the session of refreshToken, which must belong to the
// user of claims; an empty token revokes the session of claims itself.
func (s *Service) Logout(ctx context.Context, db store.DB, claims UserClaims, refreshToken string) error {
	sid := claims.SessionID
	if refreshToken != "" {
		if !wellFormedRefreshToken(refreshToken) {
			return fmt.Errorf("%w: malformed refresh token", ErrUnauthorized)
		}
		d, err := db.Collection(collRefreshTokens).Get(ctx, hashSecret(refreshToken))
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: unknown refresh token", ErrUnauthorized)
		}
		if err != nil {
			return fmt.Errorf("logout: %w", err)
		}
		if docString(d, fieldUserID) != claims.UserID {
			return fmt.Errorf("%w: refresh token of another user", ErrUnauthorized)
		}
		sid = docString(d, fieldFamilyID)
	}
	_, err := db.Collection(collSessions).Update(ctx, sid, 0, store.Update{Set: map[string]any{fieldRevoked: true}})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("logout: %w", err)
	}
	return nil
}

// revokeSession marks a session revoked; failures are logged, since the
// caller is refusing the request anyway.
func (s *Service) revokeSession(ctx context.Context, db store.DB, sid string) {
	_, err := db.Collection(collSessions).Update(ctx, sid, 0, store.Update{Set: map[string]any{fieldRevoked: true}})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.ErrorContext(ctx, "revoke session", "session", sid, "err", err)
	}
}

// revokeUserSessions revokes every live session of user but keep.
func (s *Service) revokeUserSessions(ctx context.Context, db store.DB, user, keep string) error {
	sessions := db.Collection(collSessions)
	docs, err := findAll(ctx, sessions, store.Query{Filter: store.Compare{Path: fieldUserID, Op: store.OpEq, Value: user}})
	if err != nil {
		return fmt.Errorf("revoke sessions: %w", err)
	}
	for _, d := range docs {
		if store.DocID(d) == keep || d[fieldRevoked] == true {
			continue
		}
		if _, err := sessions.Update(ctx, store.DocID(d), 0, store.Update{Set: map[string]any{fieldRevoked: true}}); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("revoke sessions: %w", err)
		}
	}
	return nil
}
