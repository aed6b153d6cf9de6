package sqlite

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/skybridgehq/skybridge/store"
)

// compiler turns a store.Filter into an SQL boolean expression over the
// doc column, following the semantics documented on store.Filter. Every
// value is a bound parameter (?N); paths are inlined as quoted JSON path
// literals (store.ValidPath admits no '"', '\\' or control character, and
// a "'" is doubled), so that the expressions are those of the declared
// expression indexes and SQLite can use them.
//
// SQL's NULL stands for "no match": json_extract of a missing field is
// NULL, and comparisons with it are NULL. AND and OR keep that reading;
// NOT does not, so a negation is written NOT IFNULL(x, 0), which matches
// documents lacking the field as MongoDB's $ne, $nin and $not do.
type compiler struct {
	args         []any
	argIndex     map[any]int
	mayHoldArray func(path string) bool
}

// maxParams stays below SQLite's limit on bound parameters (32766).
const maxParams = 32000

// compileFilter validates and compiles the conjunction of fs (each
// validated on its own, so that a caller's filter at the bounds still
// takes a cursor's keyset filter); mayHoldArray tells which paths may
// hold arrays (nil: any may).
func compileFilter(mayHoldArray func(string) bool, fs ...store.Filter) (string, []any, error) {
	c := &compiler{argIndex: map[any]int{}, mayHoldArray: mayHoldArray}
	parts := []string{}
	for _, f := range fs {
		if f == nil {
			continue
		}
		if err := store.ValidateFilter(f); err != nil {
			return "", nil, err
		}
		sql, err := c.filter(f)
		if err != nil {
			return "", nil, err
		}
		parts = append(parts, sql)
	}
	if len(c.args) > maxParams {
		return "", nil, fmt.Errorf("%w: filter has more than %d distinct values", store.ErrInvalid, maxParams)
	}
	if len(parts) == 0 {
		return "1", nil, nil
	}
	return strings.Join(parts, " AND "), c.args, nil
}

func (c *compiler) filter(f store.Filter) (string, error) {
	switch x := f.(type) {
	case nil:
		return "1", nil
	case store.Compare:
		if x.Op == store.OpNe {
			return negate(c.compare(x.Path, store.OpEq, x.Value)), nil
		}
		return c.compare(x.Path, x.Op, x.Value), nil
	case store.In:
		s := c.matchAny(x.Path, func(v, t string, elem bool) string { return c.in(v, t, elem, x.Values) })
		if x.Not {
			return negate(s), nil
		}
		return s, nil
	case store.Exists:
		_, t := valueExprs(x.Path)
		if x.Exists {
			return "(" + t + " IS NOT NULL)", nil
		}
		return "(" + t + " IS NULL)", nil
	case store.Regex:
		pat := x.Pattern
		if x.CaseInsensitive {
			pat = "(?i)" + pat
		}
		p := c.bind(pat)
		return c.matchAny(x.Path, func(v, t string, _ bool) string {
			return "(" + t + " = 'text' AND sb_regexp(" + p + ", " + v + "))"
		}), nil
	case store.And:
		return c.join(x.Filters, " AND ", "1")
	case store.Or:
		return c.join(x.Filters, " OR ", "0")
	case store.Not:
		s, err := c.filter(x.Filter)
		return negate(s), err
	default:
		return "", fmt.Errorf("%w: filter node %T", store.ErrInvalid, f)
	}
}

func negate(s string) string { return "NOT IFNULL(" + s + ", 0)" }

func (c *compiler) join(fs []store.Filter, sep, empty string) (string, error) {
	if len(fs) == 0 {
		return empty, nil
	}
	parts := make([]string, len(fs))
	for i, sub := range fs {
		s, err := c.filter(sub)
		if err != nil {
			return "", err
		}
		parts[i] = s
	}
	return "(" + strings.Join(parts, sep) + ")", nil
}

// matchAny applies cond to the value at path and, when that value may be
// an array, to each of its elements (the rule for the end of a path).
// cond gets SQL for the value and for its JSON type ('integer', 'real',
// 'text', 'true', 'false', 'null', 'object', 'array'; NULL when missing),
// and whether they are an array element's.
func (c *compiler) matchAny(path string, cond func(v, t string, elem bool) string) string {
	v, t := valueExprs(path)
	direct := cond(v, t, false)
	if isColumn(path) || (c.mayHoldArray != nil && !c.mayHoldArray(path)) {
		return "(" + direct + ")"
	}
	elem := cond("e.value", "e.type", true)
	return "(" + direct + " OR (" + t + " = 'array' AND EXISTS (SELECT 1 FROM json_each(doc, " + jsonPath(path) + ") AS e WHERE " + elem + ")))"
}

