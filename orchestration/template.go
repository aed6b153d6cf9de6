package orchestration

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr/vm"
)

// value is a compiled YAML value: a constant, or computed from an
// expression environment on each evaluation. Mappings and sequences are
// templates recursively. The typing rule (DESIGN.md §7): a string that is
// exactly one `${...}` yields the expression's value with its type; a
// string with `${...}` among other text yields text.
type value interface {
	eval(env map[string]any) (any, error)
}

// constValue is a value without expressions. Its v is shared by every
// evaluation and must not be modified.
type constValue struct{ v any }

func (c constValue) eval(map[string]any) (any, error) { return c.v, nil }

// exprValue is a string that is exactly one expression.
type exprValue struct{ p *vm.Program }

func (e exprValue) eval(env map[string]any) (any, error) {
	v, err := runProgram(e.p, env)
	if err != nil {
		return nil, exprError(err)
	}
	return v, nil
}

// pathValue is an expression that only reads a path of map members,
// like input.id or steps.customer.erpId: most expressions of real flows.
// It walks the maps itself, without the expression machine; anything the
// walk cannot answer by a plain map lookup (a missing member, a value
// that is not a map[string]any) runs the compiled program, so the result
// is always the program's.
type pathValue struct {
	path []string // at least two names: the root and its members
	p    *vm.Program
}

func (e pathValue) eval(env map[string]any) (any, error) {
	var cur any = env
	for _, name := range e.path {
		m, ok := cur.(map[string]any)
		if !ok {
			return exprValue{e.p}.eval(env)
		}
		if cur, ok = m[name]; !ok {
			return exprValue{e.p}.eval(env)
		}
	}
	return cur, nil
}

// memberPath splits an expression that is only a member path ("a.b.c",
// names of letters, digits and '_', not starting with a digit, at least
// two of them) into its names, or returns nil.
func memberPath(src string) []string {
	src = strings.TrimSpace(src)
	names := strings.Split(src, ".")
	if len(names) < 2 {
		return nil
	}
	for _, n := range names {
		if n == "" || (n[0] >= '0' && n[0] <= '9') {
			return nil
		}
		for i := 0; i < len(n); i++ {
			c := n[i]
			if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
				return nil
			}
		}
	}
	return names
}

// interpValue is text with expressions interpolated.
type interpValue struct {
	lits  []string      // len(progs)+1 pieces of text around them
	progs []*vm.Program // the expressions
}

func (t interpValue) eval(env map[string]any) (any, error) {
	var b strings.Builder
	for i, p := range t.progs {
		b.WriteString(t.lits[i])
		v, err := runProgram(p, env)
		if err != nil {
			return nil, exprError(err)
		}
		appendText(&b, v)
	}
	b.WriteString(t.lits[len(t.progs)])
	return b.String(), nil
}

// mapValue is a mapping with at least one computed entry.
type mapValue struct {
	keys []string
	vals []value
}

func (m mapValue) eval(env map[string]any) (any, error) {
	out := make(map[string]any, len(m.keys))
	for i, k := range m.keys {
		v, err := m.vals[i].eval(env)
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

// listValue is a sequence with at least one computed element.
type listValue struct{ vals []value }

func (l listValue) eval(env map[string]any) (any, error) {
	out := make([]any, len(l.vals))
	for i, v := range l.vals {
		x, err := v.eval(env)
		if err != nil {
			return nil, err
		}
		out[i] = x
	}
	return out, nil
}

// isConst reports whether v never changes.
func isConst(v value) bool {
	_, ok := v.(constValue)
	return ok
}

// exprError keeps the first line of an expr runtime error: the rest is a
// snippet of the source with a caret.
func exprError(err error) error {
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return errors.New("expression: " + msg)
}

// appendText writes v as interpolated text: strings as they are, numbers
// in their shortest form, nil as nothing, times in RFC 3339, the rest as
// JSON.
func appendText(b *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
	case string:
		b.WriteString(x)
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case int:
		b.WriteString(strconv.Itoa(x))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		b.WriteString(strconv.FormatFloat(x, 'f', -1, 64))
	case time.Time:
		b.WriteString(x.Format(time.RFC3339Nano))
	case time.Duration:
		b.WriteString(x.String())
	default:
		raw, err := json.Marshal(x)
		if err != nil {
			b.WriteString("<unprintable>")
			return
		}
		b.Write(raw)
	}
}

// textOf returns v as interpolated text.
func textOf(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	var b strings.Builder
	appendText(&b, v)
	return b.String()
}

// segment is a piece of a template string: literal text, or an
// expression's source starting at byte offset off.
type segment struct {
	text   string
	isExpr bool
	off    int
}

// errTemplate is a malformed `${...}`.
type templateError struct {
	off int
	msg string
}

func (e *templateError) Error() string { return e.msg }

// splitTemplate cuts s into literal text and `${...}` expressions. `$${`
// is a literal `${`. Braces and quoted strings inside an expression are
// skipped, so `${ {a: 1}.a }` and `${ "}" }` are one expression each.
func splitTemplate(s string) ([]segment, error) {
	var (
		segs []segment
		lit  strings.Builder
	)
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "$${") {
			lit.WriteString("${")
			i += 3
			continue
		}
		if !strings.HasPrefix(s[i:], "${") {
			lit.WriteByte(s[i])
			i++
			continue
		}
		end, err := exprEnd(s, i+2)
		if err != nil {
			return nil, err
		}
		src := s[i+2 : end]
		if strings.TrimSpace(src) == "" {
			return nil, &templateError{off: i, msg: "empty expression ${}"}
		}
		if lit.Len() > 0 {
			segs = append(segs, segment{text: lit.String()})
			lit.Reset()
		}
		segs = append(segs, segment{text: src, isExpr: true, off: i + 2})
		i = end + 1
	}
	if lit.Len() > 0 || len(segs) == 0 {
		segs = append(segs, segment{text: lit.String()})
	}
	return segs, nil
}

// exprEnd returns the index of the '}' closing the expression that starts
// at s[start].
func exprEnd(s string, start int) (int, error) {
	depth := 1
	for j := start; j < len(s); j++ {
		switch c := s[j]; c {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return j, nil
			}
		case '"', '\'', '`':
			k := j + 1
			for ; k < len(s) && s[k] != c; k++ {
				if s[k] == '\\' && c != '`' {
					k++
				}
			}
			if k >= len(s) {
				return 0, &templateError{off: j, msg: "unterminated string in ${...}"}
			}
			j = k
		}
	}
	return 0, &templateError{off: start - 2, msg: "unterminated ${: missing }"}
}
