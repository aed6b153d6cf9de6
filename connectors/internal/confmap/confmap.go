// Package confmap reads typed values out of a connector document's decoded
// YAML mappings (map[string]any), collecting connectors.FieldErrors with
// dotted paths. It serves every connector type's Validate and New alike:
// with Strict false (Validate) a value holding an unresolved `${...}`
// placeholder is present but not judged; with Strict true (New) every value
// is judged as the resolved value it must be.
package confmap

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/skybridgehq/skybridge/connectors"
)

// Reader collects the problems found while reading one document.
type Reader struct {
	// Strict judges placeholder values instead of skipping them.
	Strict bool
	// Errs are the problems found so far.
	Errs []connectors.FieldError
}

// Errorf records a problem with field.
func (r *Reader) Errorf(field, format string, args ...any) {
	r.Errs = append(r.Errs, connectors.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Skip reports whether v is a placeholder that must not be judged.
func (r *Reader) Skip(v any) bool { return !r.Strict && connectors.IsPlaceholder(v) }

// Map starts reading v, the value of field, as a mapping. A nil v is an
// empty mapping; another non-mapping is recorded as a problem.
func (r *Reader) Map(field string, v any) Map {
	m := Map{r: r, path: field, used: map[string]bool{}}
	switch t := v.(type) {
	case nil:
	case map[string]any:
		m.m = t
	case map[any]any:
		// Mappings with non-string keys (`404: empty`) as some YAML
		// decoders produce them.
		m.m = make(map[string]any, len(t))
		for k, v := range t {
			ks, ok := Scalar(k)
			if !ok {
				r.Errorf(field, "keys must be strings")
				continue
			}
			m.m[ks] = v
		}
	default:
		if !r.Skip(v) {
			r.Errorf(field, "must be a mapping")
		}
	}
	return m
}

// Map is one mapping being read. Every accessor marks its key as known;
// Done reports the keys nobody asked for.
type Map struct {
	r    *Reader
	path string
	m    map[string]any
	used map[string]bool
}

// Field returns the dotted path of key.
func (m Map) Field(key string) string {
	if m.path == "" {
		return key
	}
	return m.path + "." + key
}

// Has reports whether key is present (placeholders included).
func (m Map) Has(key string) bool {
	m.used[key] = true
	_, ok := m.m[key]
	return ok
}

// Raw returns key's value as decoded.
func (m Map) Raw(key string) (any, bool) {
	m.used[key] = true
	v, ok := m.m[key]
	return v, ok
}

// Reader returns the Reader m records its problems in.
func (m Map) Reader() *Reader { return m.r }

// Len returns the number of keys.
func (m Map) Len() int { return len(m.m) }

// Keys returns the mapping's keys, sorted, marking them all known.
func (m Map) Keys() []string {
	keys := make([]string, 0, len(m.m))
	for k := range m.m {
		m.used[k] = true
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// value returns key's value unless it is absent, null or a skipped
// placeholder.
func (m Map) value(key string) (any, bool) {
	v, ok := m.Raw(key)
	if !ok || v == nil || m.r.Skip(v) {
		return nil, false
	}
	return v, true
}

// String returns key's string value. Numbers and booleans are taken in
// their YAML spelling.
func (m Map) String(key string) (string, bool) {
	v, ok := m.value(key)
	if !ok {
		return "", false
	}
	s, ok := Scalar(v)
	if !ok {
		m.r.Errorf(m.Field(key), "must be a string")
	}
	return s, ok
}

// Required returns key's string value, recording a problem when key is
// absent or null. ok is false for a skipped placeholder too.
func (m Map) Required(key string) (string, bool) {
	if v, present := m.Raw(key); !present || v == nil {
		m.r.Errorf(m.Field(key), "is required")
		return "", false
	}
	return m.String(key)
}

// Int returns key's integer value, which must be at least min. A string
// (a resolved `${env.X}`) is parsed.
func (m Map) Int(key string, min int) (int, bool) {
	v, ok := m.value(key)
	if !ok {
		return 0, false
	}
	var n int
	switch t := v.(type) {
	case int:
		n = t
	case int64:
		n = int(t)
	case uint64:
		if t > math.MaxInt32 {
			ok = false
		}
		n = int(t)
	case float64:
		ok = t == math.Trunc(t) && math.Abs(t) < math.MaxInt32
		n = int(t)
	case string:
		var err error
		n, err = strconv.Atoi(strings.TrimSpace(t))
		ok = err == nil
	default:
		ok = false
	}
	if !ok {
		m.r.Errorf(m.Field(key), "must be an integer")
		return 0, false
	}
	if n < min {
		m.r.Errorf(m.Field(key), "must be at least %d", min)
		return 0, false
	}
	return n, true
}

// Duration returns key's positive duration: a Go duration string ("2s",
// "500ms") or a bare number of seconds.
func (m Map) Duration(key string) (time.Duration, bool) {
	v, ok := m.value(key)
	if !ok {
		return 0, false
	}
	var d time.Duration
	switch t := v.(type) {
	case string:
		var err error
		d, err = time.ParseDuration(strings.TrimSpace(t))
		ok = err == nil
	case int:
		d = time.Duration(t) * time.Second
	case float64:
		ok = t < 1e9
		d = time.Duration(t * float64(time.Second))
	default:
		ok = false
	}
	if !ok || d <= 0 {
		m.r.Errorf(m.Field(key), "must be a positive duration such as 2s or 500ms")
		return 0, false
	}
	return d, true
}

// Bool returns key's boolean value; the strings "true" and "false" are
// taken too.
func (m Map) Bool(key string) (bool, bool) {
	v, ok := m.value(key)
	if !ok {
		return false, false
	}
	switch t := v.(type) {
	case bool:
		return t, true
	case string:
		if b, err := strconv.ParseBool(t); err == nil && (t == "true" || t == "false") {
			return b, true
		}
	}
	m.r.Errorf(m.Field(key), "must be true or false")
	return false, false
}

// Sub starts reading key's value as a mapping.
func (m Map) Sub(key string) Map {
	v, _ := m.Raw(key)
	return m.r.Map(m.Field(key), v)
}

// StringMap returns key's mapping of strings (header or query values).
// Placeholder values are kept as they are: callers must not judge them
// unless the Reader is strict.
func (m Map) StringMap(key string) map[string]string {
	sub := m.Sub(key)
	if sub.Len() == 0 {
		return nil
	}
	out := make(map[string]string, sub.Len())
	for _, k := range sub.Keys() {
		v := sub.m[k]
		s, ok := Scalar(v)
		if !ok {
			m.r.Errorf(sub.Field(k), "must be a string")
			continue
		}
		out[k] = s
	}
	return out
}

// StringList returns key's list of strings; a single string is split on
// spaces and commas.
func (m Map) StringList(key string) []string {
	v, ok := m.value(key)
	if !ok {
		return nil
	}
	switch t := v.(type) {
	case string:
		return strings.FieldsFunc(t, func(r rune) bool { return r == ' ' || r == ',' })
	case []any:
		out := make([]string, 0, len(t))
		for i, e := range t {
			s, ok := Scalar(e)
			if !ok {
				m.r.Errorf(fmt.Sprintf("%s[%d]", m.Field(key), i), "must be a string")
				continue
			}
			out = append(out, s)
		}
		return out
	}
	m.r.Errorf(m.Field(key), "must be a list of strings")
	return nil
}

// Done records every key that no accessor asked for as unknown.
func (m Map) Done() {
	var unknown []string
	for k := range m.m {
		if !m.used[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		m.r.Errorf(m.Field(k), "unknown field")
	}
}

// Scalar returns a string, number or boolean in its text form.
func Scalar(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case bool:
		return strconv.FormatBool(t), true
	case int:
		return strconv.Itoa(t), true
	case int64:
		return strconv.FormatInt(t, 10), true
	case int32:
		return strconv.FormatInt(int64(t), 10), true
	case uint64:
		return strconv.FormatUint(t, 10), true
	case uint:
		return strconv.FormatUint(uint64(t), 10), true
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), true
	case float32:
		return strconv.FormatFloat(float64(t), 'f', -1, 32), true
	case fmt.Stringer:
		return t.String(), true
	}
	return "", false
}

// Guard reads `concurrency` and `circuitBreaker` from a connector's config
// mapping into a GuardConfig (zero fields mean the defaults). The breaker
// mapping takes `failures`, `window`, `openFor` and `disabled`; `false`
// instead of a mapping disables it.
func Guard(config Map) connectors.GuardConfig {
	var g connectors.GuardConfig
	if n, ok := config.Int("concurrency", 1); ok {
		g.Concurrency = n
	}
	if v, ok := config.Raw("circuitBreaker"); ok {
		if b, isBool := v.(bool); isBool {
			g.Breaker.Disabled = !b
			return g
		}
	}
	cb := config.Sub("circuitBreaker")
	if d, ok := cb.Bool("disabled"); ok {
		g.Breaker.Disabled = d
	}
	if n, ok := cb.Int("failures", 1); ok {
		g.Breaker.Failures = n
	}
	if d, ok := cb.Duration("window"); ok {
		g.Breaker.Window = d
	}
	if d, ok := cb.Duration("openFor"); ok {
		g.Breaker.OpenFor = d
	}
	cb.Done()
	return g
}
