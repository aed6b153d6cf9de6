package keyring

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestLoadOrCreate(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data", "keys")
	path := filepath.Join(dir, "secret.key")

	k1, created, err := LoadOrCreate(path)
	if err != nil || !created {
		t.Fatalf("first LoadOrCreate = created %v, %v", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm()&0o077 != 0 {
		t.Errorf("key directory mode %v is open to others", di.Mode().Perm())
	}
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(content)))
	if err != nil || len(raw) != KeySize {
		t.Fatalf("key file holds %q (%v), want base64 of %d bytes", content, err, KeySize)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("key directory holds %d entries, want only the key (temporary file left behind?)", len(entries))
	}

	k2, created, err := LoadOrCreate(path)
	if err != nil || created {
		t.Fatalf("second LoadOrCreate = created %v, %v", created, err)
	}
	if !bytes.Equal(k1.Derive("p"), k2.Derive("p")) {
		t.Fatal("reloaded key differs from the created one")
	}
}

func TestLoadOrCreateExistingDirKeepsMode(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreate(filepath.Join(dir, "k")); err != nil {
		t.Fatal(err)
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o755 {
		t.Errorf("existing directory mode changed to %v", di.Mode().Perm())
	}
}

func TestLoadOrCreateRejectsBadFile(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		content string
	}{
		{"not a key", "hunter2-is-my-password\n"},
		{"short", base64.StdEncoding.EncodeToString([]byte("short")) + "\n"},
		{"empty", ""},
		{"huge", strings.Repeat("A", maxKeyFileSize+10)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "k")
			if err := os.WriteFile(path, []byte(c.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, created, err := LoadOrCreate(path)
			if !errors.Is(err, ErrInvalidKey) || created {
				t.Fatalf("LoadOrCreate = created %v, %v; want ErrInvalidKey", created, err)
			}
			if c.content != "" && strings.Contains(err.Error(), strings.TrimSpace(c.content)) {
				t.Errorf("error %q echoes the file content", err)
			}
			after, _ := os.ReadFile(path)
			if string(after) != c.content {
				t.Error("a bad key file was overwritten")
			}
		})
	}
}

func TestLoadOrCreateUnreadable(t *testing.T) {
	t.Parallel()
	// A directory where the key file should be: neither readable as a key
	// nor replaceable, and not "missing".
	path := filepath.Join(t.TempDir(), "k")
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, created, err := LoadOrCreate(path); err == nil || created {
		t.Fatalf("LoadOrCreate on a directory = created %v, %v", created, err)
	}
}

func TestLoadOrCreateConcurrent(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sub", "k")
	const n = 8
	keys := make([]*Keyring, n)
	createdBy := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys[i], createdBy[i], errs[i] = LoadOrCreate(path)
		}()
	}
	wg.Wait()
	creators := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("LoadOrCreate %d: %v", i, errs[i])
		}
		if createdBy[i] {
			creators++
		}
		if !bytes.Equal(keys[i].Derive("p"), keys[0].Derive("p")) {
			t.Fatalf("caller %d got another key than caller 0", i)
		}
	}
	if creators != 1 {
		t.Fatalf("%d callers report creating the key, want 1", creators)
	}
	final, _, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(final.Derive("p"), keys[0].Derive("p")) {
		t.Fatal("the key on disk is not the one the callers use")
	}
}
