package auth

import (
	"context"
	"errors"
	"strings"
	"testing"

	"golang.org/x/sync/semaphore"
)

// hashingService is a Service with only what password hashing needs.
func hashingService(p PasswordParams) *Service {
	cfg := Config{Password: p}.withDefaults()
	return &Service{cfg: cfg, hashes: semaphore.NewWeighted(2)}
}

func TestHashAndVerifyPassword(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := hashingService(cheapPassword)
	hash, err := s.hashPassword(ctx, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=64,t=1,p=1$") || strings.Count(hash, "$") != 5 {
		t.Fatalf("hash %q is not a PHC argon2id string with the configured parameters", hash)
	}
	if strings.Contains(hash, "correct horse") {
		t.Fatal("hash contains the password")
	}
	other, err := s.hashPassword(ctx, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if other == hash {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
	cases := []struct {
		name       string
		s          *Service
		password   string
		ok, rehash bool
	}{
		{"right", s, "correct horse battery", true, false},
		{"wrong", s, "correct horse batterY", false, false},
		{"empty", s, "", false, false},
		{"right, params since raised", hashingService(PasswordParams{Memory: 128, Time: 1, Threads: 1}), "correct horse battery", true, true},
		{"wrong, params since raised", hashingService(PasswordParams{Memory: 128, Time: 1, Threads: 1}), "nope nope nope", false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ok, rehash, err := c.s.verifyPassword(ctx, c.password, hash)
			if err != nil || ok != c.ok || rehash != c.rehash {
				t.Fatalf("verify = ok %v, rehash %v, %v; want %v, %v", ok, rehash, err, c.ok, c.rehash)
			}
		})
	}
}

func TestHashPasswordHonoursContext(t *testing.T) {
	t.Parallel()
	s := hashingService(cheapPassword)
	s.hashes = semaphore.NewWeighted(1)
	if !s.hashes.TryAcquire(1) {
		t.Fatal("semaphore busy")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.hashPassword(ctx, "long enough password"); !errors.Is(err, context.Canceled) {
		t.Fatalf("hashPassword with every slot taken and a dead context = %v", err)
	}
}

func TestDecodePHCRejects(t *testing.T) {
	t.Parallel()
	good := "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
	if _, err := decodePHC(good); err != nil {
		t.Fatalf("good hash refused: %v", err)
	}
	cases := map[string]string{
		"empty":            "",
		"argon2i":          strings.Replace(good, "argon2id", "argon2i", 1),
		"old version":      strings.Replace(good, "v=19", "v=16", 1),
		"missing part":     good[:strings.LastIndex(good, "$")],
		"extra part":       good + "$x",
		"huge memory":      strings.Replace(good, "m=64", "m=4194304", 1),
		"memory overflow":  strings.Replace(good, "m=64", "m=99999999999", 1),
		"memory below p":   strings.Replace(good, "m=64,t=1,p=1", "m=8,t=1,p=2", 1),
		"zero time":        strings.Replace(good, "t=1", "t=0", 1),
		"huge time":        strings.Replace(good, "t=1", "t=1000", 1),
		"zero threads":     strings.Replace(good, "p=1", "p=0", 1),
		"threads overflow": strings.Replace(good, "p=1", "p=300", 1),
		"leading zero":     strings.Replace(good, "m=64", "m=064", 1),
		"plus sign":        strings.Replace(good, "t=1", "t=+1", 1),
		"params reordered": strings.Replace(good, "m=64,t=1", "t=1,m=64", 1),
		"bad salt":         strings.Replace(good, "c2FsdHNhbHRzYWx0c2FsdA", "!!!", 1),
		"short salt":       strings.Replace(good, "c2FsdHNhbHRzYWx0c2FsdA", "c2FsdA", 1),
		"short key":        good[:strings.LastIndex(good, "$")+1] + "aGFzaA",
		"padded base64":    good + "==",
		"too long":         good + strings.Repeat("A", maxPasswordHashSize),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := decodePHC(in); !errors.Is(err, errBadHash) {
				t.Fatalf("decodePHC = %v, want errBadHash", err)
			}
		})
	}
}

func FuzzDecodePHC(f *testing.F) {
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g")
	f.Add("$argon2id$v=19$m=32768,t=2,p=2$$")
	f.Add("$argon2id$v=19$m=,t=,p=$a$b")
	f.Add("")
	f.Add("$$$$$$")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := decodePHC(s)
		if err != nil {
			// The one constant error: it cannot echo the hash.
			if err != errBadHash {
				t.Fatalf("error %v is not errBadHash", err)
			}
			return
		}
		p := h.params
		if p.Threads < 1 || p.Time < 1 || p.Time > maxPasswordTime || p.Memory < 8*uint32(p.Threads) ||
			p.Memory > maxPasswordMemory || len(h.salt) < 8 || len(h.key) < 16 {
			t.Fatalf("accepted out-of-bounds hash %+v", h)
		}
		// What decodes re-encodes to the same string.
		if again := encodePHC(p, h.salt, h.key); again != s {
			t.Fatalf("round trip: %q -> %q", s, again)
		}
	})
}

func TestCheckPassword(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, password string
		want           error
	}{
		{"twelve ascii", "abcdefghijkl", nil},
		{"twelve runes, more bytes", "äöüäöüäöüäöü", nil},
		{"eleven", "abcdefghijk", ErrWeakPassword},
		{"eleven runes in 22 bytes", "äöüäöüäöüäö", ErrWeakPassword},
		{"empty", "", ErrWeakPassword},
		{"the email", "Admin@Example.com", ErrWeakPassword},
		{"too long", strings.Repeat("x", MaxPasswordBytes+1), ErrInvalid},
		{"invalid utf-8", "abcdefghijkl\xff", ErrInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := checkPassword(c.password, "admin@example.com")
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("checkPassword = %v, want %v", err, c.want)
			}
		})
	}
}
