package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/skybridgehq/skybridge/keyring"
)

func TestAdminToken(t *testing.T) {
	t.Parallel()
	s, _, clock := testService(t, Config{AdminTokenTTL: 30 * time.Minute})
	ctx := context.Background()
	a, err := s.CreateAdmin(ctx, "ops@example.com", testPassword, RoleDeveloper)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.AdminLogin(ctx, a.Email, testPassword)
	if err != nil {
		t.Fatal(err)
	}

	// The body carries exactly the documented claims.
	var raw adminTokenClaims
	parsed, _, err := jwt.NewParser().ParseUnverified(tok, &raw)
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Header["alg"] != "HS256" || raw.Subject != a.ID || raw.Email != a.Email || raw.Role != RoleDeveloper ||
		raw.Issuer != "skybridge" || len(raw.Audience) != 1 || raw.Audience[0] != "skybridge-admin" ||
		raw.IssuedAt == nil || raw.ID == "" {
		t.Fatalf("token header %v, claims %+v", parsed.Header, raw)
	}
	if got, want := raw.ExpiresAt.Time, clock.Now().Add(30*time.Minute); !got.Equal(want) {
		t.Fatalf("exp %v, want %v", got, want)
	}

	claims, err := s.VerifyAdminToken(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	want := AdminClaims{AdminID: a.ID, Email: a.Email, Role: RoleDeveloper, ExpiresAt: clock.Now().Add(30 * time.Minute)}
	if claims.AdminID != want.AdminID || claims.Email != want.Email || claims.Role != want.Role ||
		!claims.ExpiresAt.Equal(want.ExpiresAt) || claims.ExpiresAt.Location() != time.UTC {
		t.Fatalf("claims %+v, want %+v", claims, want)
	}

	// Valid until its expiry, not a second more.
	clock.Advance(30*time.Minute - time.Second)
	if _, err := s.VerifyAdminToken(ctx, tok); err != nil {
		t.Fatalf("token refused before expiry: %v", err)
	}
	clock.Advance(time.Second)
	if _, err := s.VerifyAdminToken(ctx, tok); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("expired token: %v", err)
	}
}

func TestAdminTokenRejected(t *testing.T) {
	t.Parallel()
	s, _, clock := testService(t, Config{})
	ctx := context.Background()
	a, err := s.CreateAdmin(ctx, "ops@example.com", testPassword, RoleOwner)
	if err != nil {
		t.Fatal(err)
	}
	good, err := s.issueAdminToken(a)
	if err != nil {
		t.Fatal(err)
	}
	otherKeyring, _, err := keyring.Generate()
	if err != nil {
		t.Fatal(err)
	}
	now := clock.Now()
	claims := func(edit func(c *adminTokenClaims)) adminTokenClaims {
		c := adminTokenClaims{Email: a.Email, Role: RoleOwner, RegisteredClaims: jwt.RegisteredClaims{
			Subject: a.ID, Issuer: adminJWTIssuer, Audience: jwt.ClaimStrings{adminJWTAudience},
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
		}}
		if edit != nil {
			edit(&c)
		}
		return c
	}
	sign := func(m jwt.SigningMethod, key any, c adminTokenClaims) string {
		tok, err := jwt.NewWithClaims(m, c).SignedString(key)
		if err != nil {
			t.Fatalf("sign: %v", err)
		}
		return tok
	}
	parts := strings.Split(good, ".")
	forgedBody := base64.RawURLEncoding.EncodeToString([]byte(
		`{"email":"ops@example.com","role":"owner","sub":"someone-else","iss":"skybridge","aud":["skybridge-admin"],"exp":4102444800,"iat":1}`))
	flipped := []byte(parts[2])
	if flipped[3] == 'A' {
		flipped[3] = 'B'
	} else {
		flipped[3] = 'A'
	}

	// Sanity: a token built by sign with our key and default claims passes,
	// so each case below fails for its one difference.
	if _, err := s.VerifyAdminToken(ctx, sign(jwt.SigningMethodHS256, s.jwtKey, claims(nil))); err != nil {
		t.Fatalf("baseline forged-by-us token refused: %v", err)
	}

	cases := map[string]string{
		"empty":             "",
		"garbage":           "not.a.jwt",
		"too long":          good + strings.Repeat("A", maxTokenLen),
		"tampered payload":  parts[0] + "." + forgedBody + "." + parts[2],
		"tampered sig":      parts[0] + "." + parts[1] + "." + string(flipped),
		"no signature":      parts[0] + "." + parts[1] + ".",
		"alg none":          sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil)),
		"HS512 same key":    sign(jwt.SigningMethodHS512, s.jwtKey, claims(nil)),
		"HS384 same key":    sign(jwt.SigningMethodHS384, s.jwtKey, claims(nil)),
		"other keyring":     sign(jwt.SigningMethodHS256, otherKeyring.Derive(adminJWTPurpose), claims(nil)),
		"other purpose key": sign(jwt.SigningMethodHS256, testKeyring(t).Derive("user-jwt"), claims(nil)),
		"wrong issuer":      sign(jwt.SigningMethodHS256, s.jwtKey, claims(func(c *adminTokenClaims) { c.Issuer = "evil" })),
		"wrong audience": sign(jwt.SigningMethodHS256, s.jwtKey, claims(func(c *adminTokenClaims) {
			c.Audience = jwt.ClaimStrings{"skybridge-user"}
		})),
		"no audience": sign(jwt.SigningMethodHS256, s.jwtKey, claims(func(c *adminTokenClaims) { c.Audience = nil })),
		"no expiry":   sign(jwt.SigningMethodHS256, s.jwtKey, claims(func(c *adminTokenClaims) { c.ExpiresAt = nil })),
		"expired": sign(jwt.SigningMethodHS256, s.jwtKey, claims(func(c *adminTokenClaims) {
			c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Second))
		})),
		"issued in future": sign(jwt.SigningMethodHS256, s.jwtKey, claims(func(c *adminTokenClaims) {
			c.IssuedAt = jwt.NewNumericDate(now.Add(time.Hour))
		})),
		"no subject":   sign(jwt.SigningMethodHS256, s.jwtKey, claims(func(c *adminTokenClaims) { c.Subject = "" })),
		"unknown role": sign(jwt.SigningMethodHS256, s.jwtKey, claims(func(c *adminTokenClaims) { c.Role = "root" })),
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := s.VerifyAdminToken(ctx, tok)
			if !errors.Is(err, ErrUnauthorized) || got != (AdminClaims{}) {
				t.Fatalf("VerifyAdminToken = %+v, %v; want ErrUnauthorized", got, err)
			}
		})
	}
}

// TestAdminTokenFollowsTheStore: a role change shows in the next
// verification, and a deleted admin's token is refused.
func TestAdminTokenFollowsTheStore(t *testing.T) {
	t.Parallel()
	s, _, _ := testService(t, Config{})
	ctx := context.Background()
	if _, err := s.CreateAdmin(ctx, "owner@example.com", testPassword, RoleOwner); err != nil {
		t.Fatal(err)
	}
	a, err := s.CreateAdmin(ctx, "ops@example.com", testPassword, RoleDeveloper)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.AdminLogin(ctx, a.Email, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetAdminRole(ctx, a.ID, RoleViewer); err != nil {
		t.Fatal(err)
	}
	claims, err := s.VerifyAdminToken(ctx, tok)
	if err != nil || claims.Role != RoleViewer {
		t.Fatalf("after demotion: %+v, %v", claims, err)
	}
	if err := s.DeleteAdmin(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := s.VerifyAdminToken(ctx, tok); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("deleted admin's token: %+v, %v", got, err)
	}
}
