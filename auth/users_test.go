package auth

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// TestUserLoginCostsAlike: a wrong password, an unknown email and an
// over-long password each cost one password key derivation under the
// configured parameters (counted, not timed), so how long a refusal takes
// reveals nothing about which emails exist.
func TestUserLoginCostsAlike(t *testing.T) {
	params := PasswordParams{Memory: 256, Time: 2, Threads: 1}
	s, _, _ := testService(t, Config{Password: params})
	var mu sync.Mutex
	var got []PasswordParams
	s.derived = func(p PasswordParams) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, p)
	}
	ctx := context.Background()
	env := newApp(t, s).Environment
	signedUpUser(t, s, env)
	tests := []struct{ name, email, password string }{
		{"wrong password", "ada@example.com", "wrong password!!"},
		{"unknown email", "nobody@example.com", "wrong password!!"},
		{"malformed email", "not an email", "wrong password!!"},
		{"over-long password", "ada@example.com", strings.Repeat("x", MaxPasswordBytes+1)},
	}
	for _, tt := range tests {
		mu.Lock()
		got = nil
		mu.Unlock()
		if _, err := s.Login(ctx, env, s.sys, tt.email, tt.password); err != ErrBadCredentials {
			t.Fatalf("%s: Login = %v, want ErrBadCredentials", tt.name, err)
		}
		mu.Lock()
		if len(got) != 1 || got[0] != params {
			t.Errorf("%s: derived %v, want one derivation under %v", tt.name, got, params)
		}
		mu.Unlock()
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
