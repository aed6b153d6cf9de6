package store

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseFilter(t *testing.T) {
	cases := []struct {
		in   string
		want Filter
	}{
		{``, nil},
		{`{}`, nil},
		{`{"a": 1}`, Compare{Path: "a", Op: OpEq, Value: int64(1)}},
		{`{"a.b": "x"}`, Compare{Path: "a.b", Op: OpEq, Value: "x"}},
		{`{"a": null}`, Compare{Path: "a", Op: OpEq, Value: nil}},
		{`{"a": 1.5}`, Compare{Path: "a", Op: OpEq, Value: 1.5}},
		{`{"a": {"$gt": 1, "$lte": 9}}`, And{Filters: []Filter{
			Compare{Path: "a", Op: OpGt, Value: int64(1)}, Compare{Path: "a", Op: OpLte, Value: int64(9)}}}},
		{`{"a": {"$in": [1, "x", null]}}`, In{Path: "a", Values: []any{int64(1), "x", nil}}},
		{`{"a": {"$nin": []}}`, In{Path: "a", Values: []any{}, Not: true}},
		{`{"a": {"$exists": false}}`, Exists{Path: "a", Exists: false}},
		{`{"a": {"$regex": "^x", "$options": "i"}}`, Regex{Path: "a", Pattern: "^x", CaseInsensitive: true}},
		{`{"a": {"$not": {"$eq": 3}}}`, Not{Filter: Compare{Path: "a", Op: OpEq, Value: int64(3)}}},
		{`{"$or": [{"a": 1}, {"b": true}]}`, Or{Filters: []Filter{
			Compare{Path: "a", Op: OpEq, Value: int64(1)}, Compare{Path: "b", Op: OpEq, Value: true}}}},
		{`{"b": 2, "$and": [{"a": 1}]}`, And{Filters: []Filter{
			And{Filters: []Filter{Compare{Path: "a", Op: OpEq, Value: int64(1)}}}, Compare{Path: "b", Op: OpEq, Value: int64(2)}}}},
		{`{"_id": "x"}`, Compare{Path: "_id", Op: OpEq, Value: "x"}},
	}
	for _, tc := range cases {
		got, err := ParseFilter([]byte(tc.in))
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %#v\nwant %#v", tc.in, got, tc.want)
		}
		if err := ValidateFilter(got); err != nil {
			t.Errorf("%s: parsed filter fails validation: %v", tc.in, err)
		}
	}
}

func TestParseFilterRefusesNamingTheCulprit(t *testing.T) {
	cases := map[string]string{
		`{"$where": "1"}`:                         "$where",
		`{"a": {"$expr": 1}}`:                     "$expr",
		`{"a": {"$function": {}}}`:                "$function",
		`{"a": {"$gt": true}}`:                    "$gt",
		`{"a": {"$gt": [1]}}`:                     "$gt",
		`{"a": {"$in": 3}}`:                       "$in",
		`{"a": {"$in": [{"x": 1}]}}`:              "$in",
		`{"a": {"$exists": 1}}`:                   "$exists",
		`{"a": {"$regex": "("}}`:                  "$regex",
		`{"a": {"$regex": "x", "$options": "s"}}`: "$options",
		`{"a": {"$options": "i"}}`:                "$options",
		`{"a": {"b": 1}}`:                         "a.b",
		`{"a": [1, 2]}`:                           "a",
		`{"$a": 1}`:                               "$a",
		`{"a.$b": 1}`:                             "a.$b",
		`{"a..b": 1}`:                             "a..b",
		`{"a.0": 1}`:                              "a.0",
		`{"a\"b": 1}`:                             "a\"b",
		`{"$or": []}`:                             "$or",
		`{"$or": [1]}`:                            "$or",
		`[1]`:                                     "filter",
		`{"a": 1} x`:                              "filter",
		`{"a": {}}`:                               "a",
		`{"a": 1e400}`:                            "1e400",
	}
	for in, culprit := range cases {
		_, err := ParseFilter([]byte(in))
		var fe *FilterError
		if !errors.As(err, &fe) || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: want FilterError, got %v", in, err)
			continue
		}
		if fe.Field != culprit {
			t.Errorf("%s: names %q, want %q", in, fe.Field, culprit)
		}
	}
}

