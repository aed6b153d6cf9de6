package auth

import (
	_ "embed"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

//go:embed commonpasswords.txt
var commonPasswordsText string

// commonPasswords is the set of commonpasswords.txt, lower-cased.
var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	set := map[string]struct{}{}
	for _, line := range strings.Split(commonPasswordsText, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		set[strings.ToLower(line)] = struct{}{}
	}
	return set
})

// isCommonPassword reports whether password, trimmed and lower-cased, is
// in the embedded list of common passwords.
func isCommonPassword(password string) bool {
	_, ok := commonPasswords()[strings.ToLower(strings.TrimSpace(password))]
	return ok
}

// checkPasswordShape refuses passwords no policy can accept: invalid
// UTF-8, or longer than MaxPasswordBytes.
func checkPasswordShape(password string) error {
	if !utf8.ValidString(password) {
		return fmt.Errorf("%w: password is not valid UTF-8", ErrInvalid)
	}
	if len(password) > MaxPasswordBytes {
		return fmt.Errorf("%w: password longer than %d bytes", ErrInvalid, MaxPasswordBytes)
	}
	return nil
}
