package mongo

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/skybridgehq/skybridge/store"
)

func extJSON(t testing.TB, d bson.D) string {
	t.Helper()
	b, err := bson.MarshalExtJSON(d, false, false)
	if err != nil {
		t.Fatalf("marshal %v: %v", d, err)
	}
	return string(b)
}

func TestCompileFilter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   store.Filter
		want string
	}{
		{"nil", nil, `{}`},
		{"eq", store.Compare{Path: "a", Op: store.OpEq, Value: int64(1)}, `{"a":{"$eq":1}}`},
		{"eq null", store.Compare{Path: "a", Op: store.OpEq, Value: nil}, `{"a":{"$eq":null}}`},
		{"ne string", store.Compare{Path: "a", Op: store.OpNe, Value: "x"}, `{"a":{"$ne":"x"}}`},
		{"gt float", store.Compare{Path: "a", Op: store.OpGt, Value: 1.5}, `{"a":{"$gt":1.5}}`},
		{"lte string", store.Compare{Path: "a", Op: store.OpLte, Value: "m"}, `{"a":{"$lte":"m"}}`},
		{"in", store.In{Path: "a", Values: []any{int64(1), "x", nil}}, `{"a":{"$in":[1,"x",null]}}`},
		{"nin", store.In{Path: "a", Values: []any{true}, Not: true}, `{"a":{"$nin":[true]}}`},
		{"in empty", store.In{Path: "a"}, `{"a":{"$in":[]}}`},
		{"exists", store.Exists{Path: "a", Exists: false}, `{"a":{"$exists":false}}`},
		{"regex", store.Regex{Path: "a", Pattern: "^x+"}, `{"a":{"$regex":"^x+"}}`},
		{"regex i", store.Regex{Path: "a", Pattern: "x", CaseInsensitive: true}, `{"a":{"$regex":"x","$options":"i"}}`},
		{"regex dollar", store.Regex{Path: "a", Pattern: "x$"}, `{"a":{"$regex":"x\\z"}}`},
		{"regex multiline dollar", store.Regex{Path: "a", Pattern: "(?m)x$"}, `{"a":{"$regex":"(?m)x$"}}`},
		{"regex escaped dollar", store.Regex{Path: "a", Pattern: `\$5`}, `{"a":{"$regex":"\\$5"}}`},
		{
			"dotted, missing does not match",
			store.Compare{Path: "a.b.c", Op: store.OpGt, Value: int64(1)},
			`{"$and":[{"$nor":[{"a":{"$type":"array"}},{"a.b":{"$type":"array"}}]},{"a.b.c":{"$gt":1}}]}`,
		},
		{
			"dotted, missing matches",
			store.Compare{Path: "a.b", Op: store.OpEq, Value: nil},
			`{"$or":[{"a":{"$type":"array"}},{"a.b":{"$eq":null}}]}`,
		},
		{
			"dotted ne",
			store.Compare{Path: "a.b", Op: store.OpNe, Value: "x"},
			`{"$or":[{"a":{"$type":"array"}},{"a.b":{"$ne":"x"}}]}`,
		},
		{
			"dotted nin without null",
			store.In{Path: "a.b", Values: []any{"x"}, Not: true},
			`{"$or":[{"a":{"$type":"array"}},{"a.b":{"$nin":["x"]}}]}`,
		},
		{
			"dotted exists false",
			store.Exists{Path: "a.b", Exists: false},
			`{"$or":[{"a":{"$type":"array"}},{"a.b":{"$exists":false}}]}`,
		},
		{"and empty", store.And{}, `{}`},
		{"and one", store.And{Filters: []store.Filter{store.Exists{Path: "a", Exists: true}}}, `{"a":{"$exists":true}}`},
		{
			"and",
			store.And{Filters: []store.Filter{store.Exists{Path: "a", Exists: true}, store.Compare{Path: "b", Op: store.OpEq, Value: "x"}}},
			`{"$and":[{"a":{"$exists":true}},{"b":{"$eq":"x"}}]}`,
		},
		{"or empty", store.Or{}, `{"$nor":[{}]}`},
		{
			"or",
			store.Or{Filters: []store.Filter{store.Compare{Path: "a", Op: store.OpEq, Value: int64(1)}, store.Compare{Path: "a", Op: store.OpEq, Value: int64(2)}}},
			`{"$or":[{"a":{"$eq":1}},{"a":{"$eq":2}}]}`,
		},
		{"not", store.Not{Filter: store.Compare{Path: "a", Op: store.OpGt, Value: int64(1)}}, `{"$nor":[{"a":{"$gt":1}}]}`},
		{"not empty or", store.Not{Filter: store.Or{}}, `{"$nor":[{"$nor":[{}]}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := store.ValidateFilter(tc.in); err != nil {
				t.Fatalf("test filter invalid: %v", err)
			}
			d, err := compileFilter(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := extJSON(t, d); got != tc.want {
				t.Fatalf("compileFilter:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestCompileFilterRefusesUnknown(t *testing.T) {
	t.Parallel()
	for _, f := range []store.Filter{
		store.Compare{Path: "a", Op: "$where", Value: "x"},
		store.Not{Filter: store.Compare{Path: "a", Op: "$expr", Value: "x"}},
	} {
		if _, err := compileFilter(f); !store.IsInvalid(err) {
			t.Errorf("compileFilter(%#v) = %v, want ErrInvalid", f, err)
		}
	}
}

// semanticsDocs is a data set with the edge cases of store/filter.go: nulls
// and missing fields, arrays at the end and in the middle of a path, and
// values of mixed types under one field.
var semanticsDocs = []store.Doc{
	{"_id": "d1", "n": 1, "s": "apple", "tags": []any{"a", "b"}, "o": map[string]any{"p": 1}},
	{"_id": "d2", "n": 2.5, "s": "Banana", "tags": []any{"c"}, "o": map[string]any{"p": "x"}},
	{"_id": "d3", "n": nil, "s": "cherry\n"},
	{"_id": "d4", "s": 5, "arr": []any{map[string]any{"p": 1}}},
	{"_id": "d5", "n": "10", "o": []any{map[string]any{"p": 1}}, "tags": []any{}},
	{"_id": "d6", "n": true, "o": map[string]any{"p": nil}},
}

// semanticsCases pairs filters with the ids store/filter.go says they
// match in semanticsDocs.
var semanticsCases = []struct {
	filter string
	want   []string
}{
	{`{"n": null}`, []string{"d3", "d4"}},
	{`{"n": {"$ne": null}}`, []string{"d1", "d2", "d5", "d6"}},
	{`{"n": {"$gt": 1}}`, []string{"d2"}},
	{`{"n": {"$gte": 1}}`, []string{"d1", "d2"}},
	{`{"n": {"$lt": "2"}}`, []string{"d5"}},
	{`{"s": {"$gt": "B"}}`, []string{"d1", "d2", "d3"}},
	{`{"n": 1.0}`, []string{"d1"}},
	{`{"n": true}`, []string{"d6"}},
	{`{"n": {"$in": [1, "10"]}}`, []string{"d1", "d5"}},
	{`{"tags": "a"}`, []string{"d1"}},
	{`{"tags": {"$gt": "a"}}`, []string{"d1", "d2"}},
	{`{"tags": {"$ne": "a"}}`, []string{"d2", "d3", "d4", "d5", "d6"}},
	{`{"tags": {"$nin": ["a", "c"]}}`, []string{"d3", "d4", "d5", "d6"}},
	{`{"tags": {"$in": ["c", null]}}`, []string{"d2", "d3", "d4", "d6"}},
	{`{"o.p": 1}`, []string{"d1"}},
	{`{"o.p": null}`, []string{"d3", "d4", "d5", "d6"}},
	{`{"o.p": {"$ne": 1}}`, []string{"d2", "d3", "d4", "d5", "d6"}},
	{`{"o.p": {"$in": [1, "x"]}}`, []string{"d1", "d2"}},
	{`{"o.p": {"$nin": [1, "x"]}}`, []string{"d3", "d4", "d5", "d6"}},
	{`{"o.p": {"$exists": true}}`, []string{"d1", "d2", "d6"}},
	{`{"o.p": {"$exists": false}}`, []string{"d3", "d4", "d5"}},
	{`{"arr.p": 1}`, nil},
	{`{"arr.p": {"$gte": 0}}`, nil},
	{`{"s": {"$regex": "^b", "$options": "i"}}`, []string{"d2"}},
	{`{"s": {"$regex": "^b"}}`, nil},
	{`{"s": {"$regex": "an"}}`, []string{"d2"}},
	{`{"s": {"$regex": "y$"}}`, nil},
	{`{"s": {"$regex": "y\n$"}}`, []string{"d3"}},
	{`{"$or": [{"n": 1}, {"s": 5}]}`, []string{"d1", "d4"}},
	{`{"n": {"$not": {"$gt": 1}}}`, []string{"d1", "d3", "d4", "d5", "d6"}},
	{`{"o.p": {"$not": {"$exists": true}}}`, []string{"d3", "d4", "d5"}},
	{`{"$and": [{"n": {"$exists": true}}, {"tags": {"$exists": false}}]}`, []string{"d3", "d6"}},
	{`{"n": {"$gte": 1, "$lt": 3}}`, []string{"d1", "d2"}},
}

// TestFilterSemantics runs semanticsCases through Find and Count on the
// server, plus the filters only code can build (empty Or, Not of it).
func TestFilterSemantics(t *testing.T) {
	eachBackend(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		c := testColl(t, open(t, Options{}), "sem")
		for _, d := range semanticsDocs {
			if _, err := c.Insert(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		run := func(t *testing.T, f store.Filter, want []string) {
			page, err := c.Find(ctx, store.Query{Filter: f})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range page.Docs {
				got = append(got, store.DocID(d))
			}
			if !slices.Equal(got, want) {
				t.Fatalf("Find = %v, want %v", got, want)
			}
			n, err := c.Count(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(len(want)) {
				t.Fatalf("Count = %d, want %d", n, len(want))
			}
		}
		for _, tc := range semanticsCases {
			t.Run(tc.filter, func(t *testing.T) {
				f, err := store.ParseFilter([]byte(tc.filter))
				if err != nil {
					t.Fatal(err)
				}
				run(t, f, tc.want)
			})
		}
		all := []string{"d1", "d2", "d3", "d4", "d5", "d6"}
		t.Run("empty Or", func(t *testing.T) { run(t, store.Or{}, nil) })
		t.Run("Not empty Or", func(t *testing.T) { run(t, store.Not{Filter: store.Or{}}, all) })
		t.Run("empty And", func(t *testing.T) { run(t, store.And{}, all) })
		t.Run("Or with empty Or", func(t *testing.T) {
			run(t, store.Or{Filters: []store.Filter{store.Or{}, store.Compare{Path: "n", Op: store.OpEq, Value: int64(1)}}}, []string{"d1"})
		})
		t.Run("invalid", func(t *testing.T) {
			_, err := c.Find(ctx, store.Query{Filter: store.Compare{Path: "$where", Op: store.OpEq, Value: "x"}})
			if !store.IsInvalid(err) {
				t.Fatalf("Find with a bad path = %v, want ErrInvalid", err)
			}
			_, err = c.Find(ctx, store.Query{Sort: []store.SortKey{{Path: "a..b"}}})
			if !store.IsInvalid(err) {
				t.Fatalf("Find with a bad sort = %v, want ErrInvalid", err)
			}
		})
	})
}

// checkOperators walks compiled BSON and reports the first key that is an
// operator outside allowedOperators, or a field path the filter language
// does not allow.
func checkOperators(v any) error {
	switch x := v.(type) {
	case bson.D:
		for _, e := range x {
			if strings.HasPrefix(e.Key, "$") {
				if !allowedOperators[e.Key] {
					return fmt.Errorf("operator %q emitted", e.Key)
				}
			} else if err := store.ValidPath(e.Key); err != nil {
				return fmt.Errorf("path %q emitted: %v", e.Key, err)
			}
			if err := checkOperators(e.Value); err != nil {
				return err
			}
		}
	case bson.A:
		for _, e := range x {
			if err := checkOperators(e); err != nil {
				return err
			}
		}
	}
	return nil
}

func FuzzCompileFilter(f *testing.F) {
	for _, tc := range semanticsCases {
		f.Add([]byte(tc.filter))
	}
	for _, s := range []string{
		`{}`, `{"a": {"$where": "1"}}`, `{"$nor": [{}]}`, `{"a.b.c.d": {"$exists": false}}`,
		`{"a": {"$regex": "(a|b)$", "$options": "i"}}`, `{"$or": [{"$and": [{"x": {"$not": {"$in": [null, 1]}}}]}]}`,
		`{"a": {"$eq": {"$gt": 1}}}`, `{"a": {"$not": {"$not": {"$eq": 1}}}}`, `[1]`, `{"a": 1e400}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		flt, err := store.ParseFilter(data)
		if err != nil {
			return
		}
		d, err := compileFilter(flt)
		if err != nil {
			t.Fatalf("compileFilter of a parsed filter failed: %v", err)
		}
		if err := checkOperators(d); err != nil {
			t.Fatalf("filter %s: %v", data, err)
		}
		if _, err := bson.Marshal(d); err != nil {
			t.Fatalf("compiled filter does not marshal: %v", err)
		}
	})
}
