package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Admin token claims fixed by this package.
const (
	adminJWTPurpose  = "admin-jwt" // keyring.Derive purpose of the signing key
	adminJWTIssuer   = "skybridge"
	adminJWTAudience = "skybridge-admin"
	maxTokenLen      = 4096 // bytes; longer tokens are refused unparsed
)

// AdminClaims is what a verified admin token says.
type AdminClaims struct {
	AdminID   string    `json:"adminId"`
	Email     string    `json:"email"`
	Role      string    `json:"role"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// adminTokenClaims is the JWT body: sub (admin id), email, role, iat, exp,
// iss "skybridge", aud ["skybridge-admin"] and a random jti.
type adminTokenClaims struct {
	Email string `json:"email"`
	Role  string `json:"role"`
	jwt.RegisteredClaims
}

// issueAdminToken signs an HS256 token for a, valid for AdminTokenTTL.
func (s *Service) issueAdminToken(a Admin) (string, error) {
	now := s.cfg.Now()
	var jti [12]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", fmt.Errorf("admin token id: %w", err)
	}
	claims := adminTokenClaims{
		Email: a.Email,
		Role:  a.Role,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   a.ID,
			Issuer:    adminJWTIssuer,
			Audience:  jwt.ClaimStrings{adminJWTAudience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(s.cfg.AdminTokenTTL)),
			ID:        base64.RawURLEncoding.EncodeToString(jti[:]),
		},
	}
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(s.jwtKey)
	if err != nil {
		return "", fmt.Errorf("sign admin token: %w", err)
	}
	return token, nil
}

// newAdminTokenParser pins everything a token must have: the HS256
// algorithm (so neither "none" nor a public-key algorithm fed our secret
// can pass), our issuer and audience, an expiry, and an issue time that
// is not in the future.
func newAdminTokenParser(now func() time.Time) *jwt.Parser {
	return jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(adminJWTIssuer),
		jwt.WithAudience(adminJWTAudience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(now),
		jwt.WithStrictDecoding(),
	)
}

// VerifyAdminToken checks an admin token from AdminLogin: signature,
// algorithm, issuer, audience and expiry, and then that the admin still
// exists. Anything wrong, a deleted admin included, is ErrUnauthorized.
// The claims carry the admin's current email and role, read from the
// store on every call, so that a deletion or a role change takes effect
// on the next request on every node (admin traffic is light; one read by
// id per request is cheap).
func (s *Service) VerifyAdminToken(ctx context.Context, token string) (AdminClaims, error) {
	if token == "" || len(token) > maxTokenLen {
		return AdminClaims{}, fmt.Errorf("%w: admin token missing or too long", ErrUnauthorized)
	}
	var claims adminTokenClaims
	_, err := s.parser.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) {
		return s.jwtKey, nil
	})
	if err != nil {
		return AdminClaims{}, fmt.Errorf("%w: admin token: %w", ErrUnauthorized, err)
	}
	if claims.Subject == "" || claims.ExpiresAt == nil || !ValidRole(canonicalRole(claims.Role)) {
		return AdminClaims{}, fmt.Errorf("%w: admin token lacks subject or role", ErrUnauthorized)
	}
	a, err := s.GetAdmin(ctx, claims.Subject)
	if errors.Is(err, ErrNotFound) {
		return AdminClaims{}, fmt.Errorf("%w: the admin of this token no longer exists", ErrUnauthorized)
	}
	if err != nil {
		return AdminClaims{}, fmt.Errorf("verify admin token: %w", err)
	}
	if !ValidRole(a.Role) {
		s.log.ErrorContext(ctx, "admin has an unknown role; their tokens are refused", "admin", a.ID)
		return AdminClaims{}, fmt.Errorf("%w: the admin of this token has no valid role", ErrUnauthorized)
	}
	return AdminClaims{
		AdminID:   a.ID,
		Email:     a.Email,
		Role:      a.Role,
		ExpiresAt: claims.ExpiresAt.Time.UTC(),
	}, nil
}
