package store

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// cursor is the decoded form of Page.Cursor: the sort values and _id of the
// last document of the previous page.
type cursor struct {
	Values []any  `json:"k"`
	ID     string `json:"id"`
}

// MakeCursor encodes the position just after doc under the given sort.
func MakeCursor(sort []SortKey, doc Doc) string {
	c := cursor{ID: DocID(doc)}
	for _, k := range sort {
		v, _ := Lookup(doc, k.Path)
		c.Values = append(c.Values, v)
	}
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// KeysetFilter returns the filter that selects the documents after the
// cursor position under sort (_id ascending breaks ties). It is nil for an
// empty cursor. Null or missing sort values come first in ascending order,
// as both adapters sort them; sorting on a field that mixes numbers and
// strings pages within each type only.
func KeysetFilter(sort []SortKey, cur string) (Filter, error) {
	if cur == "" {
		return nil, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(cur)
	if err != nil {
		return nil, fmt.Errorf("%w: malformed cursor", ErrInvalid)
	}
	var c cursor
	if err := json.Unmarshal(raw, &c); err != nil || len(c.Values) != len(sort) || c.ID == "" {
		return nil, fmt.Errorf("%w: malformed cursor (or not from this sort)", ErrInvalid)
	}
	var terms []Filter
	var equal []Filter // sort keys equal to the cursor's, so far
	for i, k := range sort {
		v := Normalize(c.Values[i])
		if v != nil && !orderable(v) {
			if b, ok := v.(bool); ok {
				v = b
			} else {
				return nil, fmt.Errorf("%w: cursor sort value of unsupported type", ErrInvalid)
			}
		}
		if after := afterTerm(k, v); after != nil {
			terms = append(terms, And{Filters: append(append([]Filter{}, equal...), after)})
		}
		equal = append(equal, Compare{Path: k.Path, Op: OpEq, Value: v})
	}
	terms = append(terms, And{Filters: append(equal, Compare{Path: FieldID, Op: OpGt, Value: c.ID})})
	return Or{Filters: terms}, nil
}

// afterTerm is "k comes strictly after v" for one key, or nil when nothing
// can.
func afterTerm(k SortKey, v any) Filter {
	switch {
	case v == nil && !k.Desc:
		return Not{Filter: Compare{Path: k.Path, Op: OpEq, Value: nil}}
	case v == nil && k.Desc:
		return nil
	case !orderable(v):
		return nil
	case k.Desc:
		return Or{Filters: []Filter{
			Compare{Path: k.Path, Op: OpLt, Value: v},
			Compare{Path: k.Path, Op: OpEq, Value: nil},
		}}
	default:
		return Compare{Path: k.Path, Op: OpGt, Value: v}
	}
}
