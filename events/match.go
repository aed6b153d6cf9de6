package events

import (
	"fmt"
	"regexp"

	"github.com/skybridgehq/skybridge/store"
)

// Matcher tests objects against a store.Filter in memory, with the
// semantics written on store.Filter, so that a live event is selected
// exactly as a query on either adapter would select the stored object.
// Build it once per subscription with NewMatcher: regular expressions are
// compiled there.
type Matcher struct{ match func(store.Doc) bool }

// NewMatcher compiles f (nil matches everything). f must pass
// store.ValidateFilter; NewMatcher checks it.
func NewMatcher(f store.Filter) (*Matcher, error) {
	if err := store.ValidateFilter(f); err != nil {
		return nil, err
	}
	m, err := compile(f)
	if err != nil {
		return nil, err
	}
	return &Matcher{match: m}, nil
}

// Match reports whether doc, in store's normalized shape, matches.
func (m *Matcher) Match(doc map[string]any) bool { return m.match(doc) }

func compile(f store.Filter) (func(store.Doc) bool, error) {
	switch x := f.(type) {
	case nil:
		return func(store.Doc) bool { return true }, nil
	case store.Compare:
		want := store.Normalize(x.Value)
		path := x.Path
		switch x.Op {
		case store.OpEq:
			return func(d store.Doc) bool { v, ok := store.Lookup(d, path); return equalAt(v, ok, want) }, nil
		case store.OpNe:
			return func(d store.Doc) bool { v, ok := store.Lookup(d, path); return !equalAt(v, ok, want) }, nil
		}
		op := x.Op
		return func(d store.Doc) bool {
			v, ok := store.Lookup(d, path)
			return anyOf(v, ok, func(e any) bool { return compareOp(e, op, want) })
		}, nil
	case store.In:
		vals := make([]any, len(x.Values))
		for i, v := range x.Values {
			vals[i] = store.Normalize(v)
		}
		path, not := x.Path, x.Not
		return func(d store.Doc) bool {
			v, ok := store.Lookup(d, path)
			for _, want := range vals {
				if equalAt(v, ok, want) {
					return !not
				}
			}
			return not
		}, nil
	case store.Exists:
		path, want := x.Path, x.Exists
		return func(d store.Doc) bool { _, ok := store.Lookup(d, path); return ok == want }, nil
	case store.Regex:
		pat := x.Pattern
		if x.CaseInsensitive {
			pat = "(?i)" + pat
		}
		re, err := regexp.Compile(pat)
		if err != nil {
			return nil, fmt.Errorf("events: compile $regex: %w", err)
		}
		path := x.Path
		return func(d store.Doc) bool {
			v, ok := store.Lookup(d, path)
			return anyOf(v, ok, func(e any) bool { s, isStr := e.(string); return isStr && re.MatchString(s) })
		}, nil
	case store.And:
		subs, err := compileAll(x.Filters)
		if err != nil {
			return nil, err
		}
		return func(d store.Doc) bool {
			for _, s := range subs {
				if !s(d) {
					return false
				}
			}
			return true
		}, nil
	case store.Or:
		subs, err := compileAll(x.Filters)
		if err != nil {
			return nil, err
		}
		return func(d store.Doc) bool {
			for _, s := range subs {
				if s(d) {
					return true
				}
			}
			return false
		}, nil
	case store.Not:
		sub, err := compile(x.Filter)
		if err != nil {
			return nil, err
		}
		return func(d store.Doc) bool { return !sub(d) }, nil
	}
	return nil, fmt.Errorf("events: unknown filter type %T", f)
}

func compileAll(fs []store.Filter) ([]func(store.Doc) bool, error) {
	out := make([]func(store.Doc) bool, 0, len(fs))
	for _, f := range fs {
		m, err := compile(f)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// anyOf applies pred to a present value and, when it is an array, to each
// of its elements (MongoDB's rule for conditions on arrays).
func anyOf(v any, present bool, pred func(any) bool) bool {
	if !present {
		return false
	}
	if pred(v) {
		return true
	}
	arr, _ := v.([]any)
	for _, e := range arr {
		if pred(e) {
			return true
		}
	}
	return false
}

// equalAt is $eq: null matches a missing field too.
func equalAt(v any, present bool, want any) bool {
	if want == nil && (!present || v == nil) {
		return true
	}
	return anyOf(v, present, func(e any) bool { return sameScalar(e, want) })
}

// sameScalar compares scalars; numbers compare by value across int64 and
// float64; objects and arrays equal nothing.
func sameScalar(a, b any) bool {
	if x, ok := asNumber(a); ok {
		y, ok := asNumber(b)
		return ok && x == y
	}
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	}
	return false
}

// compareOp orders numbers with numbers and strings with strings
// (bytewise); other pairs never match.
func compareOp(a any, op store.Op, b any) bool {
	c, ok := order(a, b)
	if !ok {
		return false
	}
	switch op {
	case store.OpGt:
		return c > 0
	case store.OpGte:
		return c >= 0
	case store.OpLt:
		return c < 0
	case store.OpLte:
		return c <= 0
	}
	return false
}

func order(a, b any) (int, bool) {
	if x, ok := asNumber(a); ok {
		y, ok := asNumber(b)
		if !ok {
			return 0, false
		}
		return sign(x < y, x > y), true
	}
	x, ok := a.(string)
	if !ok {
		return 0, false
	}
	y, ok := b.(string)
	if !ok {
		return 0, false
	}
	return sign(x < y, x > y), true
}

func sign(less, greater bool) int {
	switch {
	case less:
		return -1
	case greater:
		return 1
	}
	return 0
}

func asNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}
