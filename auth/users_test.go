package auth

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// TestUserLoginTiming checks that an unknown email costs a password hash,
// like a wrong password. It is not parallel, to measure on a quiet process.
func TestUserLoginTiming(t *testing.T) {
	s, _, _ := testService(t, Config{Password: PasswordParams{Memory: 8 * 1024, Time: 2, Threads: 1}})
	ctx := context.Background()
	env := newApp(t, s).Environment
	signedUpUser(t, s, env)
	fastest := func(email string) time.Duration {
		best := time.Hour
		for range 5 {
			start := time.Now()
			if _, err := s.Login(ctx, env, s.sys, email, "wrong password!!"); err != ErrBadCredentials {
				t.Fatalf("Login(%s) = %v", email, err)
			}
			best = min(best, time.Since(start))
		}
		return best
	}
	fastest("nobody@example.com") // builds the dummy hash
	wrong, unknown := fastest("ada@example.com"), fastest("nobody@example.com")
	t.Logf("fastest wrong password %v, unknown email %v", wrong, unknown)
	if unknown < wrong/3 {
		t.Fatalf("unknown email answers in %v, a wrong password in %v: the difference reveals which emails exist", unknown, wrong)
	}
}

func TestUserSessions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _, clock := testService(t, Config{RefreshTokenTTL: time.Hour})
	env := newApp(t, s).Environment
	db := s.sys
	ada := signedUpUser(t, s, env)
	claims, err := s.VerifyUserToken(ctx, env, ada.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CheckSession(ctx, db, claims); err != nil {
		t.Fatalf("fresh session refused: %v", err)
	}

	// A refresh token past its TTL is refused.
	clock.Advance(time.Hour + time.Second)
	if _, err := s.Refresh(ctx, env, db, ada.RefreshToken); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("expired refresh token: %v", err)
	}

	// Another user's refresh token cannot be logged out.
	bob, err := s.Signup(ctx, env, db, "bob@example.com", "another fine password", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Logout(ctx, db, claims, bob.RefreshToken); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("logout of another user's token: %v", err)
	}

	// A registered user cannot be linked again.
	if _, err := s.LinkUser(ctx, env, db, claims, "ada2@example.com", "yet another password"); !errors.Is(err, ErrInvalid) {
		t.Errorf("link of a registered user: %v", err)
	}

	// A disabled user is refused at once, and cannot log in.
	if _, err := db.Collection(collUsers).Update(ctx, claims.UserID, 0, store.Update{Set: map[string]any{fieldDisabled: true}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CheckSession(ctx, db, claims); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("disabled user's session: %v", err)
	}
	if _, err := s.Login(ctx, env, db, "ada@example.com", "analytical engine 1843"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("disabled user's login: %v", err)
	}
}

func TestSignInAnonymousConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _, _ := testService(t, Config{})
	env := newApp(t, s).Environment
	const n = 6
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			us, err := s.SignInAnonymous(ctx, env, s.sys, "device-abcdef")
			ids[i], errs[i] = us.User.ID, err
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Fatalf("sign-ins gave %v, errors %v", ids, errs)
		}
	}
	for _, bad := range []string{"", "has space in it", string(make([]byte, 200))} {
		if _, err := s.SignInAnonymous(ctx, env, s.sys, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("device id %q: %v", bad, err)
		}
	}
}
