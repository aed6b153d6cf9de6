package store

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// maxSafeInt is the largest integer a float64 (and so a JSON client) holds
// exactly.
const maxSafeInt = 1 << 53

// Normalize converts a JSON-like value into the shape documents take in
// Skybridge: integral numbers within ±2^53 become int64, other numbers
// float64, json.Number is resolved, maps and slices are copied recursively.
// Values of other types are returned unchanged.
func Normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = Normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = Normalize(e)
		}
		return out
	case json.Number:
		n, err := normalizeNumber(x)
		if err != nil {
			return x.String()
		}
		return n
	case float64:
		if x == math.Trunc(x) && math.Abs(x) <= maxSafeInt {
			return int64(x)
		}
		return x
	case float32:
		return Normalize(float64(x))
	case int:
		return int64(x)
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	default:
		return v
	}
}

func normalizeNumber(n json.Number) (any, error) {
	if i, err := n.Int64(); err == nil && i >= -maxSafeInt && i <= maxSafeInt {
		return i, nil
	}
	f, err := n.Float64()
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, ferr(n.String(), "number out of range")
	}
	return Normalize(f), nil
}

// Lookup returns the value at a dotted path in doc, walking nested objects.
func Lookup(doc Doc, path string) (any, bool) {
	var cur any = doc
	for _, seg := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, ok = m[seg]
		if !ok {
			return nil, false
		}
	}
	return cur, true
}

// NewID returns a random document id: 20 characters of URL-safe base64
// (120 bits).
func NewID() string {
	var b [15]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("store: crypto/rand failed: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Int64 reads an integral document value (as written by the adapters) as
// int64; ok is false for anything else.
func Int64(v any) (int64, bool) {
	switch x := Normalize(v).(type) {
	case int64:
		return x, true
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), true
		}
	}
	return 0, false
}

// DocID returns the document's _id when it is a string.
func DocID(d Doc) string {
	s, _ := d[FieldID].(string)
	return s
}

// DocVersion returns the document's _v.
func DocVersion(d Doc) int64 {
	v, _ := Int64(d[FieldVersion])
	return v
}

// DocSeq returns the document's _seq.
func DocSeq(d Doc) int64 {
	v, _ := Int64(d[FieldSeq])
	return v
}

// CheckDocument checks a document a caller wants stored: field names must
// not start with '$' or contain '.', or NUL, and nesting is bounded.
func CheckDocument(d Doc) error {
	return checkValue(d, "", 0)
}

// MaxDocDepth bounds the nesting of objects and arrays in a document.
const MaxDocDepth = 32

func checkValue(v any, at string, depth int) error {
	if depth > MaxDocDepth {
		return fmt.Errorf("%w: document nested deeper than %d at %q", ErrInvalid, MaxDocDepth, at)
	}
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			p := k
			if at != "" {
				p = at + "." + k
			}
			if k == "" || strings.HasPrefix(k, "$") || strings.ContainsAny(k, ".\x00") {
				return fmt.Errorf("%w: field name %q (no leading '$', no '.', not empty)", ErrInvalid, p)
			}
			if err := checkValue(e, p, depth+1); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range x {
			if err := checkValue(e, fmt.Sprintf("%s[%d]", at, i), depth+1); err != nil {
				return err
			}
		}
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("%w: number at %q is not finite", ErrInvalid, at)
		}
	}
	return nil
}
