package orchestration

import (
	"encoding/json"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Input types.
const (
	TypeString  = "string"
	TypeNumber  = "number"
	TypeInteger = "integer"
	TypeBoolean = "boolean"
	TypeObject  = "object"
	TypeArray   = "array"
)

var inputTypes = []string{TypeString, TypeNumber, TypeInteger, TypeBoolean, TypeObject, TypeArray}

// Param describes one declared flow input, for API documentation.
type Param struct {
	Name        string
	Type        string
	Description string
	Required    bool
	// Default is the value used when the input is absent (nil: none).
	Default any
	// Enum lists the allowed values (nil: any).
	Enum []any
	// Pattern is the regular expression a string must match ("": any).
	Pattern string
	// Min and Max bound a number, or a string's or list's length.
	Min, Max *float64
}

// param is a compiled input declaration.
type param struct {
	Param
	re *regexp.Regexp
}

var paramFields = []string{"type", "description", "required", "default", "enum", "pattern", "min", "max"}

// readParams reads the `input` mapping: name → {type, ...} or name → type.
func readParams(c *compiler, n *yaml.Node) []*param {
	f, ok := c.mapping(n, "input")
	if !ok {
		return nil
	}
	var out []*param
	for _, name := range f.order {
		field := join("input", name)
		if !validName(name) {
			c.fail(f.keys[name], field, "%q is not a valid input name", name)
			continue
		}
		p := &param{Param: Param{Name: name}}
		v := f.get(name)
		if v.Kind == yaml.ScalarNode {
			if t, ok := c.oneOf(v, field, inputTypes...); ok {
				p.Type = t
				out = append(out, p)
			}
			continue
		}
		pf, ok := c.mapping(v, field, paramFields...)
		if !ok {
			continue
		}
		if !pf.has("type") {
			c.fail(v, join(field, "type"), "missing required field type (%s)", strings.Join(inputTypes, ", "))
			continue
		}
		t, ok := c.oneOf(pf.get("type"), join(field, "type"), inputTypes...)
		if !ok {
			continue
		}
		p.Type = t
		if dn := pf.get("description"); dn != nil {
			p.Description, _ = c.str(dn, join(field, "description"))
		}
		if rn := pf.get("required"); rn != nil {
			p.Required, _ = c.boolean(rn, join(field, "required"))
		}
		if pn := pf.get("pattern"); pn != nil {
			if s, ok := c.str(pn, join(field, "pattern")); ok {
				re, err := regexp.Compile(s)
				if err != nil {
					c.fail(pn, join(field, "pattern"), "bad regular expression: %v", err)
				}
				p.Pattern, p.re = s, re
			}
		}
		for _, b := range []struct {
			key string
			dst **float64
		}{{"min", &p.Min}, {"max", &p.Max}} {
			if bn := pf.get(b.key); bn != nil {
				v, ok := c.constant(bn, join(field, b.key))
				if fv, isNum := toFloat(v); ok && isNum {
					*b.dst = &fv
				} else if ok {
					c.fail(bn, join(field, b.key), "must be a number")
				}
			}
		}
		if en := pf.get("enum"); en != nil {
			if items, ok := c.seq(en, join(field, "enum")); ok {
				for i, item := range items {
					v, ok := c.constant(item, index(join(field, "enum"), i))
					if !ok {
						continue
					}
					cv, err := p.coerce(v)
					if err != nil {
						c.fail(item, index(join(field, "enum"), i), "enum value is not a %s", p.Type)
						continue
					}
					p.Enum = append(p.Enum, cv)
				}
			}
		}
		if dn := pf.get("default"); dn != nil {
			if v, ok := c.constant(dn, join(field, "default")); ok {
				cv, err := p.check(v)
				if err != nil {
					c.fail(dn, join(field, "default"), "default %s", err.Message)
				} else {
					p.Default = cv
				}
			}
		}
		out = append(out, p)
	}
	return out
}

// coerceInput checks in against params and returns the flow's input:
// declared names only, defaults applied, query strings converted.
func coerceInput(params []*param, in map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(params))
	for _, p := range params {
		v, present := in[p.Name]
		if !present || v == nil {
			switch {
			case p.Default != nil:
				out[p.Name] = p.Default
			case p.Required:
				return nil, &InputError{Field: p.Name, Message: "is required"}
			default:
				out[p.Name] = nil
			}
			continue
		}
		cv, err := p.check(v)
		if err != nil {
			return nil, err
		}
		out[p.Name] = cv
	}
	return out, nil
}

