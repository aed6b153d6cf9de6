package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/internal/testenv/oidcprovider"
)

func nonceHash(nonce string) string {
	sum := sha256.Sum256([]byte(nonce))
	return hex.EncodeToString(sum[:])
}

func testOIDCIDToken(t *testing.T, o *oidcEnv) {
	o.t = t
	user := oidcprovider.User{Subject: "native-1", Email: "native@example.com", EmailVerified: true}
	claims := func(nonce string) map[string]any {
		c := o.op.Claims(user)
		c["nonce"] = nonce
		return c
	}
	// The nonce claim may be the nonce or its SHA-256 (Apple).
	st, data := o.idToken(o.op.MintIDToken(claims("n-1")), "n-1")
	var s session
	if st != 200 || json.Unmarshal(data, &s) != nil || s.User.Email != "native@example.com" || s.AccessToken == "" {
		t.Fatalf("ID token sign-in: %d %s", st, data)
	}
	var s2 session
	st, data = o.idToken(o.op.MintIDToken(claims(nonceHash("n-2"))), "n-2")
	if st != 200 || json.Unmarshal(data, &s2) != nil || s2.User.ID != s.User.ID {
		t.Fatalf("hashed nonce: %d %s", st, data)
	}
	o.expect("dev", "GET", "/v1/auth/me", s2.AccessToken, nil, 200, nil)

	// Racing first sign-ins of one subject make one user.
	racer := claims("r")
	racer["sub"], racer["email"] = "racer-1", "racer@example.com"
	body, _ := json.Marshal(map[string]string{"idToken": o.op.MintIDToken(racer), "nonce": "r"})
	const racers = 6
	devKey := o.key("dev")
	ids := make([]string, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, err := http.NewRequest("POST", o.srv.URL+"/v1/auth/oidc/test/token", bytes.NewReader(body))
			if err != nil {
				return
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set(AppKeyHeader, devKey)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			var s session
			if resp.StatusCode == 200 && json.NewDecoder(resp.Body).Decode(&s) == nil {
				ids[i] = s.User.ID
			}
		}()
	}
	wg.Wait()
	for i, id := range ids {
		if id == "" || id != ids[0] {
			t.Fatalf("racing sign-ins made users %v (racer %d)", ids, i)
		}
	}

	refused := map[string]string{}
	why := map[string]string{
		"wrong audience": "audience", "wrong issuer": "different provider", "expired": "expired",
		"bad nonce": "nonce", "no nonce": "nonce", "alg none": `"none"`, "unknown kid": "signature", "garbage": "malformed",
	}
	c := claims("n")
	c["aud"] = "someone-else"
	refused["wrong audience"] = o.op.MintIDToken(c)
	c = claims("n")
	c["iss"] = "https://evil.example.com"
	refused["wrong issuer"] = o.op.MintIDToken(c)
	c = claims("n")
	c["exp"] = time.Now().Add(-time.Minute).Unix()
	c["iat"] = time.Now().Add(-time.Hour).Unix()
	refused["expired"] = o.op.MintIDToken(c)
	refused["bad nonce"] = o.op.MintIDToken(claims("other"))
	refused["no nonce"] = o.op.MintIDToken(o.op.Claims(user))
	refused["alg none"] = o.op.MintUnsigned(claims("n"))
	refused["unknown kid"] = o.op.MintWithStrayKey(claims("n"))
	refused["garbage"] = "not.a.jwt"
	for name, tok := range refused {
		st, data := o.idToken(tok, "n")
		if st != 401 {
			t.Errorf("%s: %d %s", name, st, data)
		}
		// Each is refused for its own reason, not a shared one.
		if d := problemOf(t, data).Detail; !strings.Contains(d, why[name]) {
			t.Errorf("%s: refused with %q, want a mention of %q", name, d, why[name])
		}
	}
	// Bad bodies name their fields.
	for body, want := range map[string]string{`{"idToken":"x"}`: "nonce", `{"nonce":"n"}`: "idToken", `{"idToken":"x","nonce":"n","extra":1}`: "extra"} {
		st, data := o.call("dev", "POST", "/v1/auth/oidc/test/token", "", body)
		if p := problemOf(t, data); st != 400 || len(p.Errors) == 0 || p.Errors[0].Field != want {
			t.Errorf("%s: %d %s", body, st, data)
		}
	}
	if st, data := o.call("dev", "POST", "/v1/auth/oidc/nosuch/token", "", map[string]string{"idToken": "x", "nonce": "n"}); st != 404 {
		t.Errorf("unknown provider: %d %s", st, data)
	}
}

func testOIDCKeyRotation(t *testing.T, o *oidcEnv) {
	o.t = t
	user := oidcprovider.User{Subject: "rotating-1"}
	mint := func() string {
		c := o.op.Claims(user)
		c["nonce"] = "n"
		return o.op.MintIDToken(c)
	}
	old := mint()
	if st, data := o.idToken(old, "n"); st != 200 {
		t.Fatalf("before rotation: %d %s", st, data)
	}
	// Key sets are fetched again for an unknown kid at most once per
	// auth.OIDCRefetchEvery: step the clock past it before each rotation.
	defer o.skew.Store(0)
	later := func() { o.skew.Add(int64(auth.OIDCRefetchEvery + time.Second)) }
	// The provider rotates and drops the old key: a token under the new kid
	// verifies (the key set is fetched again), the old key's no longer.
	later()
	o.op.RotateKey(false)
	if st, data := o.idToken(mint(), "n"); st != 200 {
		t.Errorf("after rotation: %d %s", st, data)
	}
	if st, _ := o.idToken(old, "n"); st != 401 {
		t.Errorf("token of the dropped key: %d", st)
	}
	// Rotating while keeping the old key: both verify.
	prev := mint()
	later()
	o.op.RotateKey(true)
	for name, tok := range map[string]string{"new": mint(), "kept": prev} {
		if st, data := o.idToken(tok, "n"); st != 200 {
			t.Errorf("%s key: %d %s", name, st, data)
		}
	}
	// The browser flow signs with the current key too.
	o.signInBrowser()

	// A flood of tokens naming made-up key ids costs the provider one key
	// set fetch per interval, not one per token.
	later()
	before, start := o.op.KeySetFetches(), time.Now()
	for range 20 {
		if st, _ := o.idToken(o.op.MintWithStrayKey(o.op.Claims(user)), "n"); st != 401 {
			t.Fatalf("stray key: %d", st)
		}
	}
	// One fetch, or one more per interval a slow run takes.
	if n, most := o.op.KeySetFetches()-before, 1+int(time.Since(start)/auth.OIDCRefetchEvery); n < 1 || n > most {
		t.Fatalf("%d key set fetches for 20 unknown key ids, want 1 to %d", n, most)
	}
	// A real rotation after the interval is seen again.
	later()
	o.op.RotateKey(false)
	if st, data := o.idToken(mint(), "n"); st != 200 {
		t.Fatalf("rotation after a flood: %d %s", st, data)
	}
}
