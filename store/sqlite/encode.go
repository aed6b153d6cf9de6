package sqlite

import (
	"encoding/json"
	"slices"
	"strconv"

	"github.com/skybridgehq/skybridge/internal/jsonenc"
)

// appendJSON appends the JSON of v, which must be JSON-shaped (see
// jsonShaped), byte for byte as encoding/json renders it: object keys
// sorted, HTML characters, U+2028 and U+2029 escaped, invalid UTF-8
// replaced. It exists because documents are encoded on every write, and
// encoding/json reaches maps through reflection and sorts their keys
// through reflect values; this does neither. ok is false for values of
// other types, which the caller hands to encoding/json.
func appendJSON(b []byte, v any) (_ []byte, ok bool) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), true
	case bool:
		return strconv.AppendBool(b, x), true
	case string:
		return jsonenc.AppendString(b, x), true
	case int64:
		return strconv.AppendInt(b, x, 10), true
	case float64:
		return jsonenc.AppendFloat(b, x)
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonenc.AppendString(b, k)
			b = append(b, ':')
			if b, ok = appendJSON(b, x[k]); !ok {
				return b, false
			}
		}
		return append(b, '}'), true
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			if b, ok = appendJSON(b, e); !ok {
				return b, false
			}
		}
		return append(b, ']'), true
	default:
		return b, false
	}
}

// marshalDoc encodes a document: directly when it is JSON-shaped, else
// through encoding/json.
func marshalDoc(d map[string]any) ([]byte, error) {
	if b, ok := appendJSON(make([]byte, 0, sizeHint(d)), d); ok {
		return b, nil
	}
	return json.Marshal(d)
}

// sizeHint guesses the encoded size of a document's top level, so that
// one with a large string value (an audit segment) is encoded into a
// buffer allocated once rather than grown by doubling.
func sizeHint(d map[string]any) int {
	n := 64
	for k, v := range d {
		n += len(k) + 8
		if s, ok := v.(string); ok {
			n += len(s) + len(s)/4 // room for escapes: an audit segment quotes about every eighth byte
		} else {
			n += 24
		}
	}
	return max(n, 512)
}
