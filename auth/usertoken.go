package auth

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/skybridgehq/skybridge/store"
)

// User token claims fixed by this package.
const (
	userJWTIssuer    = "skybridge"
	userJWTPurpose   = "user-jwt" // prefix of the keyring.Derive purpose
	userAudiencePart = "skybridge-user"
	fieldUserKeyGen  = "userKeyGen"
	// Fields of the environment document that hold the previous
	// generation, still verifying until its tokens have expired.
	fieldUserKeyPrevGen   = "userKeyPrevGen"
	fieldUserKeyPrevUntil = "userKeyPrevUntil"
)

// UserClaims is what a verified user access token says.
type UserClaims struct {
	AppID       string
	Environment string
	UserID      string
	SessionID   string // the refresh token family the token was issued in
	Roles       []string
	Anonymous   bool
	ExpiresAt   time.Time
}

// userTokenClaims is the JWT body: sub (user id), app, env, sid, roles,
// anon, iat, exp, iss "skybridge" and aud "skybridge-user:<app>:<env>".
type userTokenClaims struct {
	App   string   `json:"app"`
	Env   string   `json:"env"`
	SID   string   `json:"sid"`
	Roles []string `json:"roles,omitempty"`
	Anon  bool     `json:"anon,omitempty"`
	jwt.RegisteredClaims
}

// userKeyGens are the signing key generations an environment accepts.
type userKeyGens struct {
	current   int64
	prev      int64 // 0 when none
	prevUntil time.Time
}

func userAudience(env Environment) string {
	return userAudiencePart + ":" + env.AppID + ":" + env.Name
}

// userKey derives the signing key of one generation of env's user tokens.
func (s *Service) userKey(env Environment, gen int64) []byte {
	return s.kr.Derive(userJWTPurpose + ":" + env.AppID + ":" + env.Name + ":" + strconv.FormatInt(gen, 10))
}

// userKeyGensFor returns env's key generations, cached like server keys.
func (s *Service) userKeyGensFor(ctx context.Context, env Environment) (userKeyGens, error) {
	id := store.EnvDBName(env.AppID, env.Name)
	if env.DB != id || !appIDRe.MatchString(env.AppID) || ValidEnvironmentName(env.Name) != nil {
		return userKeyGens{}, fmt.Errorf("%w: environment %q", ErrNotFound, env.DB)
	}
	now := s.now()
	if g, ok := s.userKeys.get(id, now); ok {
		return g, nil
	}
	gen := s.userKeys.generation()
	d, err := s.sys.Collection(collEnvironments).Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return userKeyGens{}, fmt.Errorf("%w: environment %q", ErrNotFound, id)
	}
	if err != nil {
		return userKeyGens{}, fmt.Errorf("user token keys: %w", err)
	}
	rec, err := envFromDoc(d)
	if err != nil {
		return userKeyGens{}, fmt.Errorf("user token keys: %w", err)
	}
	g := userKeyGens{current: rec.userKeyGen, prev: rec.userKeyPrevGen, prevUntil: rec.userKeyPrevUntil}
	if s.cfg.KeyCacheTTL > 0 {
		s.userKeys.put(id, id, g, now.Add(s.cfg.KeyCacheTTL), gen)
	}
	return g, nil
}

// issueAccessToken signs an access token for user u in session sid.
func (s *Service) issueAccessToken(ctx context.Context, env Environment, u User, sid string) (string, error) {
	gens, err := s.userKeyGensFor(ctx, env)
	if err != nil {
		return "", err
	}
	now := s.cfg.Now()
	claims := userTokenClaims{
		App: env.AppID, Env: env.Name, SID: sid, Roles: u.Roles, Anon: u.Anonymous,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   u.ID,
			Issuer:    userJWTIssuer,
			Audience:  jwt.ClaimStrings{userAudience(env)},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(s.cfg.AccessTokenTTL)),
		},
	}
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	t.Header["kid"] = strconv.FormatInt(gens.current, 10)
	signed, err := t.SignedString(s.userKey(env, gens.current))
	if err != nil {
		return "", fmt.Errorf("sign access token: %w", err)
	}
	return signed, nil
}

