package soap

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/skybridgehq/skybridge/connectors/internal/confmap"
)

// Value types of a result field (`type:`).
const (
	TypeString  = "string"
	TypeNumber  = "number"
	TypeInteger = "integer"
	TypeBoolean = "boolean"
	TypeObject  = "object"
)

// maxExactInteger is the largest integer a float64 (a JSON number as
// encoding/json decodes it) holds exactly.
const maxExactInteger = 1 << 53

// ErrMapping is the cause of a KindBadResponse whose answer value does
// not fit its declared type.
var ErrMapping = errors.New("soap: result mapping")

// step is one step of an element path: a child element, or the final
// attribute.
type step struct {
	space string // namespace URI; "" with anyNS
	local string // "" for "*"
	anyNS bool   // no prefix: any namespace
	attr  bool
}

// field is one entry of a result mapping.
type field struct {
	name   string // the JSON key
	path   []step // relative to the context element; empty for "."
	typ    string
	list   bool
	fields []*field // nested object mapping, relative to each element found
}

// readResult reads a `result` mapping: JSON field → path, or → {path,
// type, list, fields}.
func readResult(m confmap.Map, namespaces map[string]string) []*field {
	r := m.Reader()
	var out []*field
	for _, key := range m.Keys() {
		v, _ := m.Raw(key)
		f := &field{name: key, typ: TypeString}
		var pathText string
		var ok bool
		if _, isMap := v.(map[string]any); isMap {
			sub := m.Sub(key)
			pathText, ok = sub.Required("path")
			if t, has := sub.String("type"); has {
				switch t {
				case TypeString, TypeNumber, TypeInteger, TypeBoolean, TypeObject:
					f.typ = t
				default:
					r.Errorf(sub.Field("type"), "must be string, number, integer, boolean or object")
				}
			}
			f.list, _ = sub.Bool("list")
			if sub.Has("fields") {
				f.fields = readResult(sub.Sub("fields"), namespaces)
				if len(f.fields) == 0 {
					r.Errorf(sub.Field("fields"), "must map at least one field")
				}
				if _, has := sub.Raw("type"); has {
					r.Errorf(sub.Field("type"), "a mapping with fields is an object; leave type out")
				}
			}
			sub.Done()
		} else {
			pathText, ok = m.String(key)
		}
		if !ok {
			continue
		}
		path, err := compilePath(pathText, namespaces)
		if err != nil {
			r.Errorf(m.Field(key), "%v", err)
			continue
		}
		if n := len(path); n > 0 && path[n-1].attr && (f.fields != nil || f.typ == TypeObject) {
			r.Errorf(m.Field(key), "an attribute has no fields; it is a string, number, integer or boolean")
		}
		f.path = path
		out = append(out, f)
	}
	return out
}

// compilePath compiles an element path such as
// "c:GetCustomerResponse/c:customer/@id": steps separated by "/", each
// prefix:name (the prefix from namespaces), name (any namespace) or "*"
// (any element), the last one optionally "@attribute". "." is the context
// element itself.
func compilePath(s string, namespaces map[string]string) ([]step, error) {
	if s == "." {
		return nil, nil
	}
	if s == "" {
		return nil, fmt.Errorf("empty path")
	}
	parts := strings.Split(s, "/")
	out := make([]step, 0, len(parts))
	for i, p := range parts {
		st := step{}
		if strings.HasPrefix(p, "@") {
			if i != len(parts)-1 {
				return nil, fmt.Errorf("path %q: an @attribute can only be the last step", s)
			}
			st.attr = true
			p = p[1:]
		}
		if p == "*" && !st.attr {
			st.anyNS = true
			out = append(out, st)
			continue
		}
		prefix, local, qualified := strings.Cut(p, ":")
		if !qualified {
			prefix, local = "", p
		}
		if !isNCName(local) || qualified && !isNCName(prefix) {
			return nil, fmt.Errorf("path %q: step %q is not a name, prefix:name, * or a final @attribute", s, parts[i])
		}
		st.local = local
		if !qualified {
			st.anyNS = true
		} else if uri, ok := namespaces[prefix]; ok {
			st.space = uri
		} else {
			return nil, fmt.Errorf("path %q: prefix %q is not declared in config.namespaces", s, prefix)
		}
		out = append(out, st)
	}
	return out, nil
}

