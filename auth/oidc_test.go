package auth

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/keyring"
	"github.com/skybridgehq/skybridge/store"
)

func TestOIDCProviderInputValidate(t *testing.T) {
	t.Parallel()
	good := OIDCProviderInput{Issuer: "https://accounts.example.com/", ClientID: "c", RedirectURIs: []string{"com.example.app:/cb"}}
	in, err := good.validate()
	if err != nil {
		t.Fatal(err)
	}
	if in.Issuer != "https://accounts.example.com" || len(in.Scopes) != 1 || in.Scopes[0] != "openid" {
		t.Errorf("normalised to %+v", in)
	}
	cases := []struct {
		name  string
		in    OIDCProviderInput
		field string
	}{
		{"http issuer", OIDCProviderInput{Issuer: "http://accounts.example.com", ClientID: "c"}, "issuer"},
		{"no issuer", OIDCProviderInput{ClientID: "c"}, "issuer"},
		{"issuer query", OIDCProviderInput{Issuer: "https://a.example.com?x=1", ClientID: "c"}, "issuer"},
		{"no client", OIDCProviderInput{Issuer: "https://a.example.com"}, "clientId"},
		{"relative redirect", OIDCProviderInput{Issuer: "https://a.example.com", ClientID: "c", RedirectURIs: []string{"/cb"}}, "redirectUris[0]"},
		{"javascript redirect", OIDCProviderInput{Issuer: "https://a.example.com", ClientID: "c", RedirectURIs: []string{"https://ok.example.com/cb", "javascript:alert(1)"}}, "redirectUris[1]"},
		{"http redirect", OIDCProviderInput{Issuer: "https://a.example.com", ClientID: "c", RedirectURIs: []string{"http://evil.example.com/cb"}}, "redirectUris[0]"},
		{"fragment redirect", OIDCProviderInput{Issuer: "https://a.example.com", ClientID: "c", RedirectURIs: []string{"https://ok.example.com/cb#x"}}, "redirectUris[0]"},
		{"bad scope", OIDCProviderInput{Issuer: "https://a.example.com", ClientID: "c", Scopes: []string{"a b"}}, "scopes[0]"},
		{"bad callback", OIDCProviderInput{Issuer: "https://a.example.com", ClientID: "c", CallbackURL: "ftp://x"}, "callbackUrl"},
	}
	for _, c := range cases {
		_, err := c.in.validate()
		var fe *OIDCFieldError
		if !errors.Is(err, ErrInvalid) || !errors.As(err, &fe) || !strings.Contains(err.Error(), c.field+":") {
			t.Errorf("%s: %v, want ErrInvalid on %s", c.name, err, c.field)
		}
	}
	for _, ok := range []string{"http://127.0.0.1:5556/dex", "http://localhost:8080"} {
		if err := validIssuer(ok); err != nil {
			t.Errorf("issuer %s: %v", ok, err)
		}
	}
	for _, ok := range []string{"com.example.app:/callback", "myapp://auth", "https://app.example.com/cb?x=1", "http://127.0.0.1:9000/cb"} {
		if err := validRedirectURI(ok); err != nil {
			t.Errorf("redirect %s: %v", ok, err)
		}
	}
	for _, name := range []string{"", "Google", "a_b", strings.Repeat("a", 33), "a/b"} {
		if ValidOIDCProviderName(name) == nil {
			t.Errorf("provider name %q accepted", name)
		}
	}
}

func TestOIDCState(t *testing.T) {
	t.Parallel()
	s, _, clock := testService(t, Config{})
	st := oidcState{App: "app", Env: "dev", Provider: "google", RedirectURI: "com.example.app:/cb", Callback: "https://x/cb",
		Nonce: "n", Verifier: "v", AppState: "s", Expires: clock.Now().Add(OIDCStateTTL).Unix()}
	param, err := s.sealOIDCState(st)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.openOIDCState(param, "google")
	if err != nil || got != st {
		t.Fatalf("open: %+v, %v", got, err)
	}
	if _, err := s.openOIDCState(param, "apple"); !errors.Is(err, ErrInvalid) {
		t.Errorf("other provider: %v", err)
	}
	b := []byte(param)
	b[len(b)/2] ^= 1
	if b[len(b)/2] == '-' || b[len(b)/2] == '_' || b[len(b)/2] > 'z' {
		b[len(b)/2] = 'A'
	}
	if _, err := s.openOIDCState(string(b), "google"); !errors.Is(err, ErrInvalid) {
		t.Errorf("tampered: %v", err)
	}
	other, _, _ := testService(t, Config{Now: clock.Now})
	kr, _, err := keyring.Generate()
	if err != nil {
		t.Fatal(err)
	}
	other.kr = kr
	if _, err := other.openOIDCState(param, "google"); !errors.Is(err, ErrInvalid) {
		t.Errorf("other keyring: %v", err)
	}
	clock.Advance(OIDCStateTTL + time.Second)
	if _, err := s.openOIDCState(param, "google"); !errors.Is(err, ErrInvalid) {
		t.Errorf("expired: %v", err)
	}
}

func TestOIDCRedirect(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"com.example.app:/cb":        "com.example.app:/cb?code=c&state=s",
		"com.example.app:cb":         "com.example.app:cb?code=c&state=s",
		"myapp://auth/done":          "myapp://auth/done?code=c&state=s",
		"https://app.example/cb?x=1": "https://app.example/cb?code=c&state=s&x=1",
	}
	for in, want := range cases {
		cb := OIDCCallback{RedirectURI: in, AppState: "s"}
		if got := cb.OIDCRedirect(url.Values{"code": {"c"}}); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

// FuzzOpenOIDCState feeds the callback's state decoder arbitrary input:
// it must never panic, and only states this service sealed may open.
func FuzzOpenOIDCState(f *testing.F) {
	s, _, clock := testService(f, Config{})
	want := oidcState{App: "a", Env: "dev", Provider: "p", RedirectURI: "x:/y", Callback: "https://c",
		Nonce: "n", Verifier: "v", Expires: clock.Now().Add(time.Minute).Unix()}
	valid, err := s.sealOIDCState(want)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{valid, valid[:len(valid)-1], valid + "A", "", "AAAA", "!!!", strings.Repeat("A", 100), "eyJhIjoiYiJ9"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, param string) {
		st, err := s.openOIDCState(param, "p")
		// Each fuzzing process seals its own valid seed (random nonces),
		// so what opens must be that state, never another.
		if err == nil && st != want {
			t.Fatalf("opened a state this service did not seal: %+v", st)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("error %v is not ErrInvalid", err)
		}
	})
}

func TestOIDCIndexes(t *testing.T) {
	t.Parallel()
	for coll, list := range OIDCIndexes() {
		if err := store.ValidCollectionName(coll); err != nil {
			t.Error(err)
		}
		for _, i := range list {
			if err := i.Validate(); err != nil {
				t.Errorf("%s: %v", coll, err)
			}
		}
	}
	for _, i := range SystemIndexes()[collOIDCProviders] {
		if err := i.Validate(); err != nil {
			t.Error(err)
		}
	}
}
