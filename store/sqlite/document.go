package sqlite

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/skybridgehq/skybridge/store"
)

// adapterFields are the system fields the adapter stamps; a caller's
// values for them are dropped.
var adapterFields = []string{store.FieldVersion, store.FieldSeq, store.FieldCreatedAt, store.FieldUpdatedAt}

// prepareDoc checks a caller's document and copies it into the shape
// documents come back in (store.Normalize), without the adapter's fields.
func prepareDoc(doc store.Doc) (store.Doc, error) {
	if err := store.CheckDocument(doc); err != nil {
		return nil, err
	}
	d, _ := store.Normalize(map[string]any(doc)).(map[string]any)
	if d == nil {
		d = store.Doc{}
	}
	if !jsonShaped(d) {
		// Values of other Go types (time.Time, uint64, structs …) take the
		// form JSON gives them, so that Insert answers what Get will.
		body, err := json.Marshal(d)
		if err != nil {
			return nil, fmt.Errorf("%w: document is not JSON: %v", store.ErrInvalid, err)
		}
		if d, err = decode(body); err != nil {
			return nil, fmt.Errorf("%w: %v", store.ErrInvalid, err)
		}
	}
	for _, f := range adapterFields {
		delete(d, f)
	}
	return d, nil
}

// maxSafeInt is the largest integer a float64 holds exactly.
const maxSafeInt = 1 << 53

// jsonShaped reports whether v holds only the types store.Doc promises.
func jsonShaped(v any) bool {
	switch x := v.(type) {
	case nil, bool, string, float64:
		return true
	case int64:
		return x >= -maxSafeInt && x <= maxSafeInt
	case map[string]any:
		for _, e := range x {
			if !jsonShaped(e) {
				return false
			}
		}
		return true
	case []any:
		for _, e := range x {
			if !jsonShaped(e) {
				return false
			}
		}
		return true
	default:
		return false
	}
}

// encode renders a document as stored.
func encode(d store.Doc) ([]byte, error) {
	body, err := marshalDoc(d)
	if err != nil {
		return nil, fmt.Errorf("%w: document is not JSON: %v", store.ErrInvalid, err)
	}
	return body, nil
}

// field is one member spliced into an encoded object.
type field struct {
	name  string
	value []byte // JSON
}

func intField(name string, v int64) field {
	return field{name, strconv.AppendInt(nil, v, 10)}
}

// splice prepends members to an encoded, non-empty JSON object that lacks
// them. It lets the adapter encode a document before it holds the writer
// and add the fields only the transaction knows (_seq, _v).
func splice(body []byte, fields ...field) string {
	var b strings.Builder
	b.Grow(len(body) + 24*len(fields))
	b.WriteByte('{')
	for _, f := range fields {
		b.WriteString(strconv.Quote(f.name))
		b.WriteByte(':')
		b.Write(f.value)
		b.WriteByte(',')
	}
	b.Write(body[1:])
	return b.String()
}

// decode reads a stored document: numbers through json.Number, then
// store.Normalize, so that integral values come back as int64.
func decode(body []byte) (store.Doc, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("sqlite: corrupt document: %w", err)
	}
	normalizeInPlace(m)
	return m, nil
}

// normalizeInPlace resolves json.Number values with store.Normalize,
// without copying the maps and slices around them.
func normalizeInPlace(v any) any {
	switch x := v.(type) {
	case json.Number:
		return store.Normalize(x)
	case map[string]any:
		for k, e := range x {
			switch e.(type) {
			case json.Number, map[string]any, []any:
				x[k] = normalizeInPlace(e)
			}
		}
	case []any:
		for i, e := range x {
			x[i] = normalizeInPlace(e)
		}
	}
	return v
}
