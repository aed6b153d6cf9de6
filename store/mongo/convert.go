package mongo

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/skybridgehq/skybridge/store"
)

// Documents go to MongoDB as store.Normalize leaves them (map[string]any,
// []any, int64, float64, string, bool, nil), which the driver encodes as
// BSON documents, arrays, int64, double, string, boolean and null. Coming
// back, docFromRaw turns BSON into that same shape.

// docFromRaw converts a BSON document into a store document.
func docFromRaw(raw bson.Raw) (store.Doc, error) {
	elems, err := raw.Elements()
	if err != nil {
		return nil, fmt.Errorf("mongo: decode document: %w", err)
	}
	out := make(store.Doc, len(elems))
	for _, e := range elems {
		v, err := valueFromRaw(e.Value())
		if err != nil {
			return nil, fmt.Errorf("mongo: decode field %q: %w", e.Key(), err)
		}
		out[e.Key()] = v
	}
	return out, nil
}

// valueFromRaw converts one BSON value into the JSON-like shape of
// store.Normalize: int32 and int64 become int64, doubles int64 when
// integral within ±2^53 and float64 otherwise, documents map[string]any and
// arrays []any. Types a store document never holds but a document written
// by other tools might are mapped to their nearest JSON form: dates to
// store.TimeFormat strings, ObjectIDs to hex, Decimal128 to a number,
// binary to base64, timestamps to their seconds, NaN and infinities to
// null.
func valueFromRaw(v bson.RawValue) (any, error) {
	switch v.Type {
	case bson.TypeNull, bson.TypeUndefined:
		return nil, nil
	case bson.TypeBoolean:
		return v.Boolean(), nil
	case bson.TypeString:
		return v.StringValue(), nil
	case bson.TypeInt32:
		return int64(v.Int32()), nil
	case bson.TypeInt64:
		return v.Int64(), nil
	case bson.TypeDouble:
		f := v.Double()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, nil // not a JSON number; as JSON.stringify does
		}
		return store.Normalize(f), nil
	case bson.TypeEmbeddedDocument:
		return docFromRaw(v.Document())
	case bson.TypeArray:
		vals, err := v.Array().Values()
		if err != nil {
			return nil, err
		}
		out := make([]any, len(vals))
		for i, e := range vals {
			if out[i], err = valueFromRaw(e); err != nil {
				return nil, err
			}
		}
		return out, nil
	case bson.TypeDateTime:
		return store.FormatTime(v.Time()), nil
	case bson.TypeObjectID:
		return v.ObjectID().Hex(), nil
	case bson.TypeDecimal128:
		s := v.Decimal128().String()
		if n := store.Normalize(json.Number(s)); n != nil {
			if _, isStr := n.(string); !isStr {
				return n, nil
			}
		}
		return s, nil
	case bson.TypeBinary:
		_, data := v.Binary()
		return base64.StdEncoding.EncodeToString(data), nil
	case bson.TypeTimestamp:
		t, _ := v.Timestamp()
		return int64(t), nil
	case bson.TypeSymbol:
		return v.Symbol(), nil
	case bson.TypeRegex:
		p, _ := v.Regex()
		return p, nil
	default:
		return v.String(), nil
	}
}
