// Package keyring holds the server's master secret (SKYBRIDGE_SECRET_KEY)
// and everything derived from it: per-purpose keys (HKDF-SHA256) and the
// authenticated encryption of secrets kept at rest (AES-256-GCM).
//
// The master secret never leaves the Keyring: it is not printed by fmt or
// slog, and errors about a malformed secret never repeat its text.
package keyring

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"golang.org/x/crypto/hkdf"
)

// KeySize is the length of the master secret and of every derived key, in
// bytes.
const KeySize = 32

// Sentinel errors.
var (
	// ErrInvalidKey: the master secret is malformed (wrong encoding or
	// length). The error text says what is wrong, never what the value was.
	ErrInvalidKey = errors.New("keyring: invalid secret key")
	// ErrDecrypt: a sealed value was tampered with, sealed under another
	// key or another associated data, or is not a sealed value at all.
	ErrDecrypt = errors.New("keyring: cannot decrypt")
)

// hkdfSalt separates Skybridge's derivations from any other use of the
// same secret. The master secret is already uniformly random, so a fixed
// salt is enough.
var hkdfSalt = []byte("skybridge keyring v1")

// sealPurpose is the Derive purpose of the key that Seal uses.
const sealPurpose = "secrets-at-rest"

// Sealed values start with a version byte naming the master key and cipher
// they were sealed with, so that a later key rotation can keep opening old
// values. Version 1 is AES-256-GCM under Derive(sealPurpose) of the one
// master secret this Keyring holds.
const (
	sealV1      byte = 1
	nonceSize        = 12
	tagSize          = 16
	sealedFloor      = 1 + nonceSize + tagSize
)

// Keyring holds the server's master secret (SKYBRIDGE_SECRET_KEY) and
// derives purpose keys from it. It is safe for concurrent use.
type Keyring struct {
	master [KeySize]byte
	aead   cipher.AEAD
}

// New returns a Keyring over a 32-byte master secret. It copies secret.
func New(secret []byte) (*Keyring, error) {
	if len(secret) != KeySize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrInvalidKey, len(secret), KeySize)
	}
	if bytes.Equal(secret, make([]byte, KeySize)) {
		return nil, fmt.Errorf("%w: all bytes are zero", ErrInvalidKey)
	}
	k := &Keyring{}
	copy(k.master[:], secret)
	block, err := aes.NewCipher(k.Derive(sealPurpose))
	if err != nil {
		return nil, fmt.Errorf("keyring: aes: %w", err)
	}
	k.aead, err = cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("keyring: gcm: %w", err)
	}
	return k, nil
}

// Generate returns a Keyring over a fresh random master secret, and that
// secret encoded as Parse reads it (standard padded base64).
func Generate() (*Keyring, string, error) {
	secret := make([]byte, KeySize)
	if _, err := rand.Read(secret); err != nil {
		return nil, "", fmt.Errorf("keyring: random: %w", err)
	}
	k, err := New(secret)
	if err != nil {
		return nil, "", err
	}
	return k, base64.StdEncoding.EncodeToString(secret), nil
}

// Parse reads a master secret given as text: base64 (standard or URL
// alphabet, padded or not) or hex, of exactly 32 bytes. Surrounding white
// space is ignored. The error names the problem and never echoes s.
func Parse(s string) (*Keyring, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	secret, err := decodeSecret(s)
	if err != nil {
		return nil, err
	}
	return New(secret)
}

// decodeSecret tries hex first: an even number of hex digits is taken as
// hex. The base64 of 32 bytes takes 43 or 44 characters, and 44 of them
// end in '=', so no valid secret is read both ways.
func decodeSecret(s string) ([]byte, error) {
	if len(s)%2 == 0 {
		if b, err := hex.DecodeString(s); err == nil {
			if len(b) != KeySize {
				return nil, fmt.Errorf("%w: hex of %d bytes, want %d", ErrInvalidKey, len(b), KeySize)
			}
			return b, nil
		}
	}
	// The base64 decoders skip '\r' and '\n' anywhere; a secret never
	// legitimately holds them inside.
	if strings.ContainsAny(s, "\r\n") {
		return nil, fmt.Errorf("%w: contains a line break", ErrInvalidKey)
	}
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding,
		base64.URLEncoding, base64.RawURLEncoding,
	} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != KeySize {
				return nil, fmt.Errorf("%w: decodes to %d bytes, want %d", ErrInvalidKey, len(b), KeySize)
			}
			return b, nil
		}
	}
	return nil, fmt.Errorf("%w: neither base64 nor hex of %d bytes (%d characters given)", ErrInvalidKey, KeySize, len(s))
}

// Derive returns the 32-byte key for purpose (e.g. "admin-jwt"), derived
// from the master secret with HKDF-SHA256. The same secret and purpose
// always give the same key; different purposes give unrelated keys.
func (k *Keyring) Derive(purpose string) []byte {
	r := hkdf.New(sha256.New, k.master[:], hkdfSalt, []byte("skybridge/"+purpose))
	out := make([]byte, KeySize)
	if _, err := io.ReadFull(r, out); err != nil {
		// HKDF-SHA256 can expand to 255*32 bytes; 32 never fails.
		panic(fmt.Sprintf("keyring: hkdf: %v", err))
	}
	return out
}

// Seal encrypts plaintext with AES-256-GCM under the derived
// "secrets-at-rest" key. The aad (associated data, e.g. the record the
// secret belongs to) is authenticated but not stored: Open needs the same
// aad. The result is: version byte, 12-byte random nonce, ciphertext and
// tag.
func (k *Keyring) Seal(plaintext, aad []byte) ([]byte, error) {
	out := make([]byte, 1+nonceSize, 1+nonceSize+len(plaintext)+tagSize)
	out[0] = sealV1
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("keyring: random nonce: %w", err)
	}
	return k.aead.Seal(out, out[1:1+nonceSize], plaintext, sealAAD(sealV1, aad)), nil
}

// Open decrypts a value from Seal given the same aad. It fails with
// ErrDecrypt when the value was tampered with, was sealed under another key
// or aad, has an unknown version, or is too short.
func (k *Keyring) Open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) < sealedFloor {
		return nil, fmt.Errorf("%w: %d bytes is too short", ErrDecrypt, len(sealed))
	}
	if sealed[0] != sealV1 {
		return nil, fmt.Errorf("%w: unknown version %d", ErrDecrypt, sealed[0])
	}
	nonce := sealed[1 : 1+nonceSize]
	pt, err := k.aead.Open(nil, nonce, sealed[1+nonceSize:], sealAAD(sealV1, aad))
	if err != nil {
		return nil, fmt.Errorf("%w: authentication failed", ErrDecrypt)
	}
	return pt, nil
}

// sealAAD binds the version byte into the authenticated data, so that a
// value cannot be relabelled with another version.
func sealAAD(version byte, aad []byte) []byte {
	out := make([]byte, 0, 1+len(aad))
	out = append(out, version)
	return append(out, aad...)
}

// String keeps the secret out of fmt output. It (like GoString and
// LogValue) has a value receiver so that a dereferenced copy stays
// redacted too.
func (Keyring) String() string { return "keyring.Keyring(redacted)" }

// GoString keeps the secret out of %#v output.
func (k Keyring) GoString() string { return k.String() }

// LogValue keeps the secret out of slog output.
func (k Keyring) LogValue() slog.Value { return slog.StringValue(k.String()) }
