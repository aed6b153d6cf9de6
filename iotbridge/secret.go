package iotbridge

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// newSecret returns a fresh device secret: 256 random bits, URL-safe
// base64 without padding (43 characters).
func newSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails on supported systems
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// hashSecret is how a device secret is stored: HMAC-SHA256 under the
// service key, bound to the device id. A random 256-bit secret needs no
// slow password hash, and a fast one keeps mass reconnects cheap.
func (s *Service) hashSecret(deviceID, secret string) string {
	m := hmac.New(sha256.New, s.cfg.SecretKey)
	m.Write([]byte(deviceID))
	m.Write([]byte{0})
	m.Write([]byte(secret))
	return hex.EncodeToString(m.Sum(nil))
}

// secretMatches compares secret with the stored hash in constant time.
func (s *Service) secretMatches(deviceID, secret, stored string) bool {
	want, err := hex.DecodeString(stored)
	if err != nil || len(want) != sha256.Size {
		return false
	}
	got, _ := hex.DecodeString(s.hashSecret(deviceID, secret))
	return hmac.Equal(got, want)
}
