package api

import (
	"errors"
	"testing"
)

// FuzzOIDCPayloads feeds the bodies of POST /v1/auth/oidc/exchange and
// /v1/auth/oidc/{provider}/token through the decoder and checks the routes
// use: no panic, and every refusal is a 400-class problem.
func FuzzOIDCPayloads(f *testing.F) {
	for _, seed := range []string{
		`{"code":"sbo_abc"}`, `{"code":"sbo_abc","codeVerifier":"v"}`, `{"code":""}`, `{"code":1}`, `{}`, `[]`, `null`, `{"code":"x","extra":true}`,
		`{"idToken":"a.b.c","nonce":"n"}`, `{"idToken":"a.b.c"}`, `{"nonce":"n"}`, `{"idToken":null,"nonce":"n"}`,
		`{"idToken":"a.b.c","nonce":"n"} {}`, "\xff", `{"code":"\u0000"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var ex oidcExchangeRequest
		err := decodeJSONBytes(body, &ex)
		if err == nil {
			err = ex.check()
		}
		checkClientError(t, "exchange", err)
		var tok oidcTokenRequest
		err = decodeJSONBytes(body, &tok)
		if err == nil {
			err = tok.check()
		}
		checkClientError(t, "token", err)
		if err == nil && (tok.IDToken == "" || tok.Nonce == "") {
			t.Fatalf("accepted %q with an empty field", body)
		}
	})
}

func checkClientError(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if !errors.Is(err, ErrMalformedBody) && !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("%s: %v is neither malformed body nor invalid input", what, err)
	}
	if p := problemFor(err); p.Status != 400 {
		t.Fatalf("%s: %v became status %d", what, err, p.Status)
	}
}
