package auth

import (
	"context"
	"testing"
)

// BenchmarkUserRequest measures what the api's user session middleware
// does on every request with an access token: verify the JWT, then read
// the session and the user from the store (SQLite here).
func BenchmarkUserRequest(b *testing.B) {
	s, _, _ := testService(b, Config{})
	ctx := context.Background()
	ak, err := s.CreateApp(ctx, "Bench")
	if err != nil {
		b.Fatal(err)
	}
	env := ak.Environments[0].Environment
	us, err := s.Signup(ctx, env, s.sys, "ada@example.com", "analytical engine 1843", nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("step=verify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.VerifyUserToken(ctx, env, us.AccessToken); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("step=verify+session", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c, err := s.VerifyUserToken(ctx, env, us.AccessToken)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.CheckSession(ctx, s.sys, c); err != nil {
				b.Fatal(err)
			}
		}
	})
}
