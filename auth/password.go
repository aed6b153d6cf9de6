package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Password length rules, in characters (runes) and bytes.
const (
	MinPasswordLen      = 12
	MaxPasswordBytes    = 1024
	passwordSaltLen     = 16
	passwordKeyLen      = 32
	phcPrefix           = "$argon2id$"
	maxPasswordMemory   = 1 << 20 // KiB (1 GiB): refuse stored hashes that ask for more
	maxPasswordTime     = 64
	maxPasswordHashSize = 512 // bytes of an encoded hash we are willing to parse
)

// PasswordParams are the argon2id cost parameters of a password hash.
type PasswordParams struct {
	// Memory in KiB. Default: 32768 (32 MiB).
	Memory uint32
	// Time is the number of passes over the memory. Default: 2.
	Time uint32
	// Threads is the parallelism (lanes). Default: 2.
	Threads uint8
}

// DefaultPasswordParams is m=32 MiB, t=2, p=2. It is stronger than the
// OWASP minimum for argon2id (19 MiB, t=2, p=1) and measured 35-45 ms per
// hash on a shared 2-core machine, which keeps a login well under 100 ms.
// The memory cost is what makes GPU guessing expensive; MaxConcurrentHashes
// bounds how much of it logins can take at once.
var DefaultPasswordParams = PasswordParams{Memory: 32 * 1024, Time: 2, Threads: 2}

func (p PasswordParams) withDefaults() PasswordParams {
	if p.Memory == 0 {
		p.Memory = DefaultPasswordParams.Memory
	}
	if p.Time == 0 {
		p.Time = DefaultPasswordParams.Time
	}
	if p.Threads == 0 {
		p.Threads = DefaultPasswordParams.Threads
	}
	// argon2 needs at least 8 KiB per lane.
	if p.Memory < 8*uint32(p.Threads) {
		p.Memory = 8 * uint32(p.Threads)
	}
	return p
}

// checkPassword applies the password policy for a new password.
func checkPassword(password, email string) error {
	if !utf8.ValidString(password) {
		return fmt.Errorf("%w: password is not valid UTF-8", ErrInvalid)
	}
	if len(password) > MaxPasswordBytes {
		return fmt.Errorf("%w: password longer than %d bytes", ErrInvalid, MaxPasswordBytes)
	}
	if utf8.RuneCountInString(password) < MinPasswordLen {
		return fmt.Errorf("%w: password needs at least %d characters", ErrWeakPassword, MinPasswordLen)
	}
	if strings.EqualFold(strings.TrimSpace(password), email) {
		return fmt.Errorf("%w: password must not be the email address", ErrWeakPassword)
	}
	return nil
}

// hashPassword returns the PHC string of password under p:
// $argon2id$v=19$m=32768,t=2,p=2$<salt>$<hash>, salt and hash in unpadded
// standard base64.
func (s *Service) hashPassword(ctx context.Context, password string) (string, error) {
	salt := make([]byte, passwordSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	if err := s.acquireHash(ctx); err != nil {
		return "", fmt.Errorf("wait to hash password: %w", err)
	}
	defer s.releaseHash()
	p := s.cfg.Password
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, passwordKeyLen)
	return encodePHC(p, salt, key), nil
}

// verifyPassword reports whether password matches the encoded hash, and
// whether the hash should be redone with the current parameters.
func (s *Service) verifyPassword(ctx context.Context, password, encoded string) (ok, rehash bool, err error) {
	h, err := decodePHC(encoded)
	if err != nil {
		return false, false, err
	}
	if err := s.acquireHash(ctx); err != nil {
		return false, false, fmt.Errorf("wait to check password: %w", err)
	}
	defer s.releaseHash()
	key := argon2.IDKey([]byte(password), h.salt, h.params.Time, h.params.Memory, h.params.Threads, uint32(len(h.key)))
	if s.derived != nil {
		s.derived(h.params)
	}
	ok = subtle.ConstantTimeCompare(key, h.key) == 1
	return ok, ok && h.params != s.cfg.Password, nil
}

