package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDeployTokens(t *testing.T) {
	t.Parallel()
	s, db, clock := testService(t, Config{})
	ctx := context.Background()
	app, err := s.CreateApp(ctx, "Todo")
	if err != nil {
		t.Fatal(err)
	}

	// Refused input, nothing stored.
	for _, name := range []string{"", "   ", strings.Repeat("n", MaxDeployTokenNameLen+1), "tab\there", "bad\xff"} {
		if _, err := s.CreateDeployToken(ctx, app.ID, "prod", name, "admin1"); !errors.Is(err, ErrInvalid) {
			t.Errorf("name %q: %v, want ErrInvalid", name, err)
		}
	}
	for _, where := range [][2]string{{app.ID, "nope"}, {"nope", "prod"}, {"", ""}} {
		if _, err := s.CreateDeployToken(ctx, where[0], where[1], "ci", "admin1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("create in %v: %v, want ErrNotFound", where, err)
		}
		if _, err := s.ListDeployTokens(ctx, where[0], where[1]); !errors.Is(err, ErrNotFound) {
			t.Errorf("list in %v: %v, want ErrNotFound", where, err)
		}
	}
	if n, _ := db.Collection(collDeployTokens).Count(ctx, nil); n != 0 {
		t.Fatalf("refused tokens were stored: %d", n)
	}

	nt, err := s.CreateDeployToken(ctx, app.ID, "prod", "  GitHub Actions  ", "admin1")
	if err != nil {
		t.Fatal(err)
	}
	if !WellFormedDeployToken(nt.Token) || nt.ID == "" || nt.Name != "GitHub Actions" || nt.App != app.ID ||
		nt.Env != "prod" || nt.CreatedBy != "admin1" || !nt.CreatedAt.Equal(clock.Now()) || !nt.LastUsedAt.IsZero() {
		t.Fatalf("CreateDeployToken = %+v", nt)
	}
	clock.Advance(time.Second) // list order is creation order
	other, err := s.CreateDeployToken(ctx, app.ID, "prod", "other", "admin1")
	if err != nil || other.Token == nt.Token {
		t.Fatalf("second token: %+v, %v", other, err)
	}
	// Only the hash is stored.
	d, err := db.Collection(collDeployTokens).Get(ctx, nt.ID)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range d {
		if s, ok := v.(string); ok && strings.Contains(s, nt.Token[len(DeployTokenPrefix):]) {
			t.Fatalf("field %s stores the token", k)
		}
	}
	if d[fieldDeployHash] != hashSecret(nt.Token) {
		t.Fatalf("stored hash %v", d[fieldDeployHash])
	}

	// Verification records the use at most once per interval.
	got, err := s.VerifyDeployToken(ctx, nt.Token)
	if err != nil || got.ID != nt.ID || got.App != app.ID || got.Env != "prod" || !got.LastUsedAt.Equal(clock.Now()) {
		t.Fatalf("VerifyDeployToken = %+v, %v", got, err)
	}
	firstUse := clock.Now()
	version := func() int64 {
		d, err := db.Collection(collDeployTokens).Get(ctx, nt.ID)
		if err != nil {
			t.Fatal(err)
		}
		return d["_v"].(int64)
	}
	v := version()
	clock.Advance(DeployTokenUseInterval - time.Second)
	if got, err := s.VerifyDeployToken(ctx, nt.Token); err != nil || !got.LastUsedAt.Equal(firstUse) || version() != v {
		t.Fatalf("use within the interval wrote: %+v, %v, version %d → %d", got, err, v, version())
	}
	clock.Advance(time.Second)
	if got, err := s.VerifyDeployToken(ctx, nt.Token); err != nil || !got.LastUsedAt.Equal(clock.Now()) || version() != v+1 {
		t.Fatalf("use after the interval: %+v, %v", got, err)
	}

	list, err := s.ListDeployTokens(ctx, app.ID, "prod")
	if err != nil || len(list) != 2 || list[0].ID != nt.ID || !list[0].LastUsedAt.Equal(clock.Now()) || !list[1].LastUsedAt.IsZero() {
		t.Fatalf("ListDeployTokens = %+v, %v", list, err)
	}
	if list, err := s.ListDeployTokens(ctx, app.ID, "dev"); err != nil || len(list) != 0 {
		t.Fatalf("other environment lists %+v, %v", list, err)
	}

	// Revocation: only in its own environment, then refused at once.
	if err := s.RevokeDeployToken(ctx, app.ID, "dev", nt.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke from another environment: %v", err)
	}
	if err := s.RevokeDeployToken(ctx, app.ID, "prod", nt.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.VerifyDeployToken(ctx, nt.Token); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("revoked token: %v", err)
	}
	if err := s.RevokeDeployToken(ctx, app.ID, "prod", nt.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second revocation: %v", err)
	}
	if _, err := s.VerifyDeployToken(ctx, other.Token); err != nil {
		t.Fatalf("the other token stopped working: %v", err)
	}
}

func TestVerifyDeployTokenRefusesForgeries(t *testing.T) {
	t.Parallel()
	s, _, _ := testService(t, Config{})
	ctx := context.Background()
	app, err := s.CreateApp(ctx, "Todo")
	if err != nil {
		t.Fatal(err)
	}
	nt, err := s.CreateDeployToken(ctx, app.ID, "dev", "ci", "admin1")
	if err != nil {
		t.Fatal(err)
	}
	last := nt.Token[len(nt.Token)-1]
	flipped := nt.Token[:len(nt.Token)-1] + map[bool]string{true: "A", false: "B"}[last != 'A']
	for name, tok := range map[string]string{
		"empty":         "",
		"prefix only":   DeployTokenPrefix,
		"one short":     nt.Token[:len(nt.Token)-1],
		"one long":      nt.Token + "A",
		"flipped":       flipped,
		"other prefix":  "sbs_" + nt.Token[len(DeployTokenPrefix):],
		"upper prefix":  "SBD_" + nt.Token[len(DeployTokenPrefix):],
		"non-base62":    nt.Token[:len(nt.Token)-1] + "-",
		"the hash":      hashSecret(nt.Token),
		"padded":        " " + nt.Token,
		"server key":    app.Environments[0].ServerKey,
		"non-ASCII":     nt.Token[:len(nt.Token)-2] + "é",
		"NUL in token":  nt.Token[:len(nt.Token)-1] + "\x00",
		"very long":     DeployTokenPrefix + strings.Repeat("A", 5000),
		"another token": DeployTokenPrefix + strings.Repeat("A", deployTokenRandLen),
	} {
		if got, err := s.VerifyDeployToken(ctx, tok); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("%s: VerifyDeployToken = %+v, %v; want ErrUnauthorized", name, got, err)
		}
	}
}

func FuzzWellFormedDeployToken(f *testing.F) {
	for _, s := range []string{"", DeployTokenPrefix, DeployTokenPrefix + strings.Repeat("a", deployTokenRandLen),
		DeployTokenPrefix + strings.Repeat("a", deployTokenRandLen-1) + "_", "sbs_" + strings.Repeat("Z", deployTokenRandLen)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !WellFormedDeployToken(s) {
			return
		}
		if len(s) != 47 || !strings.HasPrefix(s, DeployTokenPrefix) {
			t.Fatalf("accepted %q", s)
		}
		for _, c := range s[len(DeployTokenPrefix):] {
			if !strings.ContainsRune(base62, c) {
				t.Fatalf("accepted %q with %q", s, c)
			}
		}
	})
}
