package orchestration

import (
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
	"gopkg.in/yaml.v3"
)

// scope is what the expressions at one place of a document may name.
type scope struct {
	// names are the environment's top-level names.
	names map[string]any
	// connector: a Connector document (names env, secret, args).
	connector bool
	// steps and vars are the step ids and variables set before this
	// place (flows); inputs the flow's declared inputs.
	steps, vars, inputs map[string]bool
}

// Top-level names of a flow expression's environment.
const (
	nameInput = "input"
	nameSteps = "steps"
	nameMeta  = "meta"
	nameVars  = "vars"
	nameUser  = "user"
	nameEnv   = "env"
	nameError = "error"
	nameIndex = "index"
	nameArgs  = "args"
	nameSec   = "secret"
)

func flowScope(inputs map[string]bool) *scope {
	return &scope{
		names: map[string]any{
			nameInput: map[string]any{}, nameSteps: map[string]any{}, nameMeta: map[string]any{},
			nameVars: map[string]any{}, nameUser: map[string]any{}, nameEnv: map[string]any{},
			nameError: map[string]any{},
		},
		steps: map[string]bool{}, vars: map[string]bool{}, inputs: inputs,
	}
}

func connectorScope() *scope {
	return &scope{
		names:     map[string]any{nameEnv: map[string]any{}, nameSec: map[string]any{}, nameArgs: map[string]any{}},
		connector: true,
	}
}

// clone returns a copy of s whose later additions do not show in s.
func (s *scope) clone() *scope {
	c := *s
	c.names = cloneSet(s.names)
	c.steps = cloneSet(s.steps)
	c.vars = cloneSet(s.vars)
	return &c
}

// with returns a copy of s that also names name (a foreach item).
func (s *scope) with(names ...string) *scope {
	c := s.clone()
	for _, n := range names {
		c.names[n] = nil
	}
	return c
}

// merge adds the steps and variables of branch to s.
func (s *scope) merge(branch *scope) {
	for k := range branch.steps {
		s.steps[k] = true
	}
	for k := range branch.vars {
		s.vars[k] = true
	}
}

func cloneSet[V any](m map[string]V) map[string]V {
	if m == nil {
		return nil
	}
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// compiler compiles one file's values and expressions.
type compiler struct {
	reader
	// envRefs and secretRefs collect `env.X` and `secret.X` names.
	envRefs, secretRefs map[string]bool
	// argsUses and metaUses count expressions that use `args`, `meta`.
	argsUses, metaUses, userUses int
}

// value compiles n as a template value: mappings and lists recursively,
// strings with `${...}` as expressions, other scalars as constants.
func (c *compiler) value(n *yaml.Node, field string, sc *scope) value {
	if n = c.resolve(n, field); n == nil {
		return constValue{}
	}
	switch n.Kind {
	case yaml.MappingNode:
		f, _ := c.mapping(n, field)
		m := mapValue{keys: f.order, vals: make([]value, len(f.order))}
		allConst := true
		for i, k := range f.order {
			m.vals[i] = c.value(f.vals[k], join(field, k), sc)
			allConst = allConst && isConst(m.vals[i])
		}
		if allConst {
			return constValue{constOf(m)}
		}
		return m
	case yaml.SequenceNode:
		l := listValue{vals: make([]value, len(n.Content))}
		allConst := true
		for i, e := range n.Content {
			l.vals[i] = c.value(e, index(field, i), sc)
			allConst = allConst && isConst(l.vals[i])
		}
		if allConst {
			return constValue{constOf(l)}
		}
		return l
	case yaml.ScalarNode:
		if n.Tag == "!!str" {
			return c.text(n.Value, n, field, sc)
		}
		v, _ := c.scalar(n, field)
		return constValue{v}
	}
	c.fail(n, field, "unsupported YAML node")
	return constValue{}
}

// constOf evaluates a template known to be constant.
func constOf(v value) any {
	out, _ := v.eval(nil)
	return out
}

// text compiles a string value.
func (c *compiler) text(s string, n *yaml.Node, field string, sc *scope) value {
	if !strings.Contains(s, "${") {
		return constValue{s}
	}
	segs, err := splitTemplate(s)
	if err != nil {
		var te *templateError
		off := 0
		if errors.As(err, &te) {
			off = te.off
		}
		line, col := position(n, s, off, 0, 0)
		c.errs.add(FileError{File: c.file, Line: line, Column: col, Field: field, Message: err.Error()})
		return constValue{s}
	}
	if len(segs) == 1 && !segs[0].isExpr {
		return constValue{segs[0].text}
	}
	if len(segs) == 1 {
		p := c.expression(segs[0].text, segs[0].off, s, n, field, sc)
		if p == nil {
			return constValue{}
		}
		if path := memberPath(segs[0].text); path != nil {
			return pathValue{path: path, p: p}
		}
		return exprValue{p}
	}
	t := interpValue{}
	lit := ""
	for _, sg := range segs {
		if !sg.isExpr {
			lit += sg.text
			continue
		}
		p := c.expression(sg.text, sg.off, s, n, field, sc)
		if p == nil {
			return constValue{}
		}
		t.lits = append(t.lits, lit)
		t.progs = append(t.progs, p)
		lit = ""
	}
	t.lits = append(t.lits, lit)
	return t
}

// position returns the line and column in the file of byte off of s (the
// value of scalar n), plus (eLine, eCol) within an expression when known.
// Multi-line and block scalars point at the value's start.
func position(n *yaml.Node, s string, off, eLine, eCol int) (int, int) {
	if off > len(s) {
		off = len(s)
	}
	if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 || strings.Contains(s[:off], "\n") || eLine > 1 {
		return n.Line, n.Column
	}
	col := n.Column + utf8.RuneCountInString(s[:off]) + eCol
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		col++
	}
	return n.Line, col
}

