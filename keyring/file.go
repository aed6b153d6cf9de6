package keyring

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// maxKeyFileSize bounds how much of a key file is read: a key is 44
// characters of base64, or 64 of hex, plus white space.
const maxKeyFileSize = 4096

// LoadOrCreate reads the master secret from the key file at path, or, when
// there is none, creates one: 32 random bytes as standard base64 and a
// newline, mode 0600, creating the directory with mode 0700 when missing.
// created reports whether the file was written by this call.
//
// The file appears atomically with its full content: it is written to a
// temporary file in the same directory, synced, then hard-linked to path,
// which fails when another process created the key first; this call then
// loads that key, so racing processes agree on one secret. Where the file
// system has no hard links it falls back to a rename (still atomic, but the
// last of two racing creators wins).
func LoadOrCreate(path string) (k *Keyring, created bool, err error) {
	k, err = load(path)
	if err == nil {
		return k, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("keyring: create key directory: %w", err)
	}
	k, encoded, err := Generate()
	if err != nil {
		return nil, false, err
	}
	tmp, err := writeTemp(dir, encoded+"\n")
	if err != nil {
		return nil, false, err
	}
	defer os.Remove(tmp)

	switch err := os.Link(tmp, path); {
	case err == nil:
	case errors.Is(err, fs.ErrExist):
		k, err := load(path)
		if err != nil {
			return nil, false, err
		}
		return k, false, nil
	default:
		if err := os.Rename(tmp, path); err != nil {
			return nil, false, fmt.Errorf("keyring: install key file: %w", err)
		}
	}
	syncDir(dir)
	return k, true, nil
}

// load reads and parses a key file; a missing file is fs.ErrNotExist.
func load(path string) (*Keyring, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("keyring: open key file: %w", err)
	}
	defer f.Close()
	buf, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("keyring: read key file: %w", err)
	}
	if len(buf) > maxKeyFileSize {
		return nil, fmt.Errorf("keyring: key file %s: %w: larger than %d bytes", path, ErrInvalidKey, maxKeyFileSize)
	}
	k, err := Parse(string(buf))
	if err != nil {
		return nil, fmt.Errorf("keyring: key file %s: %w", path, err)
	}
	return k, nil
}

// writeTemp writes content to a new 0600 file in dir, synced to disk, and
// returns its path.
func writeTemp(dir, content string) (string, error) {
	f, err := os.CreateTemp(dir, ".skybridge-key-*")
	if err != nil {
		return "", fmt.Errorf("keyring: create temporary key file: %w", err)
	}
	name := f.Name()
	fail := func(err error) (string, error) {
		f.Close()
		os.Remove(name)
		return "", fmt.Errorf("keyring: write temporary key file: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		return fail(err)
	}
	if _, err := f.WriteString(content); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(name)
		return "", fmt.Errorf("keyring: close temporary key file: %w", err)
	}
	return name, nil
}

// syncDir makes the new directory entry durable. Some systems cannot sync
// a directory; the key file itself is already synced, so that is ignored.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
