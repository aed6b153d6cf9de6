package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// sessionSlack is how far a session's expiresAt runs past the expiry of
// its newest refresh token. Refresh moves it only when the new token would
// outlive it, so that a busy session costs one extra write a day rather
// than one per refresh; the invariant PruneSessions relies on is that no
// refresh token of a session expires after the session does.
const sessionSlack = 24 * time.Hour

// extendSession pushes sess's expiry past the refresh token just issued,
// when needed. A failure is logged: the session then ends a day early at
// worst, and only if no later refresh extends it.
func (s *Service) extendSession(ctx context.Context, db store.DB, sess store.Doc) {
	need := s.now().Add(s.cfg.RefreshTokenTTL)
	if exp, err := parseTime(sess[fieldExpiresAt]); err == nil && !exp.Before(need) {
		return
	}
	_, err := db.Collection(collSessions).Update(ctx, store.DocID(sess), 0, store.Update{
		Set: map[string]any{fieldExpiresAt: store.FormatTime(need.Add(sessionSlack))},
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.ErrorContext(ctx, "extend session", "session", store.DocID(sess), "err", err)
	}
}

// PruneStats counts what PruneSessions removed.
type PruneStats struct {
	// Sessions removed: revoked, or past their expiry.
	Sessions int
	// RefreshTokens removed: expired, or of a removed session.
	RefreshTokens int
	// MailTokens removed: verification and reset tokens past expiry.
	MailTokens int
	// OIDCCodes removed: one-time sign-in codes past expiry.
	OIDCCodes int
}

// PruneSessions removes, from the user pool in db, what can no longer
// sign anybody in: sessions that were revoked or expired, with their
// refresh tokens, expired refresh tokens of live sessions, expired
// verification and reset tokens, and expired one-time OpenID codes. A spent
// token is kept until it expires, so that its reuse still revokes its
// session. Access tokens of a removed session are refused like those of a
// revoked one (unknown session). Run it periodically; it is idempotent
// and safe alongside live traffic.
func (s *Service) PruneSessions(ctx context.Context, db store.DB) (PruneStats, error) {
	var st PruneStats
	if err := s.ensureUserIndexes(ctx, db); err != nil {
		return st, err
	}
	now := store.FormatTime(s.now())
	sessions, tokens := db.Collection(collSessions), db.Collection(collRefreshTokens)
	dead := store.Or{Filters: []store.Filter{
		store.Compare{Path: fieldRevoked, Op: store.OpEq, Value: true},
		store.Compare{Path: fieldExpiresAt, Op: store.OpLt, Value: now},
	}}
	for {
		page, err := sessions.Find(ctx, store.Query{Filter: dead, Limit: store.MaxLimit})
		if err != nil {
			return st, fmt.Errorf("prune sessions: %w", err)
		}
		for _, d := range page.Docs {
			sid := store.DocID(d)
			n, err := deleteCounting(ctx, tokens, store.Compare{Path: fieldFamilyID, Op: store.OpEq, Value: sid})
			st.RefreshTokens += n
			if err != nil {
				return st, fmt.Errorf("prune sessions: %w", err)
			}
			// Tokens first: a failure here leaves a dead session that the
			// next run finds again, never live tokens without a session.
			if err := sessions.Delete(ctx, sid, 0); err != nil && !errors.Is(err, store.ErrNotFound) {
				return st, fmt.Errorf("prune sessions: %w", err)
			}
			st.Sessions++
		}
		if page.Cursor == "" {
			break
		}
	}
	expired := store.Compare{Path: fieldExpiresAt, Op: store.OpLt, Value: now}
	n, err := deleteCounting(ctx, tokens, expired)
	st.RefreshTokens += n
	if err != nil {
		return st, fmt.Errorf("prune refresh tokens: %w", err)
	}
	n, err = deleteCounting(ctx, db.Collection(collUserTokens), expired)
	st.MailTokens = n
	if err != nil {
		return st, fmt.Errorf("prune mail tokens: %w", err)
	}
	n, err = deleteCounting(ctx, db.Collection(collOIDCCodes), store.Compare{Path: fieldOIDCCodeExpires, Op: store.OpLt, Value: now})
	st.OIDCCodes = n
	if err != nil {
		return st, fmt.Errorf("prune one-time sign-in codes: %w", err)
	}
	return st, nil
}

// deleteCounting deletes every document of c matching f and says how many
// it deleted.
func deleteCounting(ctx context.Context, c store.Collection, f store.Filter) (int, error) {
	return store.DeleteMatching(ctx, c, store.Query{Filter: f, Limit: store.MaxLimit})
}