// isNCName: an XML name without colons (letters, digits, '_', '-', '.';
// not starting with a digit, '-' or '.').
func isNCName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_' || unicode.IsLetter(r):
		case i > 0 && (r == '-' || r == '.' || unicode.IsDigit(r)):
		default:
			return false
		}
	}
	return true
}

func (st step) matches(space, local string) bool {
	return (st.local == "" || st.local == local) && (st.anyNS || st.space == space)
}

// selectElements returns the elements path leads to from ctx, in document
// order, and for a final @attribute step the attribute values instead.
func selectElements(ctx *element, path []step) ([]*element, []string) {
	cur := []*element{ctx}
	for i, st := range path {
		if st.attr {
			var values []string
			for _, e := range cur {
				for _, a := range e.attrs {
					if st.matches(a.Name.Space, a.Name.Local) {
						values = append(values, a.Value)
						break
					}
				}
			}
			return nil, values
		}
		var next []*element
		for _, e := range cur {
			for _, c := range e.children {
				if st.matches(c.name.Space, c.name.Local) {
					next = append(next, c)
				}
			}
		}
		cur = next
		if len(cur) == 0 && i < len(path)-1 {
			return nil, nil
		}
	}
	return cur, nil
}

// applyMapping builds the JSON object fields describe from ctx. A field
// whose path finds nothing is null (an empty list when list is true); a
// field that is not a list takes the first element found.
func applyMapping(ctx *element, fields []*field) (map[string]any, error) {
	out := make(map[string]any, len(fields))
	for _, f := range fields {
		elems, attrs := selectElements(ctx, f.path)
		var values []any
		if n := len(f.path); n > 0 && f.path[n-1].attr {
			for _, a := range attrs {
				v, err := convert(a, f.typ)
				if err != nil {
					return nil, fieldError(f, err)
				}
				values = append(values, v)
				if !f.list {
					break
				}
			}
		} else {
			for _, e := range elems {
				v, err := f.value(e)
				if err != nil {
					return nil, err
				}
				values = append(values, v)
				if !f.list {
					break
				}
			}
		}
		switch {
		case f.list && values == nil:
			out[f.name] = []any{}
		case f.list:
			out[f.name] = values
		case len(values) == 0:
			out[f.name] = nil
		default:
			out[f.name] = values[0]
		}
	}
	return out, nil
}

// value converts one element found for f.
func (f *field) value(e *element) (any, error) {
	if e.isNil {
		return nil, nil
	}
	if f.fields != nil {
		return applyMapping(e, f.fields)
	}
	if f.typ == TypeObject {
		return e.generic(), nil
	}
	v, err := convert(e.text, f.typ)
	if err != nil {
		return nil, fieldError(f, err)
	}
	return v, nil
}

func fieldError(f *field, err error) error {
	return fmt.Errorf("result.%s: %w", f.name, err)
}

// convert reads text as typ. Numbers, integers and booleans ignore
// surrounding blanks; booleans are xsd:boolean (true, false, 1, 0).
func convert(text, typ string) (any, error) {
	if typ == TypeString {
		return text, nil
	}
	t := strings.TrimSpace(text)
	switch typ {
	case TypeNumber:
		n, err := strconv.ParseFloat(t, 64)
		if err != nil || math.IsInf(n, 0) || math.IsNaN(n) {
			return nil, fmt.Errorf("%s is not a finite number", describe(t))
		}
		return n, nil
	case TypeInteger:
		n, err := strconv.ParseInt(t, 10, 64)
		if err != nil || n > maxExactInteger || n < -maxExactInteger {
			return nil, fmt.Errorf("%s is not an integer within ±2^53 (declare type string for larger ones)", describe(t))
		}
		return float64(n), nil
	case TypeBoolean:
		switch t {
		case "true", "1":
			return true, nil
		case "false", "0":
			return false, nil
		}
		return nil, fmt.Errorf("%s is not a boolean (true, false, 1 or 0)", describe(t))
	}
	return nil, fmt.Errorf("unknown type %q", typ)
}

// describe quotes a short value and only sizes a long one, so messages stay
// short whatever the system answers.
func describe(s string) string {
	if utf8.RuneCountInString(s) <= 32 {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("a %d-byte text", len(s))
}
