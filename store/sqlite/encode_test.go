package sqlite

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
)

// TestAppendJSONMatchesEncodingJSON: the direct encoder writes what
// encoding/json writes, for every JSON-shaped value.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	values := []any{
		nil, true, false, "", "plain", "quote\" backslash\\ slash/", "<tag> & co", "tab\tnew\nline\r\b\f\x00\x1f",
		"é ü 日本 🙂", "bad \xff utf8 \xc3", "line\u2028para\u2029", int64(0), int64(-42), int64(1 << 53),
		0.5, -1.25, 1e-7, 1e21, 1e20, 123456789.125, 5e-324, math.MaxFloat64, -0.000001, 1e-6,
		map[string]any{}, []any{}, map[string]any{"b": int64(1), "a": []any{"x", nil, map[string]any{"z": 1.5, "é": true}}},
	}
	for _, v := range values {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := appendJSON(nil, v)
		if !ok || !bytes.Equal(got, want) {
			t.Errorf("appendJSON(%#v) = %s %v, want %s", v, got, ok, want)
		}
	}
	for _, v := range []any{math.NaN(), math.Inf(1), struct{}{}, map[string]any{"t": int32(1)}} {
		if _, ok := appendJSON(nil, v); ok {
			t.Errorf("appendJSON(%#v) accepted", v)
		}
	}
}

// FuzzAppendJSON compares the direct encoder with encoding/json on
// documents decoded from arbitrary JSON and on arbitrary strings.
func FuzzAppendJSON(f *testing.F) {
	for _, s := range []string{`{"a":1,"b":[true,null,"x"]}`, `{"n":1e-9,"f":0.1}`, `"<\u2028>"`, `{"é":{"z":[]}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		check := func(v any) {
			want, err := json.Marshal(v)
			if err != nil {
				return
			}
			got, ok := appendJSON(nil, v)
			if !ok || !bytes.Equal(got, want) {
				t.Fatalf("appendJSON(%#v) = %s, want %s", v, got, want)
			}
		}
		check(raw)
		var v any
		if json.Unmarshal([]byte(raw), &v) == nil {
			check(v)
		}
	})
}
