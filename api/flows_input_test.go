package api

import (
	"errors"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestQueryInput(t *testing.T) {
	t.Parallel()
	many := make([]string, maxQueryInputs+1)
	for i := range many {
		many[i] = "p" + strconv.Itoa(i) + "=1"
	}
	tests := []struct {
		raw   string
		want  map[string]any
		field string // a 400 naming it, when set
		err   bool
	}{
		{raw: "", want: map[string]any{}},
		{raw: "id=c1", want: map[string]any{"id": "c1"}},
		{raw: "id=c1&&n=2&", want: map[string]any{"id": "c1", "n": "2"}},
		{raw: "tag=a&tag=b&tag=c", want: map[string]any{"tag": []string{"a", "b", "c"}}},
		{raw: "q=a+b%26c&flag", want: map[string]any{"q": "a b&c", "flag": ""}},
		{raw: "na%6De=x", want: map[string]any{"name": "x"}},
		{raw: "id=%zz", field: "id", err: true},
		{raw: "%zz=1", field: "%zz", err: true},
		{raw: "a=1;b=2", err: true},
		{raw: strings.Join(many, "&"), err: true},
		{raw: strings.Join(many[:maxQueryInputs], "&") + "&p0=2", want: func() map[string]any {
			m := map[string]any{}
			for i := range maxQueryInputs {
				m["p"+strconv.Itoa(i)] = "1"
			}
			m["p0"] = []string{"1", "2"}
			return m
		}()},
	}
	for _, tt := range tests {
		got, err := queryInput(tt.raw)
		if tt.err {
			if !errors.Is(err, ErrInvalidInput) {
				t.Errorf("%.40q: error %v, want ErrInvalidInput", tt.raw, err)
			}
			var fe *fieldError
			if tt.field != "" && (!errors.As(err, &fe) || fe.field != tt.field) {
				t.Errorf("%.40q: error %v does not name %q", tt.raw, err, tt.field)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%.40q: got %v, %v; want %v", tt.raw, got, err, tt.want)
		}
	}
}

// FuzzQueryInput holds queryInput to url.ParseQuery: where the standard
// parser takes a query whole, queryInput reads the same parameters (one
// value as a string, several as a list); where it refuses a pair,
// queryInput refuses the query.
func FuzzQueryInput(f *testing.F) {
	for _, s := range []string{"", "id=c1", "a=1&a=2", "q=a+b%26c", "x=%zz", "a;b", "&&=&", "k=v=w", "%41=%42"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := queryInput(raw)
		want, perr := url.ParseQuery(raw)
		if perr != nil {
			if err == nil {
				t.Fatalf("%q: url.ParseQuery refuses it (%v), queryInput took %v", raw, perr, got)
			}
			return
		}
		if len(want) > maxQueryInputs {
			if err == nil {
				t.Fatalf("%q: %d parameters taken", raw, len(want))
			}
			return
		}
		if err != nil {
			t.Fatalf("%q: %v; url.ParseQuery takes it", raw, err)
		}
		if len(got) != len(want) {
			t.Fatalf("%q: %d parameters, want %d", raw, len(got), len(want))
		}
		for k, vs := range want {
			var w any = vs
			if len(vs) == 1 {
				w = vs[0]
			}
			if !reflect.DeepEqual(got[k], w) {
				t.Fatalf("%q: %q = %#v, want %#v", raw, k, got[k], w)
			}
		}
	})
}