func TestParseFilterBounds(t *testing.T) {
	deep := strings.Repeat(`{"$or":[`, MaxFilterDepth+2) + `{"a":1}` + strings.Repeat(`]}`, MaxFilterDepth+2)
	if _, err := ParseFilter([]byte(deep)); err == nil {
		t.Error("accepted a filter deeper than the bound")
	}
	var b strings.Builder
	b.WriteString(`{"$or":[`)
	for i := 0; i < MaxFilterNodes+1; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"a":1}`)
	}
	b.WriteString(`]}`)
	if _, err := ParseFilter([]byte(b.String())); err == nil {
		t.Error("accepted more conditions than the bound")
	}
	if _, err := ParseFilter([]byte(`{"a":{"$regex":"` + strings.Repeat("a", MaxRegexLen+1) + `"}}`)); err == nil {
		t.Error("accepted an over-long regex")
	}
	if _, err := ParseFilter([]byte(`{"` + strings.Repeat("a.", MaxPathDepth) + `a": 1}`)); err == nil {
		t.Error("accepted an over-deep path")
	}
}

func TestParseSort(t *testing.T) {
	got, err := ParseSort("-n, title,+a.b,_createdAt", 4)
	want := []SortKey{{Path: "n", Desc: true}, {Path: "title"}, {Path: "a.b"}, {Path: "_createdAt"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v %v", got, err)
	}
	for _, bad := range []string{"a,b,c,d", "a,a", "$x", "-", "a..b"} {
		if _, err := ParseSort(bad, 3); err == nil {
			t.Errorf("accepted sort %q", bad)
		}
	}
}

func TestKeysetFilter(t *testing.T) {
	sort := []SortKey{{Path: "n"}, {Path: "t", Desc: true}}
	cur := MakeCursor(sort, Doc{FieldID: "id1", "n": int64(5), "t": "m"})
	f, err := KeysetFilter(sort, cur)
	if err != nil {
		t.Fatal(err)
	}
	want := Or{Filters: []Filter{
		And{Filters: []Filter{Compare{Path: "n", Op: OpGt, Value: int64(5)}}},
		And{Filters: []Filter{Compare{Path: "n", Op: OpEq, Value: int64(5)},
			Or{Filters: []Filter{Compare{Path: "t", Op: OpLt, Value: "m"}, Compare{Path: "t", Op: OpEq, Value: nil}}}}},
		And{Filters: []Filter{Compare{Path: "n", Op: OpEq, Value: int64(5)}, Compare{Path: "t", Op: OpEq, Value: "m"},
			Compare{Path: FieldID, Op: OpGt, Value: "id1"}}},
	}}
	if !reflect.DeepEqual(f, want) {
		t.Fatalf("got %#v", f)
	}
	if err := ValidateFilter(f); err != nil {
		t.Fatal(err)
	}
	// A null sort value ascending: everything non-null comes after it.
	cur = MakeCursor([]SortKey{{Path: "n"}}, Doc{FieldID: "x"})
	f, _ = KeysetFilter([]SortKey{{Path: "n"}}, cur)
	if !reflect.DeepEqual(f.(Or).Filters[0], And{Filters: []Filter{Not{Filter: Compare{Path: "n", Op: OpEq, Value: nil}}}}) {
		t.Fatalf("null cursor: %#v", f)
	}
	for _, bad := range []string{"!!", "e30", MakeCursor(nil, Doc{FieldID: "x"})} {
		if _, err := KeysetFilter(sort, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("cursor %q: %v", bad, err)
		}
	}
}

func TestCheckDocument(t *testing.T) {
	ok := Doc{"a": map[string]any{"b": []any{1.0, "x", map[string]any{"c": nil}}}}
	if err := CheckDocument(ok); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []Doc{
		{"$set": 1}, {"a.b": 1}, {"": 1}, {"a": map[string]any{"$x": 1}},
		{"a": []any{map[string]any{"b.c": 1}}},
	} {
		if err := CheckDocument(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("accepted %v", bad)
		}
	}
	deep := Doc{}
	cur := deep
	for i := 0; i < MaxDocDepth+2; i++ {
		next := Doc{}
		cur["x"] = next
		cur = next
	}
	if err := CheckDocument(deep); err == nil {
		t.Error("accepted an over-deep document")
	}
}

func TestNormalize(t *testing.T) {
	got := Normalize(map[string]any{"a": 3.0, "b": 3.5, "c": []any{int32(2), 1e300}, "d": "s"})
	want := map[string]any{"a": int64(3), "b": 3.5, "c": []any{int64(2), 1e300}, "d": "s"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v", got)
	}
}

func TestValidNames(t *testing.T) {
	for _, ok := range []string{"todos", "a", "Todo_list-2"} {
		if ValidCollectionName(ok) != nil {
			t.Errorf("refused %q", ok)
		}
	}
	for _, bad := range []string{"", "_sb_seq", "1abc", "a.b", "a$b", strings.Repeat("a", 101), "a b"} {
		if ValidCollectionName(bad) == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	if ValidDBName(EnvDBName("abc123", "dev")) != nil || ValidDBName("Bad") == nil || ValidDBName(SystemDB) != nil {
		t.Error("db names")
	}
}

// FuzzParseFilter: arbitrary input never panics, and whatever parses holds
// only allowed operators and passes validation.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{
		`{"a":1}`, `{"a":{"$gt":1,"$lt":"z"}}`, `{"$or":[{"a":null},{"b":{"$exists":true}}]}`,
		`{"a":{"$not":{"$regex":"^x","$options":"i"}}}`, `{"a":{"$in":[1,2,"x"]}}`, `{"$where":"x"}`,
		`{"a.b.c":{"$ne":false}}`, `{"a":{"$nin":[null]}}`, `[]`, `{"a":{"b":1}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		flt, err := ParseFilter(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if err := ValidateFilter(flt); err != nil {
			t.Fatalf("parsed filter fails validation: %v", err)
		}
		walk(t, flt)
	})
}

func walk(t *testing.T, f Filter) {
	switch x := f.(type) {
	case nil:
	case Compare:
		switch x.Op {
		case OpEq, OpNe, OpGt, OpGte, OpLt, OpLte:
		default:
			t.Fatalf("operator %q reached the AST", x.Op)
		}
	case In, Exists, Regex:
	case And:
		for _, s := range x.Filters {
			walk(t, s)
		}
	case Or:
		for _, s := range x.Filters {
			walk(t, s)
		}
	case Not:
		walk(t, x.Filter)
	default:
		t.Fatalf("unknown node %T", f)
	}
}
