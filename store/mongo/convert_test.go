package mongo

import (
	"context"
	"math"
	"reflect"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/skybridgehq/skybridge/store"
)

func TestValueFromRaw(t *testing.T) {
	t.Parallel()
	oid := bson.NewObjectID()
	when := time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC)
	dec, _ := bson.ParseDecimal128("12.5")
	decInt, _ := bson.ParseDecimal128("42")
	tests := []struct {
		name string
		in   any
		want any
	}{
		{"null", nil, nil},
		{"bool", true, true},
		{"string", "héllo", "héllo"},
		{"int32", int32(7), int64(7)},
		{"int64", int64(1) << 60, int64(1) << 60},
		{"integral double", 3.0, int64(3)},
		{"negative integral double", -9007199254740992.0, int64(-9007199254740992)},
		{"double beyond 2^53", 1e17, 1e17},
		{"fractional double", 2.5, 2.5},
		{"NaN", math.NaN(), nil},
		{"infinity", math.Inf(-1), nil},
		{"document", bson.D{{Key: "a", Value: int32(1)}, {Key: "b", Value: bson.D{{Key: "c", Value: "d"}}}}, map[string]any{"a": int64(1), "b": map[string]any{"c": "d"}}},
		{"array", bson.A{int32(1), "x", bson.A{2.0}, bson.D{{Key: "k", Value: nil}}}, []any{int64(1), "x", []any{int64(2)}, map[string]any{"k": nil}}},
		{"empty array", bson.A{}, []any{}},
		{"datetime", bson.NewDateTimeFromTime(when), "2024-05-06T07:08:09.123000Z"},
		{"objectid", oid, oid.Hex()},
		{"decimal", dec, 12.5},
		{"integral decimal", decInt, int64(42)},
		{"binary", bson.Binary{Data: []byte{1, 2, 3}}, "AQID"},
		{"timestamp", bson.Timestamp{T: 99, I: 1}, int64(99)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := bson.Marshal(bson.D{{Key: "v", Value: tc.in}})
			if err != nil {
				t.Fatal(err)
			}
			doc, err := docFromRaw(raw)
			if err != nil {
				t.Fatal(err)
			}
			if got := doc["v"]; !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %#v (%T), want %#v (%T)", got, got, tc.want, tc.want)
			}
		})
	}
}

// TestDocumentRoundTrip writes documents through the adapter and reads
// them back: what comes back is store.Normalize of what went in, plus the
// system fields.
func TestDocumentRoundTrip(t *testing.T) {
	eachBackend(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		c := testColl(t, open(t, Options{}), "docs")
		tests := []struct {
			name string
			doc  store.Doc
		}{
			{"scalars", store.Doc{"s": "x", "b": false, "n": nil, "i": 12, "f": 1.25, "big": float64(1 << 53), "neg": -3.0}},
			{"nested", store.Doc{"a": map[string]any{"b": map[string]any{"c": []any{1, "two", 3.5, nil, true}}}}},
			{"arrays", store.Doc{"empty": []any{}, "objs": []any{map[string]any{"k": 1}, map[string]any{}}}},
			{"unicode", store.Doc{"名前": "値", "emoji": "🙂"}},
			{"limits", store.Doc{"max": float64(math.MaxInt32) * 4, "tiny": 1e-300, "huge": 1e300}},
			{"owner fields", store.Doc{"_owner": "u1", "_acl": map[string]any{"read": []any{"*"}}, "_deleted": true}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				in := store.Doc{"_v": 99, "_seq": 99, "_createdAt": "x", "_updatedAt": "y"}
				for k, v := range tc.doc {
					in[k] = v
				}
				stored, err := c.Insert(ctx, in)
				if err != nil {
					t.Fatal(err)
				}
				got, err := c.Get(ctx, store.DocID(stored))
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, stored) {
					t.Fatalf("Get = %#v\nInsert returned %#v", got, stored)
				}
				want := store.Normalize(map[string]any(tc.doc)).(map[string]any)
				for _, f := range []string{store.FieldID, store.FieldVersion, store.FieldSeq, store.FieldCreatedAt, store.FieldUpdatedAt} {
					if _, ok := got[f]; !ok {
						t.Fatalf("system field %s missing from %v", f, got)
					}
					want[f] = got[f]
				}
				if !reflect.DeepEqual(got, store.Doc(want)) {
					t.Fatalf("round trip:\n got %#v\nwant %#v", got, want)
				}
				if store.DocVersion(got) != 1 || got[store.FieldCreatedAt] == "x" {
					t.Fatalf("caller's system fields were kept: %v", got)
				}
			})
		}
	})
}

// FuzzDocFromRaw feeds arbitrary bytes to the BSON reader: whatever a
// server sends, decoding fails cleanly or yields a normalised document.
func FuzzDocFromRaw(f *testing.F) {
	for _, d := range []bson.D{
		{{Key: "a", Value: int32(1)}, {Key: "b", Value: bson.A{1.5, "x", nil}}},
		{{Key: "n", Value: bson.D{{Key: "m", Value: bson.D{{Key: "k", Value: true}}}}}},
		{{Key: "t", Value: bson.NewDateTimeFromTime(time.Unix(0, 0))}, {Key: "o", Value: bson.NewObjectID()}},
	} {
		b, err := bson.Marshal(d)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{5, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		raw := bson.Raw(data)
		if raw.Validate() != nil {
			return
		}
		doc, err := docFromRaw(raw)
		if err != nil {
			return
		}
		if !reflect.DeepEqual(store.Normalize(map[string]any(doc)), map[string]any(doc)) {
			t.Fatalf("decoded document is not in normalised shape: %#v", doc)
		}
	})
}
