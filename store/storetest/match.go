package storetest

import (
	"regexp"

	"github.com/skybridgehq/skybridge/store"
)

// Matches reports whether doc matches f under the semantics written on
// store.Filter: dotted paths walk objects only; a condition on an array
// matches when the array or one of its elements does; $eq null matches a
// missing field or null; $ne, $nin and $not are negations (so they match
// documents lacking the field); ordering compares numbers with numbers
// and strings with strings (bytewise); $regex matches strings only.
//
// It is the reference the suite holds adapters to, and adapters may fuzz
// their filter compilers against it. doc must be in store's normalized
// shape; f must be valid (store.ValidateFilter).
func Matches(doc store.Doc, f store.Filter) bool {
	switch x := f.(type) {
	case nil:
		return true
	case store.Compare:
		v, ok := store.Lookup(doc, x.Path)
		want := store.Normalize(x.Value)
		switch x.Op {
		case store.OpEq:
			return matchEq(v, ok, want)
		case store.OpNe:
			return !matchEq(v, ok, want)
		default:
			return matchAny(v, ok, func(e any) bool { return ordered(e, x.Op, want) })
		}
	case store.In:
		v, ok := store.Lookup(doc, x.Path)
		hit := false
		for _, want := range x.Values {
			if matchEq(v, ok, store.Normalize(want)) {
				hit = true
				break
			}
		}
		return hit != x.Not
	case store.Exists:
		_, ok := store.Lookup(doc, x.Path)
		return ok == x.Exists
	case store.Regex:
		pat := x.Pattern
		if x.CaseInsensitive {
			pat = "(?i)" + pat
		}
		re := regexp.MustCompile(pat)
		v, ok := store.Lookup(doc, x.Path)
		return matchAny(v, ok, func(e any) bool {
			s, isStr := e.(string)
			return isStr && re.MatchString(s)
		})
	case store.And:
		for _, sub := range x.Filters {
			if !Matches(doc, sub) {
				return false
			}
		}
		return true
	case store.Or:
		for _, sub := range x.Filters {
			if Matches(doc, sub) {
				return true
			}
		}
		return false
	case store.Not:
		return !Matches(doc, x.Filter)
	default:
		panic("storetest.Matches: unknown filter type")
	}
}

// matchAny applies pred to a value present at a path and, when it is an
// array, to each element.
func matchAny(v any, present bool, pred func(any) bool) bool {
	if !present {
		return false
	}
	if pred(v) {
		return true
	}
	if arr, ok := v.([]any); ok {
		for _, e := range arr {
			if pred(e) {
				return true
			}
		}
	}
	return false
}

func matchEq(v any, present bool, want any) bool {
	if want == nil && (!present || v == nil) {
		return true
	}
	return matchAny(v, present, func(e any) bool { return scalarEqual(e, want) })
}

func scalarEqual(a, b any) bool {
	if an, ok := number(a); ok {
		bn, ok := number(b)
		return ok && an == bn
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

func ordered(a any, op store.Op, b any) bool {
	var c int
	if an, ok := number(a); ok {
		bn, ok := number(b)
		if !ok {
			return false
		}
		c = cmp3(an < bn, an > bn)
	} else if as, ok := a.(string); ok {
		bs, ok := b.(string)
		if !ok {
			return false
		}
		c = cmp3(as < bs, as > bs)
	} else {
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

func cmp3(less, greater bool) int {
	switch {
	case less:
		return -1
	case greater:
		return 1
	}
	return 0
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}
