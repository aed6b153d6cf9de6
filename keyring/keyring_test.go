package keyring

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// testSecret is a fixed, recognisable 32-byte secret.
var testSecret = []byte("0123456789abcdef0123456789ABCDEF")

func TestParseAcceptsEncodings(t *testing.T) {
	t.Parallel()
	want, err := New(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, in string
	}{
		{"hex lower", hex.EncodeToString(testSecret)},
		{"hex upper", strings.ToUpper(hex.EncodeToString(testSecret))},
		{"std padded", base64.StdEncoding.EncodeToString(testSecret)},
		{"std raw", base64.RawStdEncoding.EncodeToString(testSecret)},
		{"url padded", base64.URLEncoding.EncodeToString(testSecret)},
		{"url raw", base64.RawURLEncoding.EncodeToString(testSecret)},
		{"surrounding space", "  " + base64.StdEncoding.EncodeToString(testSecret) + "\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			k, err := Parse(c.in)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !bytes.Equal(k.Derive("x"), want.Derive("x")) {
				t.Fatal("parsed secret differs from the encoded one")
			}
		})
	}
}

func TestParseURLAlphabet(t *testing.T) {
	t.Parallel()
	// A secret whose base64 uses '+' and '/' in the standard alphabet, and
	// '-' and '_' in the URL one.
	secret := bytes.Repeat([]byte{0xfb, 0xff, 0xbf}, 11)[:KeySize]
	std := base64.StdEncoding.EncodeToString(secret)
	url := base64.RawURLEncoding.EncodeToString(secret)
	if !strings.ContainsAny(std, "+/") || !strings.ContainsAny(url, "-_") {
		t.Fatalf("test secret does not exercise both alphabets: %s %s", std, url)
	}
	a, err := Parse(std)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Derive("p"), b.Derive("p")) {
		t.Fatal("std and url encodings of one secret give different keys")
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	short := []byte("sixteen-byte-key")
	cases := []struct {
		name, in, reason string
	}{
		{"empty", "", "empty"},
		{"blank", " \t\n", "empty"},
		{"short base64", base64.StdEncoding.EncodeToString(short), "16 bytes"},
		{"long base64", base64.StdEncoding.EncodeToString(append(testSecret, 'x')), "33 bytes"},
		{"short hex", hex.EncodeToString(short), "16 bytes"},
		{"not an encoding", "this is my password, do not print it!!", "neither base64 nor hex"},
		{"hex with junk", strings.Repeat("zz", KeySize), "48 bytes"},
		{"odd punctuation", strings.Repeat("!", 44), "neither base64 nor hex"},
		{"inner newline", "MDEyMzQ1Njc4OWFiY2Rl\nZjAxMjM0NTY3ODlBQkNERUY=", "line break"},
		{"all zero", hex.EncodeToString(make([]byte, KeySize)), "zero"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse(c.in)
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("Parse error = %v, want ErrInvalidKey", err)
			}
			if !strings.Contains(err.Error(), c.reason) {
				t.Errorf("error %q does not name the problem %q", err, c.reason)
			}
			if in := strings.TrimSpace(c.in); len(in) > 4 && strings.Contains(err.Error(), in) {
				t.Errorf("error %q echoes the secret", err)
			}
		})
	}
}