// VerifyUserToken checks an access token for env: HS256 only, a kid of a
// generation env accepts, signature, issuer, audience (this app and
// environment), expiry and the claims. Anything wrong is ErrUnauthorized.
// It does not look at the user or session; CheckSession does.
func (s *Service) VerifyUserToken(ctx context.Context, env Environment, token string) (UserClaims, error) {
	if token == "" || len(token) > maxTokenLen {
		return UserClaims{}, fmt.Errorf("%w: access token missing or too long", ErrUnauthorized)
	}
	gens, err := s.userKeyGensFor(ctx, env)
	if err != nil {
		return UserClaims{}, err
	}
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(userJWTIssuer),
		jwt.WithAudience(userAudience(env)),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(s.cfg.Now),
		jwt.WithStrictDecoding(),
	)
	var c userTokenClaims
	_, err = p.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		gen, err := strconv.ParseInt(kid, 10, 64)
		switch {
		case err != nil || kid != strconv.FormatInt(gen, 10):
			return nil, errors.New("malformed kid")
		case gen == gens.current:
		case gen == gens.prev && s.now().Before(gens.prevUntil):
		default:
			return nil, errors.New("unknown kid")
		}
		return s.userKey(env, gen), nil
	})
	if err != nil {
		return UserClaims{}, fmt.Errorf("%w: access token: %w", ErrUnauthorized, err)
	}
	if c.Subject == "" || c.SID == "" || c.App != env.AppID || c.Env != env.Name || c.ExpiresAt == nil {
		return UserClaims{}, fmt.Errorf("%w: access token lacks a subject or session, or is for another environment", ErrUnauthorized)
	}
	return UserClaims{
		AppID: c.App, Environment: c.Env, UserID: c.Subject, SessionID: c.SID,
		Roles: c.Roles, Anonymous: c.Anon, ExpiresAt: c.ExpiresAt.Time.UTC(),
	}, nil
}

// RotateUserKey starts a new generation of env's user token signing key.
// New tokens are signed with it at once (on other nodes within
// KeyCacheTTL); tokens of the previous generation keep verifying until
// they have all expired (AccessTokenTTL plus KeyCacheTTL). Only one
// previous generation is kept. It returns the new generation.
func (s *Service) RotateUserKey(ctx context.Context, appID, env string) (int64, error) {
	if !appIDRe.MatchString(appID) || ValidEnvironmentName(env) != nil {
		return 0, fmt.Errorf("%w: environment %q of app %q", ErrNotFound, env, appID)
	}
	id := store.EnvDBName(appID, env)
	coll := s.sys.Collection(collEnvironments)
	for attempt := 0; attempt < rotateAttempts; attempt++ {
		d, err := coll.Get(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return 0, fmt.Errorf("%w: environment %q of app %q", ErrNotFound, env, appID)
		}
		if err != nil {
			return 0, fmt.Errorf("rotate user key: %w", err)
		}
		rec, err := envFromDoc(d)
		if err != nil {
			return 0, fmt.Errorf("rotate user key: %w", err)
		}
		rec.userKeyPrevGen = rec.userKeyGen
		rec.userKeyPrevUntil = s.now().Add(s.cfg.AccessTokenTTL + max(s.cfg.KeyCacheTTL, 0))
		rec.userKeyGen++
		_, err = coll.Replace(ctx, id, rec.version, rec.doc())
		switch {
		case errors.Is(err, store.ErrVersionConflict):
			continue
		case err != nil:
			return 0, fmt.Errorf("rotate user key: %w", err)
		}
		s.userKeys.invalidateEnv(id)
		s.log.InfoContext(ctx, "user token key rotated", "app", appID, "environment", env, "generation", rec.userKeyGen)
		return rec.userKeyGen, nil
	}
	return 0, fmt.Errorf("rotate user key: %d conflicting writes in a row: %w", rotateAttempts, store.ErrVersionConflict)
}