// expression compiles one expression src found at byte off of s.
func (c *compiler) expression(src string, off int, s string, n *yaml.Node, field string, sc *scope) *vm.Program {
	opts := make([]expr.Option, 0, len(exprFunctionOptions)+1)
	opts = append(opts, expr.Env(sc.names))
	opts = append(opts, exprFunctionOptions...)
	p, err := compileSafely(src, opts)
	if err != nil {
		line, col := position(n, s, off, 0, 0)
		msg := err.Error()
		var fe *file.Error
		if errors.As(err, &fe) {
			line, col = position(n, s, off, fe.Line, fe.Column)
			msg = fe.Message
		}
		if !sc.connector && strings.Contains(msg, "unknown name "+nameSec) {
			msg = "secrets are not visible to flows; use ${secret.X} in a Connector's config"
		}
		c.errs.add(FileError{File: c.file, Line: line, Column: col, Field: field, Message: "expression: " + msg})
		return nil
	}
	v := &refVisitor{c: c, sc: sc}
	node := p.Node()
	ast.Walk(&node, v)
	for _, m := range v.problems {
		line, col := position(n, s, off, 0, 0)
		c.errs.add(FileError{File: c.file, Line: line, Column: col, Field: field, Message: m})
	}
	if len(v.problems) > 0 {
		return nil
	}
	if v.args {
		c.argsUses++
	}
	return p
}

// compileSafely compiles src, turning a compiler panic into an error.
func compileSafely(src string, opts []expr.Option) (p *vm.Program, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, errors.New("expression cannot be compiled")
		}
	}()
	return expr.Compile(src, opts...)
}

// refVisitor checks and records the names an expression uses.
type refVisitor struct {
	c        *compiler
	sc       *scope
	args     bool
	problems []string
}

func (v *refVisitor) Visit(node *ast.Node) {
	switch x := (*node).(type) {
	case *ast.IdentifierNode:
		if x.Value == nameArgs && v.sc.connector {
			v.args = true
		}
		switch x.Value {
		case nameMeta:
			v.c.metaUses++
		case nameUser:
			v.c.userUses++
		}
	case *ast.MemberNode:
		id, ok := x.Node.(*ast.IdentifierNode)
		if !ok {
			return
		}
		prop, ok := x.Property.(*ast.StringNode)
		if !ok {
			return
		}
		switch id.Value {
		case nameEnv:
			v.c.envRefs[prop.Value] = true
		case nameSec:
			if v.sc.connector {
				v.c.secretRefs[prop.Value] = true
			}
		case nameSteps, nameMeta:
			if !v.sc.connector && !v.sc.steps[prop.Value] {
				v.problems = append(v.problems, "unknown step "+quote(prop.Value)+" in "+id.Value+"."+prop.Value+" (no earlier step has that id)")
			}
		case nameVars:
			if !v.sc.connector && !v.sc.vars[prop.Value] {
				v.problems = append(v.problems, "unknown variable "+quote(prop.Value)+" (no earlier set step defines it)")
			}
		case nameInput:
			if !v.sc.connector && v.sc.inputs != nil && !v.sc.inputs[prop.Value] {
				v.problems = append(v.problems, "unknown input "+quote(prop.Value)+" (not declared under input)")
			}
		}
	}
}

func quote(s string) string { return `"` + s + `"` }
