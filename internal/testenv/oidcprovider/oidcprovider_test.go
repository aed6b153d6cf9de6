package oidcprovider

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// TestProtocol runs a code flow against the provider with the real client
// libraries, and checks the token endpoint refuses what it must.
func TestProtocol(t *testing.T) {
	t.Parallel()
	p := New(t, Config{})
	ctx := context.Background()
	disc, err := oidc.NewProvider(ctx, p.Issuer())
	if err != nil {
		t.Fatal(err)
	}
	const back = "http://127.0.0.1:1/cb"
	cfg := &oauth2.Config{ClientID: p.ClientID(), ClientSecret: p.ClientSecret(), Endpoint: disc.Endpoint(), RedirectURL: back, Scopes: []string{oidc.ScopeOpenID}}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	authorize := func(verifier string) string {
		t.Helper()
		resp, err := noFollow.Get(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier), oidc.Nonce("nonce-1")))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, err := resp.Location()
		if err != nil || loc.Query().Get("state") != "st" || loc.Query().Get("code") == "" {
			t.Fatalf("authorize answered %d %v", resp.StatusCode, loc)
		}
		return loc.Query().Get("code")
	}

	verifier := oauth2.GenerateVerifier()
	code := authorize(verifier)
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := disc.Verifier(&oidc.Config{ClientID: p.ClientID()}).Verify(ctx, raw)
	if err != nil || idt.Nonce != "nonce-1" || idt.Subject != "user-1" {
		t.Fatalf("ID token %+v: %v", idt, err)
	}
	// A code is good once.
	if _, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier)); err == nil {
		t.Error("a code was redeemed twice")
	}
	// A wrong verifier, or a wrong secret, is refused.
	if _, err := cfg.Exchange(ctx, authorize(verifier), oauth2.VerifierOption(oauth2.GenerateVerifier())); err == nil {
		t.Error("a wrong PKCE verifier was accepted")
	}
	bad := *cfg
	bad.ClientSecret = "nope"
	if _, err := bad.Exchange(ctx, authorize(verifier), oauth2.VerifierOption(verifier)); err == nil {
		t.Error("a wrong client secret was accepted")
	}
	// Without PKCE the authorization endpoint refuses.
	resp, err := noFollow.Get(cfg.AuthCodeURL("st"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc, _ := resp.Location(); loc == nil || loc.Query().Get("error") != "invalid_request" {
		t.Errorf("no PKCE: %v", loc)
	}
	// The JWKS lists the kept and the new key after a rotation.
	old := p.CurrentKeyID()
	kid := p.RotateKey(true)
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	r, err := http.Get(p.Issuer() + "/jwks")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	if err := json.NewDecoder(r.Body).Decode(&set); err != nil || len(set.Keys) != 2 || set.Keys[0].Kid != old || set.Keys[1].Kid != kid {
		t.Errorf("JWKS after rotation: %+v %v", set, err)
	}
}
