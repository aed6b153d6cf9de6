package sqlite

import (
	"fmt"
	"strings"

	"github.com/skybridgehq/skybridge/store"
)

// compiler turns a store.Filter into an SQL boolean expression over the
// doc column, with every value bound as a parameter. Paths are inlined as
// quoted JSON path literals (validated by store.ValidPath: no quotes,
// backslashes or control characters), so that the expressions match those
// of declared expression indexes.
type compiler struct {
	args     []any
	hasArray func(path string) bool
}

// compileFilter compiles f; hasArray tells which paths may hold arrays (nil:
// any may).
func compileFilter(f store.Filter, hasArray func(string) bool) (string, []any, error) {
	if err := store.ValidateFilter(f); err != nil {
		return "", nil, err
	}
	c := &compiler{hasArray: hasArray}
	sql, err := c.filter(f)
	return sql, c.args, err
}

func (c *compiler) filter(f store.Filter) (string, error) {
	switch x := f.(type) {
	case nil:
		return "1", nil
	case store.Compare:
		if x.Op == store.OpNe {
			s, err := c.filter(store.Compare{Path: x.Path, Op: store.OpEq, Value: x.Value})
			return negate(s), err
		}
		return c.matchAny(x.Path, func(v, t string) string { return c.compare(v, t, x.Op, x.Value) }), nil
	case store.In:
		if len(x.Values) == 0 {
			if x.Not {
				return "1", nil
			}
			return "0", nil
		}
		s := c.matchAny(x.Path, func(v, t string) string {
			parts := make([]string, len(x.Values))
			for i, val := range x.Values {
				parts[i] = c.compare(v, t, store.OpEq, val)
			}
			return "(" + strings.Join(parts, " OR ") + ")"
		})
		if x.Not {
			return negate(s), nil
		}
		return s, nil
	case store.Exists:
		v, t := columnExprs(x.Path)
		_ = v
		if x.Exists {
			return "(" + t + " IS NOT NULL)", nil
		}
		return "(" + t + " IS NULL)", nil
	case store.Regex:
		pat := x.Pattern
		if x.CaseInsensitive {
			pat = "(?i)" + pat
		}
		return c.matchAny(x.Path, func(v, t string) string {
			return fmt.Sprintf("(%s = 'text' AND sb_regexp(%s, %s))", t, c.bind(pat), v)
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

// negate is SQL NOT with NULL (a missing field compared) read as false,
// so that the negation matches documents lacking the field, as MongoDB's
// does.
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

// matchAny applies cond to the value at path and, when that value is an
// array, to each of its elements (MongoDB's rule for the end of a path).
// cond receives SQL expressions for the value and for its JSON type.
func (c *compiler) matchAny(path string, cond func(v, t string) string) string {
	v, t := columnExprs(path)
	direct := cond(v, t)
	if isColumn(path) || (c.hasArray != nil && !c.hasArray(path)) {
		return "(" + direct + ")"
	}
	p := jsonPath(path)
	elem := cond("e.value", "e.type")
	return fmt.Sprintf("(%s OR (%s = 'array' AND EXISTS (SELECT 1 FROM json_each(doc, %s) AS e WHERE %s)))", direct, t, p, elem)
}

// compare is one comparison of a value (v, with JSON type t) with a scalar.
func (c *compiler) compare(v, t string, op store.Op, val any) string {
	sqlOp := map[store.Op]string{store.OpEq: "=", store.OpGt: ">", store.OpGte: ">=", store.OpLt: "<", store.OpLte: "<="}[op]
	switch x := val.(type) {
	case nil:
		// Only $eq reaches here with null ($ne is its negation).
		return fmt.Sprintf("(%s IS NULL OR %s = 'null')", t, t)
	case bool:
		if x {
			return fmt.Sprintf("(%s = 'true')", t)
		}
		return fmt.Sprintf("(%s = 'false')", t)
	case string:
		return fmt.Sprintf("(%s = 'text' AND %s %s %s)", t, v, sqlOp, c.bind(x))
	default: // int64, float64
		return fmt.Sprintf("(%s IN ('integer', 'real') AND %s %s %s)", t, v, sqlOp, c.bind(x))
	}
}

func (c *compiler) bind(v any) string {
	c.args = append(c.args, v)
	return "?"
}

// isColumn reports whether a path is kept in a column of its own.
func isColumn(path string) bool { return path == store.FieldID || path == store.FieldSeq }

// columnExprs returns the SQL expressions of the value at path and of its
// JSON type ('integer', 'real', 'text', 'true', 'false', 'null', 'object',
// 'array', or NULL when missing).
func columnExprs(path string) (v, t string) {
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

// orderBy renders the sort keys, then id.
func orderBy(keys []store.SortKey) string {
	parts := make([]string, 0, len(keys)+1)
	for _, k := range keys {
		v, _ := columnExprs(k.Path)
		if k.Desc {
			v += " DESC"
		}
		parts = append(parts, v)
	}
	return strings.Join(append(parts, "id"), ", ")
}