var sqlOps = map[store.Op]string{store.OpEq: "=", store.OpGt: ">", store.OpGte: ">=", store.OpLt: "<", store.OpLte: "<="}

// compare is Compare without $ne. Numbers compare only with numbers and
// strings with strings: the type tests keep booleans (which json_extract
// reads as 0 and 1) and JSON text of objects out. The extra bounds
// (< ” for numbers, >= ” for strings) change no answer (SQLite orders
// numbers before text) but bound an index range scan to one type.
func (c *compiler) compare(path string, op store.Op, val any) string {
	return c.matchAny(path, func(v, t string, elem bool) string {
		switch x := val.(type) {
		case nil: // $eq only: a missing field or JSON null
			if elem {
				return "(" + t + " = 'null')"
			}
			return "(" + v + " IS NULL)"
		case bool:
			if x {
				return "(" + t + " = 'true')"
			}
			return "(" + t + " = 'false')"
		case string:
			s := "(" + v + " " + sqlOps[op] + " " + c.bind(x)
			if op == store.OpLt || op == store.OpLte {
				s += " AND " + v + " >= ''"
			}
			return s + " AND " + t + " = 'text')"
		default: // int64, float64
			s := "(" + v + " " + sqlOps[op] + " " + c.bind(x)
			if op == store.OpGt || op == store.OpGte {
				s += " AND " + v + " < ''"
			}
			return s + " AND " + t + " IN ('integer', 'real'))"
		}
	})
}

// in is $in over one value: grouped by type into SQL IN lists.
func (c *compiler) in(v, t string, elem bool, values []any) string {
	var nums, strs []string
	var parts []string
	seenTrue, seenFalse, seenNull := false, false, false
	for _, val := range values {
		switch x := val.(type) {
		case nil:
			seenNull = true
		case bool:
			seenTrue = seenTrue || x
			seenFalse = seenFalse || !x
		case string:
			strs = append(strs, c.bind(x))
		default:
			nums = append(nums, c.bind(x))
		}
	}
	if len(nums) > 0 {
		parts = append(parts, "("+v+" IN ("+strings.Join(nums, ", ")+") AND "+t+" IN ('integer', 'real'))")
	}
	if len(strs) > 0 {
		parts = append(parts, "("+v+" IN ("+strings.Join(strs, ", ")+") AND "+t+" = 'text')")
	}
	if seenTrue {
		parts = append(parts, "("+t+" = 'true')")
	}
	if seenFalse {
		parts = append(parts, "("+t+" = 'false')")
	}
	if seenNull {
		if elem {
			parts = append(parts, "("+t+" = 'null')")
		} else {
			parts = append(parts, "("+v+" IS NULL)")
		}
	}
	if len(parts) == 0 {
		return "0"
	}
	return "(" + strings.Join(parts, " OR ") + ")"
}

// bind adds a parameter (once per distinct value) and returns its
// placeholder.
func (c *compiler) bind(v any) string {
	i, ok := c.argIndex[v]
	if !ok {
		c.args = append(c.args, v)
		i = len(c.args)
		c.argIndex[v] = i
	}
	return "?" + strconv.Itoa(i)
}

// isColumn reports whether a path is kept in a column of its own.
func isColumn(path string) bool { return path == store.FieldID || path == store.FieldSeq }

// valueExprs returns the SQL of the value at path and of its JSON type.
func valueExprs(path string) (v, t string) {
	switch path {
	case store.FieldID:
		return "id", "'text'"
	case store.FieldSeq:
		return "seq", "'integer'"
	}
	p := jsonPath(path)
	return "json_extract(doc, " + p + ")", "json_type(doc, " + p + ")"
}

// jsonPath renders a validated dotted path as an SQL string literal of a
// JSON path: a.b → '$."a"."b"'.
func jsonPath(path string) string {
	var b strings.Builder
	b.WriteString("'$")
	for _, seg := range strings.Split(path, ".") {
		b.WriteString(`."`)
		b.WriteString(strings.ReplaceAll(seg, "'", "''"))
		b.WriteString(`"`)
	}
	b.WriteString("'")
	return b.String()
}

// orderBy renders the sort keys, then id. SQLite orders NULL (a missing
// field or JSON null) first ascending and last descending, as MongoDB
// does and store.KeysetFilter expects.
func orderBy(keys []store.SortKey) string {
	parts := make([]string, 0, len(keys)+1)
	for _, k := range keys {
		v, _ := valueExprs(k.Path)
		if k.Desc {
			v += " DESC"
		}
		parts = append(parts, v)
	}
	return strings.Join(append(parts, "id"), ", ")
}
