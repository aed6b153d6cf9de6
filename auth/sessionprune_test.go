package auth

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// TestPruneSessions: revoked and expired sessions go with their refresh
// tokens, spent tokens stay until they expire (reuse still revokes), a
// refreshed session outlives its first token, live sessions stay usable.
func TestPruneSessions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _, clock := testService(t, Config{RefreshTokenTTL: 48 * time.Hour})
	env := newApp(t, s).Environment
	db := s.sys
	count := func(coll string) int64 {
		t.Helper()
		n, err := db.Collection(coll).Count(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	prune := func() PruneStats {
		t.Helper()
		st, err := s.PruneSessions(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}

	ada := signedUpUser(t, s, env) // refreshed every day: stays alive
	bob, err := s.Signup(ctx, env, db, "bob@example.com", "another fine password", nil)
	if err != nil {
		t.Fatal(err)
	}
	bobClaims, err := s.VerifyUserToken(ctx, env, bob.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Logout(ctx, db, bobClaims, ""); err != nil { // revoked
		t.Fatal(err)
	}
	if _, err := s.Signup(ctx, env, db, "cy@example.com", "a third fine password", nil); err != nil { // abandoned
		t.Fatal(err)
	}
	if st := prune(); st.Sessions != 1 || st.RefreshTokens != 1 {
		t.Fatalf("first prune %+v, want bob's session and token", st)
	}

	spent := ada.RefreshToken
	cur := ada
	for day := 0; day < 4; day++ {
		clock.Advance(24 * time.Hour)
		if cur, err = s.Refresh(ctx, env, db, cur.RefreshToken); err != nil {
			t.Fatalf("day %d: %v", day, err)
		}
		prune()
	}
	// Cy's session (48h TTL + slack) is gone; Ada's survives, its oldest
	// tokens expired and went, the newest work.
	if n := count(collSessions); n != 1 {
		t.Fatalf("%d sessions left, want 1", n)
	}
	if n := count(collRefreshTokens); n > 3 {
		t.Fatalf("%d refresh tokens left: expired ones not pruned", n)
	}
	claims, err := s.VerifyUserToken(ctx, env, cur.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CheckSession(ctx, db, claims); err != nil {
		t.Fatalf("live session refused after pruning: %v", err)
	}
	// The first token expired and was pruned: it is unknown now.
	if _, err := s.Refresh(ctx, env, db, spent); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("pruned token: %v", err)
	}
	// A spent, unexpired token is still recognised: reuse revokes.
	next, err := s.Refresh(ctx, env, db, cur.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Refresh(ctx, env, db, cur.RefreshToken); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("reused token: %v", err)
	}
	if _, err := s.Refresh(ctx, env, db, next.RefreshToken); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("token of a revoked session: %v", err)
	}
	if st := prune(); st.Sessions != 1 {
		t.Fatalf("revoked session not pruned: %+v", st)
	}
	if n := count(collRefreshTokens) + count(collSessions); n != 0 {
		t.Fatalf("%d documents left", n)
	}
	// One-time OpenID codes go once expired, not before.
	codes := db.Collection(collOIDCCodes)
	for id, exp := range map[string]time.Time{"old": clock.Now().Add(-time.Second), "live": clock.Now().Add(time.Minute)} {
		if _, err := codes.Insert(ctx, store.Doc{store.FieldID: id, fieldOIDCCodeExpires: store.FormatTime(exp)}); err != nil {
			t.Fatal(err)
		}
	}
	if st := prune(); st.OIDCCodes != 1 || count(collOIDCCodes) != 1 {
		t.Fatalf("one-time codes: %+v, %d left", st, count(collOIDCCodes))
	}
}
