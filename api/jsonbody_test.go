package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// jsonTarget is shaped like an admin request body.
type jsonTarget struct {
	Name  string `json:"name"`
	Grace int    `json:"graceSeconds"`
	Inner struct {
		Flag bool `json:"flag"`
	} `json:"inner"`
}

func TestDecodeJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, ctype, body string
		status            int    // 0: decodes
		field             string // named in errors[]
		detail            string // part of the detail
	}{
		{"ok", "application/json", `{"name":"a","graceSeconds":5,"inner":{"flag":true}}`, 0, "", ""},
		{"ok charset", "application/json; charset=UTF-8", ` {"name":"a"} ` + "\n", 0, "", ""},
		{"ok vendor type", "application/merge-patch+json", `{}`, 0, "", ""},
		{"no content type", "", `{}`, 415, "", "Content-Type is missing"},
		{"form", "application/x-www-form-urlencoded", `name=a`, 415, "", "application/x-www-form-urlencoded"},
		{"bad charset", "application/json; charset=latin1", `{}`, 415, "", "latin1"},
		{"unparsable type", "application/json; ===", `{}`, 415, "", "cannot be parsed"},
		{"empty", "application/json", "  \n", 400, "", "empty"},
		{"syntax", "application/json", "{\n  \"name\": \"a\",,\n}", 400, "", "line 2, column 15"},
		{"truncated", "application/json", `{"name": "a"`, 400, "", "ends early"},
		{"trailing", "application/json", `{"name":"a"} {"x":1}`, 400, "", "after the JSON value at line 1, column 13"},
		{"unknown field", "application/json", `{"name":"a","color":"red"}`, 400, "color", "unknown field"},
		{"unknown nested field", "application/json", `{"inner":{"flag":true,"extra":1}}`, 400, "extra", "unknown field"},
		{"wrong type", "application/json", `{"graceSeconds":"soon"}`, 400, "graceSeconds", "must be a JSON integer, not string"},
		{"wrong nested type", "application/json", `{"inner":{"flag":"yes"}}`, 400, "inner.flag", "must be a JSON boolean"},
		{"not an object", "application/json", `[1,2]`, 400, "", "must be a JSON object, not array"},
		{"fraction into int", "application/json", `{"graceSeconds":1.5}`, 400, "graceSeconds", "must be a JSON integer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			var dst jsonTarget
			err := decodeJSON(req, &dst)
			if tt.status == 0 {
				if err != nil {
					t.Fatalf("decodeJSON: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("decodeJSON accepted %q", tt.body)
			}
			p := problemFor(err)
			if p.Status != tt.status || !strings.Contains(p.Detail, tt.detail) {
				t.Errorf("problem %+v, want status %d and detail containing %q", p, tt.status, tt.detail)
			}
			if tt.field != "" && (len(p.Errors) != 1 || p.Errors[0].Field != tt.field) {
				t.Errorf("errors %+v, want field %q", p.Errors, tt.field)
			}
		})
	}
}

func TestDecodeJSONKeepsIntegers(t *testing.T) {
	t.Parallel()
	var v map[string]any
	if err := decodeJSONBytes([]byte(`{"n": 9007199254740993}`), &v); err != nil {
		t.Fatal(err)
	}
	if got := v["n"]; got == nil || got.(interface{ String() string }).String() != "9007199254740993" {
		t.Errorf("n = %#v, want the exact json.Number", got)
	}
	if err := decodeJSONBytes([]byte(`{}`), v); err == nil || problemFor(err).Status != http.StatusInternalServerError {
		t.Errorf("decoding into a non-pointer is a programming error (500), got %v", err)
	}
}

func TestPosition(t *testing.T) {
	t.Parallel()
	data := []byte("ab\ncd\n\nef")
	for _, tt := range []struct {
		off  int64
		want string
	}{
		{-3, "line 1, column 1"}, {0, "line 1, column 1"}, {2, "line 1, column 3"}, {3, "line 2, column 1"},
		{7, "line 4, column 1"}, {9, "line 4, column 3"}, {99, "line 4, column 3"},
	} {
		if got := position(data, tt.off); got != tt.want {
			t.Errorf("position(%d) = %q, want %q", tt.off, got, tt.want)
		}
	}
}

// FuzzDecodeJSON feeds arbitrary bytes to the body decoder: each input
// either decodes or yields a 4xx problem; nothing panics or reaches 5xx.
func FuzzDecodeJSON(f *testing.F) {
	for _, seed := range []string{
		``, `{}`, `null`, `[]`, `{"name":"a","graceSeconds":3}`, `{"name":`, `{"name":"a"}}`,
		`{"inner":{"flag":"x"}}`, `{"x":1}`, `"\ud800"`, `{"name":"\u0000"}`, "\xff\xfe", `{"graceSeconds":1e400}`,
		`{"name":"a","name":"b"}`, strings.Repeat("[", 300), `{"inner":null}`, `0`, ` {} `,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, dst := range []any{&jsonTarget{}, &map[string]any{}, new(any)} {
			err := decodeJSONBytes(data, dst)
			if err == nil {
				continue
			}
			if !errors.Is(err, ErrMalformedBody) {
				t.Fatalf("decode %q into %T: %v is not ErrMalformedBody", data, dst, err)
			}
			p := problemFor(err)
			if p.Status != http.StatusBadRequest || p.Detail == "" {
				t.Fatalf("decode %q into %T: problem %+v", data, dst, p)
			}
		}
	})
}
