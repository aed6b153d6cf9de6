package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Filter is a validated query: the MongoDB query subset of DESIGN.md §4 as
// a typed tree. Adapters compile it (SQL over json_extract, or BSON); no
// client text reaches a store without passing through ParseFilter or being
// built from these types and checked with ValidateFilter.
//
// Semantics, the same on every adapter:
//   - Paths are dotted ("a.b.c") and walk nested objects. When the value at
//     the end of a path is an array, a comparison matches when the array
//     itself or any of its elements matches (MongoDB's rule). Arrays are not
//     walked in the middle of a path.
//   - $eq null matches a missing field or a JSON null; $ne is the negation
//     of $eq, so it matches documents lacking the field.
//   - $gt, $gte, $lt, $lte compare numbers with numbers and strings with
//     strings (bytewise); a value of another type never matches.
//   - $in and $nin take scalars; $nin is the negation of $in.
//   - $regex takes an RE2 pattern of at most MaxRegexLen bytes, optionally
//     case-insensitive, and matches string values only.
type Filter interface{ isFilter() }

// Op is a comparison operator.
type Op string

// Comparison operators.
const (
	OpEq  Op = "$eq"
	OpNe  Op = "$ne"
	OpGt  Op = "$gt"
	OpGte Op = "$gte"
	OpLt  Op = "$lt"
	OpLte Op = "$lte"
)

// Compare compares the value at Path with Value, a scalar (nil, bool,
// string, int64 or float64; ordering operators take numbers and strings).
type Compare struct {
	Path  string
	Op    Op
	Value any
}

// In matches when the value at Path equals one of Values ($in); with Not it
// matches when it equals none of them ($nin).
type In struct {
	Path   string
	Values []any
	Not    bool
}

// Exists matches documents that have (or, with Exists false, lack) Path.
type Exists struct {
	Path   string
	Exists bool
}

// Regex matches string values at Path against an RE2 Pattern.
type Regex struct {
	Path            string
	Pattern         string
	CaseInsensitive bool
}

// And matches when every filter matches; an empty And matches everything.
type And struct{ Filters []Filter }

// Or matches when any filter matches; an empty Or matches nothing.
type Or struct{ Filters []Filter }

// Not matches when Filter does not.
type Not struct{ Filter Filter }

func (Compare) isFilter() {}
func (In) isFilter()      {}
func (Exists) isFilter()  {}
func (Regex) isFilter()   {}
func (And) isFilter()     {}
func (Or) isFilter()      {}
func (Not) isFilter()     {}

// Bounds on filters, so that a query's cost stays bounded.
const (
	MaxFilterDepth = 12    // nesting of $and/$or/$not
	MaxFilterNodes = 200   // conditions in one filter
	MaxInValues    = 500   // values in one $in/$nin
	MaxRegexLen    = 256   // bytes in one pattern
	MaxPathDepth   = 16    // segments in a dotted path
	MaxFilterBytes = 16384 // bytes of filter JSON
)

// FilterError is a filter the store refuses. It wraps ErrInvalid.
type FilterError struct {
	// Field is the path or operator at fault (e.g. "$where", "a.$b").
	Field string
	// Reason says what is wrong.
	Reason string
}

func (e *FilterError) Error() string {
	return fmt.Sprintf("invalid filter at %q: %s", e.Field, e.Reason)
}

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *FilterError) Unwrap() error { return ErrInvalid }

func ferr(field, format string, args ...any) error {
	return &FilterError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// ValidPath checks a dotted path: 1 to MaxPathDepth segments, each 1 to 128
// bytes, without '$' at its start, '"', '\\', control characters, or an
// all-digit segment (array indexes are not supported).
func ValidPath(p string) error {
	if p == "" {
		return ferr(p, "empty path")
	}
	segs := strings.Split(p, ".")
	if len(segs) > MaxPathDepth {
		return ferr(p, "path deeper than %d", MaxPathDepth)
	}
	for _, s := range segs {
		if s == "" || len(s) > 128 {
			return ferr(p, "empty or over-long path segment")
		}
		if s[0] == '$' {
			return ferr(p, "path segment starts with '$'")
		}
		digits := true
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c < 0x20 || c == '"' || c == '\\' || c == 0x7f {
				return ferr(p, "path has a quote, backslash or control character")
			}
			if c < '0' || c > '9' {
				digits = false
			}
		}
		if digits {
			return ferr(p, "numeric path segment %q (array indexes are not supported)", s)
		}
	}
	return nil
}

// ParseFilter reads a filter from its JSON form, e.g.
// {"n": {"$gt": 1}, "$or": [{"tag": "a"}, {"tag": {"$exists": false}}]}.
// Empty input or {} yields nil (match all). Anything outside the allowed
// operators, or past the bounds, is a *FilterError naming the operator or
// field.
func ParseFilter(data []byte) (Filter, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, nil
	}
	if len(data) > MaxFilterBytes {
		return nil, ferr("filter", "longer than %d bytes", MaxFilterBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return nil, ferr("filter", "not valid JSON: %v", err)
	}
	if dec.More() {
		return nil, ferr("filter", "trailing data after the JSON object")
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return nil, ferr("filter", "must be a JSON object")
	}
	p := parser{}
	f, err := p.object(obj, 0)
	if err != nil {
		return nil, err
	}
	if and, ok := f.(And); ok && len(and.Filters) == 0 {
		return nil, nil
	}
	return f, nil
}

