package auth

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
)

// The state of the browser flow travels through the provider and back in
// the state parameter, sealed with the keyring (AES-GCM): it is opaque to
// the browser and the provider, cannot be forged or altered, and any node
// can open it at the callback, so no node keeps flow state in memory.

// OIDCStateTTL is how long a browser sign-in may take from start to
// callback.
const OIDCStateTTL = 10 * time.Minute

// maxOIDCStateLen bounds the state parameter read at the callback.
const maxOIDCStateLen = 8 << 10

// oidcStateAAD separates sealed states from every other sealed value.
var oidcStateAAD = []byte("skybridge/oidc-state/v1")

// oidcState is what the flow remembers between start and callback.
type oidcState struct {
	App         string `json:"a"`
	Env         string `json:"e"`
	Provider    string `json:"p"`
	RedirectURI string `json:"r"`           // the app's URI the flow ends at
	Callback    string `json:"c"`           // Skybridge's redirect URI at the provider
	Nonce       string `json:"n"`           // sent to the provider, expected in the ID token
	Verifier    string `json:"v"`           // the PKCE code verifier
	AppState    string `json:"s,omitempty"` // the app's own state, given back at the end
	// AppChallenge is the app's PKCE challenge for the one-time code.
	AppChallenge string `json:"k,omitempty"`
	Expires      int64  `json:"x"` // Unix seconds
}

// sealOIDCState encodes st as a state parameter.
func (s *Service) sealOIDCState(st oidcState) (string, error) {
	raw, err := json.Marshal(st)
	if err != nil {
		return "", fmt.Errorf("seal OpenID state: %w", err)
	}
	sealed, err := s.kr.Seal(raw, oidcStateAAD)
	if err != nil {
		return "", fmt.Errorf("seal OpenID state: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

// openOIDCState decodes a state parameter sealed for provider, refusing
// anything malformed, altered, expired or from another provider's flow
// with ErrInvalid.
func (s *Service) openOIDCState(param, provider string) (oidcState, error) {
	if param == "" || len(param) > maxOIDCStateLen {
		return oidcState{}, fmt.Errorf("%w: state is missing or too long", ErrInvalid)
	}
	sealed, err := base64.RawURLEncoding.DecodeString(param)
	if err != nil {
		return oidcState{}, fmt.Errorf("%w: state is not base64url", ErrInvalid)
	}
	raw, err := s.kr.Open(sealed, oidcStateAAD)
	if err != nil {
		return oidcState{}, fmt.Errorf("%w: state was altered or is not ours", ErrInvalid)
	}
	var st oidcState
	if err := json.Unmarshal(raw, &st); err != nil {
		return oidcState{}, fmt.Errorf("%w: state: %v", ErrInvalid, err)
	}
	switch {
	case st.App == "" || st.Env == "" || st.RedirectURI == "" || st.Callback == "" || st.Nonce == "" || st.Verifier == "":
		return oidcState{}, fmt.Errorf("%w: state is incomplete", ErrInvalid)
	case st.Provider != provider:
		return oidcState{}, fmt.Errorf("%w: state belongs to another provider's sign-in", ErrInvalid)
	case s.now().Unix() > st.Expires:
		return oidcState{}, fmt.Errorf("%w: the sign-in took too long; start again", ErrInvalid)
	}
	return st, nil
}

// randomToken returns n random bytes in base64url.
func randomToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
