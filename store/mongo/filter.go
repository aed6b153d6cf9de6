package mongo

import (
	"fmt"
	"regexp/syntax"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/skybridgehq/skybridge/store"
)

// compileFilter turns a validated store.Filter into a MongoDB query with
// the semantics documented in store/filter.go. Most of them are MongoDB's
// own ($eq null matching a missing field, $ne and $nin matching it, array
// elements matching, type bracketing for $gt and friends), so leaves map
// one to one onto query operators, with two exceptions:
//
//   - The contract walks arrays only at the end of a path; MongoDB also
//     walks them in the middle ({"a.b": 1} matches {a: [{b: 1}]}). A dotted
//     path therefore gets a guard on each of its proper prefixes: where one
//     of them is an array the path counts as missing, so the leaf is
//     ANDed with "no prefix is an array" when a missing value does not match
//     it, and ORed with "some prefix is an array" when it does.
//   - Not{X} is {$nor: [X]}, and an empty Or, which matches nothing, is
//     {$nor: [{}]}.
//
// The output uses only the operators in allowedOperators.
func compileFilter(f store.Filter) (bson.D, error) {
	switch x := f.(type) {
	case nil:
		return bson.D{}, nil
	case store.Compare:
		missing := false
		switch x.Op {
		case store.OpEq:
			missing = x.Value == nil
		case store.OpNe:
			missing = x.Value != nil
		case store.OpGt, store.OpGte, store.OpLt, store.OpLte:
		default:
			return nil, fmt.Errorf("%w: operator %q", store.ErrInvalid, x.Op)
		}
		return leaf(x.Path, bson.D{{Key: string(x.Op), Value: x.Value}}, missing), nil
	case store.In:
		hasNull := false
		vals := make(bson.A, len(x.Values))
		for i, v := range x.Values {
			vals[i] = v
			hasNull = hasNull || v == nil
		}
		if x.Not {
			return leaf(x.Path, bson.D{{Key: "$nin", Value: vals}}, !hasNull), nil
		}
		return leaf(x.Path, bson.D{{Key: "$in", Value: vals}}, hasNull), nil
	case store.Exists:
		return leaf(x.Path, bson.D{{Key: "$exists", Value: x.Exists}}, !x.Exists), nil
	case store.Regex:
		cond := bson.D{{Key: "$regex", Value: mongoPattern(x.Pattern)}}
		if x.CaseInsensitive {
			cond = append(cond, bson.E{Key: "$options", Value: "i"})
		}
		return leaf(x.Path, cond, false), nil
	case store.And:
		if len(x.Filters) == 0 {
			return bson.D{}, nil
		}
		if len(x.Filters) == 1 {
			return compileFilter(x.Filters[0])
		}
		subs, err := compileAll(x.Filters)
		if err != nil {
			return nil, err
		}
		return bson.D{{Key: "$and", Value: subs}}, nil
	case store.Or:
		if len(x.Filters) == 0 {
			return matchNothing(), nil
		}
		if len(x.Filters) == 1 {
			return compileFilter(x.Filters[0])
		}
		subs, err := compileAll(x.Filters)
		if err != nil {
			return nil, err
		}
		return bson.D{{Key: "$or", Value: subs}}, nil
	case store.Not:
		sub, err := compileFilter(x.Filter)
		if err != nil {
			return nil, err
		}
		return bson.D{{Key: "$nor", Value: bson.A{sub}}}, nil
	default:
		return nil, fmt.Errorf("%w: filter type %T", store.ErrInvalid, f)
	}
}

func compileAll(fs []store.Filter) (bson.A, error) {
	out := make(bson.A, 0, len(fs))
	for _, f := range fs {
		d, err := compileFilter(f)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// matchNothing is a query no document satisfies: none of {} (which all
// satisfy).
func matchNothing() bson.D { return bson.D{{Key: "$nor", Value: bson.A{bson.D{}}}} }

// leaf applies cond to path. missingMatches says whether cond holds for a
// missing value; it decides how the prefixes guard a dotted path.
func leaf(path string, cond bson.D, missingMatches bool) bson.D {
	base := bson.D{{Key: path, Value: cond}}
	var arrays bson.A
	for i := 0; i < len(path); i++ {
		if path[i] == '.' {
			arrays = append(arrays, bson.D{{Key: path[:i], Value: bson.D{{Key: "$type", Value: "array"}}}})
		}
	}
	if len(arrays) == 0 {
		return base
	}
	if missingMatches {
		return bson.D{{Key: "$or", Value: append(arrays, base)}}
	}
	return bson.D{{Key: "$and", Value: bson.A{bson.D{{Key: "$nor", Value: arrays}}, base}}}
}

// allowedOperators are the only operators compileFilter emits.
var allowedOperators = map[string]bool{
	"$eq": true, "$ne": true, "$gt": true, "$gte": true, "$lt": true, "$lte": true,
	"$in": true, "$nin": true, "$exists": true, "$regex": true, "$options": true,
	"$and": true, "$or": true, "$nor": true, "$type": true,
}

// maxPatternLen bounds a rewritten pattern (Unicode classes expand when a
// parsed pattern is printed again).
const maxPatternLen = 16 * store.MaxRegexLen

// mongoPattern adapts an RE2 pattern for MongoDB's PCRE. The one construct
// the two read differently in the allowed syntax is '$' outside multi-line
// mode: RE2 matches only at the end of the text, PCRE also before a final
// newline. Such a pattern is parsed and printed again with '$' as \z, which
// both read alike. Other patterns pass unchanged. Remaining differences
// (\s also matching \v in PCRE, and PCRE's backtracking, bounded by the
// operation timeout rather than RE2's linear time) are accepted.
func mongoPattern(p string) string {
	if !strings.Contains(p, "$") {
		return p
	}
	re, err := syntax.Parse(p, syntax.Perl)
	if err != nil {
		return p // ValidateFilter has compiled it already; keep it as given
	}
	if !clearWasDollar(re) {
		return p
	}
	if s := re.String(); len(s) <= maxPatternLen {
		return s
	}
	return p
}

// clearWasDollar turns every end-of-text '$' in re into \z and reports
// whether there was one.
func clearWasDollar(re *syntax.Regexp) bool {
	found := false
	if re.Op == syntax.OpEndText && re.Flags&syntax.WasDollar != 0 {
		re.Flags &^= syntax.WasDollar
		found = true
	}
	for _, sub := range re.Sub {
		if clearWasDollar(sub) {
			found = true
		}
	}
	return found
}
