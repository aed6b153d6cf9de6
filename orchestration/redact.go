package orchestration

import (
	"sort"
	"strings"
)

// redactedText replaces secret values in messages the engine produces.
const redactedText = "[redacted]"

// minSecretLen is the shortest secret value that is redacted: shorter
// ones would blank out ordinary words and still say little.
const minSecretLen = 3

// redactor removes secret values from text. The zero value removes
// nothing.
type redactor struct {
	r *strings.Replacer
}

// newRedactor returns a redactor of the values of secrets, longest first
// so a secret that contains another is removed whole.
func newRedactor(secrets map[string]string) redactor {
	vals := make([]string, 0, len(secrets))
	for _, v := range secrets {
		if len(v) >= minSecretLen {
			vals = append(vals, v)
		}
	}
	if len(vals) == 0 {
		return redactor{}
	}
	sort.Slice(vals, func(i, j int) bool { return len(vals[i]) > len(vals[j]) })
	pairs := make([]string, 0, 2*len(vals))
	for _, v := range vals {
		pairs = append(pairs, v, redactedText)
	}
	return redactor{r: strings.NewReplacer(pairs...)}
}

// String returns s without secret values.
func (r redactor) String(s string) string {
	if r.r == nil {
		return s
	}
	return r.r.Replace(s)
}