type parser struct{ nodes int }

func (p *parser) count(field string) error {
	p.nodes++
	if p.nodes > MaxFilterNodes {
		return ferr(field, "more than %d conditions", MaxFilterNodes)
	}
	return nil
}

// object parses a query object: field conditions and $and/$or at top level.
func (p *parser) object(obj map[string]any, depth int) (Filter, error) {
	if depth > MaxFilterDepth {
		return nil, ferr("filter", "nested deeper than %d", MaxFilterDepth)
	}
	var out []Filter
	for _, k := range sortedKeys(obj) {
		v := obj[k]
		switch {
		case k == "$and" || k == "$or":
			arr, ok := v.([]any)
			if !ok || len(arr) == 0 {
				return nil, ferr(k, "needs a non-empty array of filters")
			}
			var subs []Filter
			for _, e := range arr {
				m, ok := e.(map[string]any)
				if !ok {
					return nil, ferr(k, "elements must be objects")
				}
				f, err := p.object(m, depth+1)
				if err != nil {
					return nil, err
				}
				subs = append(subs, f)
			}
			if k == "$and" {
				out = append(out, And{Filters: subs})
			} else {
				out = append(out, Or{Filters: subs})
			}
		case strings.HasPrefix(k, "$"):
			return nil, ferr(k, "unknown or unsupported operator")
		default:
			if err := ValidPath(k); err != nil {
				return nil, err
			}
			f, err := p.field(k, v, depth)
			if err != nil {
				return nil, err
			}
			out = append(out, f)
		}
	}
	if len(out) == 1 {
		return out[0], nil
	}
	return And{Filters: out}, nil
}