// newDummyHash returns a function giving a hash of a random password under
// p, made once on first use. Logins for unknown emails are checked against
// it so that they cost what a wrong password costs.
func newDummyHash(p PasswordParams) func() string {
	return sync.OnceValue(func() string {
		var pw, salt [passwordSaltLen]byte
		_, _ = rand.Read(pw[:])
		_, _ = rand.Read(salt[:])
		return encodePHC(p, salt[:], argon2.IDKey(pw[:], salt[:], p.Time, p.Memory, p.Threads, passwordKeyLen))
	})
}

func encodePHC(p PasswordParams, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("%sv=%d$m=%d,t=%d,p=%d$%s$%s", phcPrefix, argon2.Version,
		p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// phcHash is a decoded PHC string.
type phcHash struct {
	params    PasswordParams
	salt, key []byte
}

var errBadHash = errors.New("malformed password hash")

// decodePHC parses a PHC argon2id string, refusing parameters outside sane
// bounds so that a corrupted record cannot make a login take gigabytes or
// minutes. Errors never include the hash.
func decodePHC(s string) (phcHash, error) {
	var h phcHash
	// The base64 decoders skip '\r' and '\n'; refuse them so that one hash
	// has one spelling.
	if len(s) > maxPasswordHashSize || !strings.HasPrefix(s, phcPrefix) || strings.ContainsAny(s, "\r\n") {
		return h, errBadHash
	}
	parts := strings.Split(s[len(phcPrefix):], "$")
	if len(parts) != 4 || parts[0] != "v="+strconv.Itoa(argon2.Version) {
		return h, errBadHash
	}
	params := strings.Split(parts[1], ",")
	if len(params) != 3 {
		return h, errBadHash
	}
	m, err1 := phcUint(params[0], "m=", 32)
	t, err2 := phcUint(params[1], "t=", 32)
	p, err3 := phcUint(params[2], "p=", 8)
	if err := errors.Join(err1, err2, err3); err != nil {
		return h, errBadHash
	}
	h.params = PasswordParams{Memory: uint32(m), Time: uint32(t), Threads: uint8(p)}
	if p < 1 || t < 1 || t > maxPasswordTime || m < 8*p || m > maxPasswordMemory {
		return h, errBadHash
	}
	b64 := base64.RawStdEncoding.Strict()
	h.salt, err1 = b64.DecodeString(parts[2])
	h.key, err2 = b64.DecodeString(parts[3])
	if err1 != nil || err2 != nil || len(h.salt) < 8 || len(h.salt) > 64 || len(h.key) < 16 || len(h.key) > 64 {
		return h, errBadHash
	}
	return h, nil
}

// phcUint parses "m=123"-style decimal fields without signs or leading
// zeros.
func phcUint(field, prefix string, bits int) (uint64, error) {
	digits, ok := strings.CutPrefix(field, prefix)
	if !ok || digits == "" || (len(digits) > 1 && digits[0] == '0') || digits[0] == '+' {
		return 0, errBadHash
	}
	return strconv.ParseUint(digits, 10, bits)
}

// acquireHash takes one of the MaxConcurrentHashes slots.
func (s *Service) acquireHash(ctx context.Context) error {
	if err := s.hashes.Acquire(ctx, 1); err != nil {
		return err
	}
	s.hashing.Add(1)
	return nil
}

// releaseHash gives the slot back. Each argon2id hash allocates
// Password.Memory (32 MiB by default) that is garbage right after; Go's
// scavenger returns such memory to the OS only over minutes, so a node that
// just checked two passwords would sit at 80+ MB for a while. When the last
// running hash ends, the memory is handed back at once. That costs one
// collection of a small heap (a millisecond or two) against a hash of tens
// of milliseconds; while hashes overlap, none of them pays it.
func (s *Service) releaseHash() {
	s.hashes.Release(1)
	if s.hashing.Add(-1) == 0 && s.cfg.Password.Memory >= 4096 {
		debug.FreeOSMemory()
	}
}