func TestDerive(t *testing.T) {
	t.Parallel()
	k, err := New(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	a1, a2, b := k.Derive("admin-jwt"), k.Derive("admin-jwt"), k.Derive("user-jwt")
	if len(a1) != KeySize {
		t.Fatalf("derived key is %d bytes", len(a1))
	}
	if !bytes.Equal(a1, a2) {
		t.Error("same purpose gives different keys")
	}
	if bytes.Equal(a1, b) {
		t.Error("different purposes give the same key")
	}
	if bytes.Equal(a1, other.Derive("admin-jwt")) {
		t.Error("different secrets give the same key")
	}
	if bytes.Contains(a1, testSecret[:8]) {
		t.Error("derived key contains the master secret")
	}
	// Derive must return a fresh slice: a caller may scribble on it.
	a1[0] ^= 0xff
	if bytes.Equal(a1, k.Derive("admin-jwt")) {
		t.Error("Derive returns shared memory")
	}
}

func TestSealOpen(t *testing.T) {
	t.Parallel()
	k, _, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	pt, aad := []byte("apns private key"), []byte("app/abc/push")
	sealed, err := k.Seal(pt, aad)
	if err != nil {
		t.Fatal(err)
	}
	if sealed[0] != sealV1 || len(sealed) != sealedFloor+len(pt) {
		t.Fatalf("sealed layout: version %d, %d bytes", sealed[0], len(sealed))
	}
	if bytes.Contains(sealed, pt) {
		t.Fatal("sealed value contains the plaintext")
	}
	got, err := k.Open(sealed, aad)
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	again, err := k.Seal(pt, aad)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(again, sealed) {
		t.Error("two seals of the same plaintext are equal (nonce reuse)")
	}
	empty, err := k.Seal(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := k.Open(empty, nil); err != nil || len(got) != 0 {
		t.Errorf("Open(empty) = %q, %v", got, err)
	}

	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 0x01
		return b
	}
	bad := []struct {
		name   string
		sealed []byte
		aad    []byte
		k      *Keyring
	}{
		{"wrong aad", sealed, []byte("app/xyz/push"), k},
		{"missing aad", sealed, nil, k},
		{"wrong key", sealed, aad, other},
		{"flipped version", flip(0), aad, k},
		{"flipped nonce", flip(1), aad, k},
		{"flipped ciphertext", flip(1 + nonceSize), aad, k},
		{"flipped tag", flip(len(sealed) - 1), aad, k},
		{"truncated", sealed[:len(sealed)-1], aad, k},
		{"too short", sealed[:sealedFloor-1], aad, k},
		{"nil", nil, aad, k},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got, err := c.k.Open(c.sealed, c.aad); !errors.Is(err, ErrDecrypt) || got != nil {
				t.Fatalf("Open = %q, %v; want ErrDecrypt", got, err)
			}
		})
	}
}

func TestSecretNotPrinted(t *testing.T) {
	t.Parallel()
	k, err := New(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("boot", "keyring", k)
	for _, out := range []string{
		fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s", k, k, k, k), fmt.Sprintf("%v", *k), logged.String(),
	} {
		for _, enc := range []string{string(testSecret), hex.EncodeToString(testSecret), fmt.Sprint(testSecret)} {
			if strings.Contains(out, enc) {
				t.Errorf("output %q reveals the secret", out)
			}
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", " ", hex.EncodeToString(testSecret), base64.StdEncoding.EncodeToString(testSecret),
		base64.RawURLEncoding.EncodeToString(testSecret), "====", "zz", strings.Repeat("A", 43),
		strings.Repeat("0", 64), "\n\r\t", "YWJj\nZA==",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("error %v does not wrap ErrInvalidKey", err)
			}
			if in := strings.TrimSpace(s); len(in) >= 8 && strings.Contains(err.Error(), in) {
				t.Fatalf("error %q echoes the input", err)
			}
			return
		}
		if k == nil || len(k.Derive("p")) != KeySize {
			t.Fatal("Parse succeeded without a usable keyring")
		}
	})
}

func FuzzOpen(f *testing.F) {
	k, err := New(testSecret)
	if err != nil {
		f.Fatal(err)
	}
	valid, err := k.Seal([]byte("secret"), []byte("aad"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid, []byte("aad"))
	f.Add([]byte{}, []byte{})
	f.Add([]byte{sealV1}, []byte("aad"))
	f.Add(bytes.Repeat([]byte{sealV1}, sealedFloor), []byte(nil))
	f.Add(append([]byte{2}, valid[1:]...), []byte("aad"))
	f.Fuzz(func(t *testing.T, sealed, aad []byte) {
		pt, err := k.Open(sealed, aad)
		if err != nil {
			if !errors.Is(err, ErrDecrypt) || pt != nil {
				t.Fatalf("Open = %q, %v", pt, err)
			}
			return
		}
		// Anything that opens must have been sealed by us: only "secret"
		// under "aad" ever was with this key (the seed, sealed afresh in
		// each fuzz worker, so compare contents rather than bytes).
		if string(pt) != "secret" || string(aad) != "aad" {
			t.Fatalf("forged value opened: %x -> %q", sealed, pt)
		}
	})
}
