package auth

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// signedUpUser signs a user up in env's pool (the test's system database
// stands in for the environment database).
func signedUpUser(t *testing.T, s *Service, env Environment) UserSession {
	t.Helper()
	us, err := s.Signup(context.Background(), env, s.sys, "ada@example.com", "analytical engine 1843", nil)
	if err != nil {
		t.Fatal(err)
	}
	return us
}

func TestUserConfigDefaults(t *testing.T) {
	t.Parallel()
	c := Config{}.withDefaults()
	if c.AccessTokenTTL != DefaultAccessTokenTTL || c.RefreshTokenTTL != DefaultRefreshTokenTTL {
		t.Errorf("defaults: access %v refresh %v", c.AccessTokenTTL, c.RefreshTokenTTL)
	}
	c = Config{AccessTokenTTL: time.Minute, RefreshTokenTTL: time.Hour}.withDefaults()
	if c.AccessTokenTTL != time.Minute || c.RefreshTokenTTL != time.Hour {
		t.Errorf("explicit values not kept: %v %v", c.AccessTokenTTL, c.RefreshTokenTTL)
	}
}

func TestCheckUserPassword(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, password string
		want           error
	}{
		{"long and rare", "violet tractor at noon", nil},
		{"nine characters", "abcdefgh9", ErrWeakPassword},
		{"common", "qwertyuiop", ErrWeakPassword},
		{"common in capitals", "  PASSWORD123 ", ErrWeakPassword},
		{"the email", "ada@example.com", ErrWeakPassword},
		{"invalid UTF-8", "abcdefghij\xff", ErrInvalid},
		{"too long", strings.Repeat("x", MaxPasswordBytes+1), ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := checkUserPassword(tt.password, "ada@example.com")
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("checkUserPassword(%q) = %v, want %v", tt.password, err, tt.want)
			}
		})
	}
	if n := len(commonPasswords()); n < 250 {
		t.Errorf("common password list has %d entries", n)
	}
}

func TestRotateUserKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _, clock := testService(t, Config{})
	env := newApp(t, s).Environment
	old := signedUpUser(t, s, env)

	gen, err := s.RotateUserKey(ctx, env.AppID, env.Name)
	if err != nil || gen != 2 {
		t.Fatalf("RotateUserKey = %d, %v; want 2", gen, err)
	}
	if _, err := s.VerifyUserToken(ctx, env, old.AccessToken); err != nil {
		t.Errorf("a token of the previous generation must verify until it expires: %v", err)
	}
	fresh, err := s.Refresh(ctx, env, s.sys, old.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := jwt.NewParser().ParseUnverified(fresh.AccessToken, &userTokenClaims{})
	if err != nil || tok.Header["kid"] != "2" {
		t.Fatalf("new token kid = %v (%v), want 2", tok.Header["kid"], err)
	}
	// A server key rotation rewrites the environment document; it must not lose the user key generation.
	if _, err := s.RotateKey(ctx, env.AppID, env.Name, KeyServer, 0); err != nil {
		t.Fatal(err)
	}
	s.userKeys.invalidateEnv(env.DB)
	if _, err := s.VerifyUserToken(ctx, env, fresh.AccessToken); err != nil {
		t.Errorf("generation lost by a server key rotation: %v", err)
	}

	// Past the previous generation's tokens' lifetime, its kid stops
	// verifying, even for a token that has not expired (issued late).
	clock.Advance(DefaultAccessTokenTTL + DefaultKeyCacheTTL + time.Second)
	lateOld := forgeUserToken(t, s, env, 1, userTokenClaims{}, clock.Now())
	if _, err := s.VerifyUserToken(ctx, env, lateOld); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("retired generation: err = %v, want ErrUnauthorized", err)
	}
	current := forgeUserToken(t, s, env, 2, userTokenClaims{}, clock.Now())
	if _, err := s.VerifyUserToken(ctx, env, current); err != nil {
		t.Errorf("current generation: %v", err)
	}
	if _, err := s.RotateUserKey(ctx, env.AppID, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown environment: %v", err)
	}
}