// field parses the condition on one path: a scalar (equality) or an object
// of operators.
func (p *parser) field(path string, v any, depth int) (Filter, error) {
	m, ok := v.(map[string]any)
	if !ok {
		if err := p.count(path); err != nil {
			return nil, err
		}
		val, err := scalar(path, v)
		if err != nil {
			return nil, err
		}
		return Compare{Path: path, Op: OpEq, Value: val}, nil
	}
	if len(m) == 0 {
		return nil, ferr(path, "empty condition object")
	}
	var out []Filter
	keys := sortedKeys(m)
	for _, op := range keys {
		if !strings.HasPrefix(op, "$") {
			return nil, ferr(path+"."+op, "object equality is not supported; use dotted paths")
		}
		if op == "$options" {
			if _, has := m["$regex"]; !has {
				return nil, ferr("$options", "only allowed beside $regex")
			}
			continue
		}
		if err := p.count(op); err != nil {
			return nil, err
		}
		arg := m[op]
		switch Op(op) {
		case OpEq, OpNe:
			val, err := scalar(op, arg)
			if err != nil {
				return nil, err
			}
			out = append(out, Compare{Path: path, Op: Op(op), Value: val})
		case OpGt, OpGte, OpLt, OpLte:
			val, err := scalar(op, arg)
			if err != nil {
				return nil, err
			}
			if !orderable(val) {
				return nil, ferr(op, "needs a number or a string")
			}
			out = append(out, Compare{Path: path, Op: Op(op), Value: val})
		default:
			switch op {
			case "$in", "$nin":
				arr, ok := arg.([]any)
				if !ok {
					return nil, ferr(op, "needs an array")
				}
				if len(arr) > MaxInValues {
					return nil, ferr(op, "more than %d values", MaxInValues)
				}
				vals := make([]any, 0, len(arr))
				for _, e := range arr {
					val, err := scalar(op, e)
					if err != nil {
						return nil, err
					}
					vals = append(vals, val)
				}
				out = append(out, In{Path: path, Values: vals, Not: op == "$nin"})
			case "$exists":
				b, ok := arg.(bool)
				if !ok {
					return nil, ferr(op, "needs true or false")
				}
				out = append(out, Exists{Path: path, Exists: b})
			case "$regex":
				pat, ok := arg.(string)
				if !ok {
					return nil, ferr(op, "needs a string pattern")
				}
				r := Regex{Path: path, Pattern: pat}
				if o, has := m["$options"]; has {
					s, ok := o.(string)
					if !ok || (s != "" && s != "i") {
						return nil, ferr("$options", "only \"i\" is supported")
					}
					r.CaseInsensitive = s == "i"
				}
				if err := checkRegex(r); err != nil {
					return nil, err
				}
				out = append(out, r)
			case "$not":
				sub, ok := arg.(map[string]any)
				if !ok {
					return nil, ferr(op, "needs an operator object")
				}
				if depth+1 > MaxFilterDepth {
					return nil, ferr(op, "nested deeper than %d", MaxFilterDepth)
				}
				f, err := p.field(path, sub, depth+1)
				if err != nil {
					return nil, err
				}
				out = append(out, Not{Filter: f})
			default:
				return nil, ferr(op, "unknown or unsupported operator")
			}
		}
	}
	if len(out) == 1 {
		return out[0], nil
	}
	return And{Filters: out}, nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// scalar converts a decoded JSON value into a filter scalar.
func scalar(field string, v any) (any, error) {
	switch x := v.(type) {
	case nil, bool, string:
		return x, nil
	case json.Number:
		return normalizeNumber(x)
	case int:
		return int64(x), nil
	case int64, float64:
		return Normalize(x), nil
	default:
		return nil, ferr(field, "needs a scalar (null, boolean, number or string)")
	}
}

func orderable(v any) bool {
	switch v.(type) {
	case string, int64, float64:
		return true
	}
	return false
}

func checkRegex(r Regex) error {
	if len(r.Pattern) > MaxRegexLen {
		return ferr("$regex", "pattern longer than %d bytes", MaxRegexLen)
	}
	if _, err := regexp.Compile(r.Pattern); err != nil {
		return ferr("$regex", "bad pattern: %v", err)
	}
	return nil
}

// ValidateFilter checks a filter built in code against the same rules and
// bounds ParseFilter applies. Adapters call it before compiling.
func ValidateFilter(f Filter) error {
	nodes := 0
	return validate(f, 0, &nodes)
}

func validate(f Filter, depth int, nodes *int) error {
	if depth > MaxFilterDepth {
		return ferr("filter", "nested deeper than %d", MaxFilterDepth)
	}
	*nodes++
	if *nodes > MaxFilterNodes*2 {
		return ferr("filter", "too many conditions")
	}
	switch x := f.(type) {
	case nil:
		return nil
	case Compare:
		if err := ValidPath(x.Path); err != nil {
			return err
		}
		switch x.Op {
		case OpEq, OpNe:
		case OpGt, OpGte, OpLt, OpLte:
			if !orderable(x.Value) {
				return ferr(string(x.Op), "needs a number or a string")
			}
		default:
			return ferr(string(x.Op), "unknown operator")
		}
		_, err := scalar(string(x.Op), x.Value)
		return err
	case In:
		if err := ValidPath(x.Path); err != nil {
			return err
		}
		if len(x.Values) > MaxInValues {
			return ferr("$in", "more than %d values", MaxInValues)
		}
		for _, v := range x.Values {
			if _, err := scalar("$in", v); err != nil {
				return err
			}
		}
		return nil
	case Exists:
		return ValidPath(x.Path)
	case Regex:
		if err := ValidPath(x.Path); err != nil {
			return err
		}
		return checkRegex(x)
	case And:
		for _, s := range x.Filters {
			if err := validate(s, depth+1, nodes); err != nil {
				return err
			}
		}
		return nil
	case Or:
		for _, s := range x.Filters {
			if err := validate(s, depth+1, nodes); err != nil {
				return err
			}
		}
		return nil
	case Not:
		if x.Filter == nil {
			return ferr("$not", "needs a filter")
		}
		return validate(x.Filter, depth+1, nodes)
	default:
		return ferr("filter", "unknown filter type %T", f)
	}
}

// ParseSort reads a sort specification such as "-n,title": comma-separated
// dotted paths, '-' for descending, at most maxKeys of them.
func ParseSort(spec string, maxKeys int) ([]SortKey, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, nil
	}
	parts := strings.Split(spec, ",")
	if len(parts) > maxKeys {
		return nil, ferr("sort", "more than %d sort fields", maxKeys)
	}
	keys := make([]SortKey, 0, len(parts))
	seen := map[string]bool{}
	for _, part := range parts {
		part = strings.TrimSpace(part)
		k := SortKey{Path: part}
		if strings.HasPrefix(part, "-") {
			k = SortKey{Path: part[1:], Desc: true}
		} else if strings.HasPrefix(part, "+") {
			k.Path = part[1:]
		}
		if err := validSortPath(k.Path); err != nil {
			return nil, err
		}
		if seen[k.Path] {
			return nil, ferr(k.Path, "sort field repeated")
		}
		seen[k.Path] = true
		keys = append(keys, k)
	}
	return keys, nil
}

// validSortPath accepts a dotted path or one of the sortable system fields.
func validSortPath(p string) error {
	switch p {
	case FieldID, FieldSeq, FieldVersion, FieldCreatedAt, FieldUpdatedAt, FieldOwner:
		return nil
	}
	return ValidPath(p)
}

// ValidateSort checks sort keys built in code.
func ValidateSort(keys []SortKey) error {
	for _, k := range keys {
		if err := validSortPath(k.Path); err != nil {
			return err
		}
	}
	return nil
}

// IsInvalid reports whether err is a refusal of the caller's input.
func IsInvalid(err error) bool { return errors.Is(err, ErrInvalid) }
