package orchestration

import (
	"context"
	"errors"
	"testing"
)

func TestInput(t *testing.T) {
	t.Parallel()
	p := mustPlan(t, testEngine(t, crmHandler), flowFiles(`apiVersion: skybridge/v1
kind: Flow
name: main
input:
  id: {type: string, required: true, pattern: "^[a-z0-9]+$"}
  limit: {type: integer, default: 10, min: 1, max: 100}
  price: number
  open: boolean
  status: {type: string, enum: [open, closed]}
  ids: array
  filter: object
steps:
  - transform:
      id: ${input.id}
      limit: ${input.limit}
      next: ${input.limit + 1}
      price: ${input.price}
      open: ${input.open}
      status: ${input.status}
      ids: ${input.ids}
      filter: ${input.filter}
`), Environment{})
	cases := []struct {
		name    string
		in      map[string]any
		want    map[string]any
		badName string
	}{
		{"query strings are coerced", map[string]any{"id": "a1", "limit": "5", "price": "2.5", "open": "true", "status": "open", "ids": []string{"x", "y"}, "filter": `{"a":1}`, "extra": "ignored"},
			map[string]any{"id": "a1", "limit": 5, "next": 6, "price": 2.5, "open": true, "status": "open", "ids": []any{"x", "y"}, "filter": map[string]any{"a": 1}}, ""},
		{"JSON values and defaults", map[string]any{"id": "a1", "price": 3.0, "open": false, "ids": []any{1.0}},
			map[string]any{"id": "a1", "limit": 10, "next": 11, "price": 3, "open": false, "status": nil, "ids": []any{1}, "filter": nil}, ""},
		{"one query value is a one-element list", map[string]any{"id": "a", "ids": "x"},
			map[string]any{"id": "a", "limit": 10, "next": 11, "price": nil, "open": nil, "status": nil, "ids": []any{"x"}, "filter": nil}, ""},
		{"missing required", map[string]any{"limit": "5"}, nil, "id"},
		{"pattern", map[string]any{"id": "A!"}, nil, "id"},
		{"not a number", map[string]any{"id": "a", "price": "cheap"}, nil, "price"},
		{"not an integer", map[string]any{"id": "a", "limit": "2.5"}, nil, "limit"},
		{"below min", map[string]any{"id": "a", "limit": 0.0}, nil, "limit"},
		{"above max", map[string]any{"id": "a", "limit": "101"}, nil, "limit"},
		{"not in enum", map[string]any{"id": "a", "status": "lost"}, nil, "status"},
		{"not a boolean", map[string]any{"id": "a", "open": "perhaps"}, nil, "open"},
		{"not an object", map[string]any{"id": "a", "filter": "[1]"}, nil, "filter"},
		{"a string as a number", map[string]any{"id": 42.0}, nil, "id"},
		{"repeated single value", map[string]any{"id": []string{"a", "b"}}, nil, "id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := p.Run(context.Background(), "main", Call{Input: tc.in, User: testUser})
			if tc.badName != "" {
				var ie *InputError
				if !errors.As(err, &ie) || ie.Field != tc.badName {
					t.Fatalf("err = %v, want an InputError for %s", err, tc.badName)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			jsonEqual(t, res.Output, tc.want)
		})
	}
}