// forgeUserToken signs claims (filled with valid defaults for env) with
// generation gen of env's key, as issueAccessToken would at now.
func forgeUserToken(t testing.TB, s *Service, env Environment, gen int64, c userTokenClaims, now time.Time) string {
	t.Helper()
	if c.App == "" {
		c.App, c.Env, c.SID = env.AppID, env.Name, "session1"
		c.Subject, c.Issuer = "user1", userJWTIssuer
		c.Audience = jwt.ClaimStrings{userAudience(env)}
		c.IssuedAt = jwt.NewNumericDate(now)
		c.ExpiresAt = jwt.NewNumericDate(now.Add(time.Minute))
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	tok.Header["kid"] = strconv.FormatInt(gen, 10)
	signed, err := tok.SignedString(s.userKey(env, gen))
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func TestVerifyUserTokenRejects(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _, clock := testService(t, Config{})
	app, err := s.CreateApp(ctx, "Todo")
	if err != nil {
		t.Fatal(err)
	}
	dev, prod := app.Environments[0].Environment, app.Environments[2].Environment
	now := clock.Now()
	valid := forgeUserToken(t, s, dev, 1, userTokenClaims{}, now)
	parts := strings.Split(valid, ".")
	tampered := parts[0] + "." + strings.TrimRight(parts[1], "=") + "x." + parts[2]
	if _, err := s.VerifyUserToken(ctx, dev, valid); err != nil {
		t.Fatalf("valid token refused: %v", err)
	}
	expired := userTokenClaims{App: dev.AppID, Env: dev.Name, SID: "s", RegisteredClaims: jwt.RegisteredClaims{
		Subject: "u", Issuer: userJWTIssuer, Audience: jwt.ClaimStrings{userAudience(dev)},
		IssuedAt: jwt.NewNumericDate(now.Add(-time.Hour)), ExpiresAt: jwt.NewNumericDate(now.Add(-time.Minute)),
	}}
	wrongEnvClaim := expired
	wrongEnvClaim.Env, wrongEnvClaim.ExpiresAt = "prod", jwt.NewNumericDate(now.Add(time.Minute))
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "u"}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		env   Environment
		token string
	}{
		{"empty", dev, ""},
		{"garbage", dev, "not.a.jwt"},
		{"other environment", prod, valid},
		{"expired", dev, forgeUserToken(t, s, dev, 1, expired, now)},
		{"env claim disagrees", dev, forgeUserToken(t, s, dev, 1, wrongEnvClaim, now)},
		{"unknown kid", dev, forgeUserToken(t, s, dev, 2, userTokenClaims{}, now)},
		{"alg none", dev, none},
		{"tampered", dev, tampered},
		{"too long", dev, strings.Repeat("a", maxTokenLen+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := s.VerifyUserToken(ctx, tt.env, tt.token); !errors.Is(err, ErrUnauthorized) {
				t.Errorf("err = %v, want ErrUnauthorized", err)
			}
		})
	}
}

func FuzzVerifyUserToken(f *testing.F) {
	s, _, clock := testService(f, Config{})
	ak, err := s.CreateApp(context.Background(), "Fuzz")
	if err != nil {
		f.Fatal(err)
	}
	env := ak.Environments[0].Environment
	valid := forgeUserToken(f, s, env, 1, userTokenClaims{}, clock.Now())
	for _, seed := range []string{valid, "", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", valid + "x", strings.ReplaceAll(valid, ".", "..")} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		c, err := s.VerifyUserToken(context.Background(), env, token)
		if err != nil {
			if !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("error %v is not ErrUnauthorized", err)
			}
			return
		}
		if c.AppID != env.AppID || c.Environment != env.Name || c.UserID == "" || c.SessionID == "" {
			t.Fatalf("accepted claims %+v", c)
		}
	})
}

func FuzzRefreshTokenShape(f *testing.F) {
	for _, seed := range []string{RefreshTokenPrefix + strings.Repeat("a", refreshTokenRandLen), "sbr_", "", "sbr_" + strings.Repeat("é", 22)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		if wellFormedRefreshToken(tok) && (len(tok) != 47 || !strings.HasPrefix(tok, RefreshTokenPrefix)) {
			t.Fatalf("accepted %q", tok)
		}
	})
}