// check coerces v and checks enum, pattern and bounds.
func (p *param) check(v any) (any, *InputError) {
	cv, err := p.coerce(v)
	if err != nil {
		return nil, err
	}
	if len(p.Enum) > 0 {
		found := false
		for _, e := range p.Enum {
			if reflect.DeepEqual(e, cv) {
				found = true
				break
			}
		}
		if !found {
			return nil, &InputError{Field: p.Name, Message: "must be one of the allowed values"}
		}
	}
	if p.re != nil {
		if s, ok := cv.(string); ok && !p.re.MatchString(s) {
			return nil, &InputError{Field: p.Name, Message: "does not match pattern " + p.Pattern}
		}
	}
	if p.Min != nil || p.Max != nil {
		var size float64
		switch x := cv.(type) {
		case float64:
			size = x
		case int:
			size = float64(x)
		case string:
			size = float64(len([]rune(x)))
		case []any:
			size = float64(len(x))
		}
		if p.Min != nil && size < *p.Min {
			return nil, &InputError{Field: p.Name, Message: "must be at least " + strconv.FormatFloat(*p.Min, 'f', -1, 64)}
		}
		if p.Max != nil && size > *p.Max {
			return nil, &InputError{Field: p.Name, Message: "must be at most " + strconv.FormatFloat(*p.Max, 'f', -1, 64)}
		}
	}
	return cv, nil
}

// coerce converts v to p's type. Query values arrive as string or
// []string; a list of one value counts as that value.
func (p *param) coerce(v any) (any, *InputError) {
	if ss, ok := v.([]string); ok && p.Type != TypeArray {
		if len(ss) != 1 {
			return nil, &InputError{Field: p.Name, Message: "must be given once"}
		}
		v = ss[0]
	}
	switch p.Type {
	case TypeString:
		if _, ok := v.(string); ok {
			return v, nil // as it came: re-boxing the string would allocate
		}
	case TypeNumber, TypeInteger:
		f, ok := toFloat(v)
		if s, isStr := v.(string); isStr {
			pf, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			f, ok = pf, err == nil
		}
		if !ok || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, p.typeError()
		}
		if p.Type == TypeInteger {
			if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
				return nil, p.typeError()
			}
			return int(f), nil
		}
		return f, nil
	case TypeBoolean:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			if b, err := strconv.ParseBool(strings.TrimSpace(x)); err == nil {
				return b, nil
			}
		}
	case TypeObject:
		switch x := v.(type) {
		case map[string]any:
			return x, nil
		case string:
			var m map[string]any
			if json.Unmarshal([]byte(x), &m) == nil && m != nil {
				return m, nil
			}
		}
	case TypeArray:
		switch x := v.(type) {
		case []any:
			return x, nil
		case []string:
			out := make([]any, len(x))
			for i, s := range x {
				out[i] = s
			}
			return out, nil
		case string:
			if strings.HasPrefix(strings.TrimSpace(x), "[") {
				var l []any
				if json.Unmarshal([]byte(x), &l) == nil {
					return l, nil
				}
				return nil, p.typeError()
			}
			return []any{x}, nil
		}
	}
	return nil, p.typeError()
}

// typeError is the error of a value that is not of p's type. It is built
// only on failure: coerce runs on every input of every flow call.
func (p *param) typeError() *InputError {
	return &InputError{Field: p.Name, Message: "must be " + article(p.Type)}
}

// toFloat returns numbers as float64.
func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

func article(t string) string {
	switch t {
	case TypeInteger, TypeObject, TypeArray:
		return "an " + t
	}
	return "a " + t
}
