package orchestration

import (
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/skybridgehq/skybridge/connectors"
)

// connectorFields are the keys of a Connector document.
var connectorFields = []string{"apiVersion", "kind", "name", "description", "type", "config", "operations"}

// splitOperationFields are operation fields whose entries become Dynamic
// one by one ("headers.X-Id"); any other field that uses `args` is one
// Dynamic template as a whole ("body").
var splitOperationFields = []string{"headers", "query"}

// connectorDef is a compiled Connector document.
type connectorDef struct {
	name    string
	typName string
	typ     connectors.Type
	// config is the `config` template over env and secret; configRaw its
	// text as written (for validation without an environment).
	config    value
	configRaw map[string]any
	ops       map[string]*operationDef
}

// operationDef is a compiled operation.
type operationDef struct {
	static  value          // mapping of the fields without args
	raw     map[string]any // the same fields as written
	dynamic map[string]value
}

// compileConnector compiles a Connector document and validates it with
// its type.
func (e *Engine) compileConnector(d *rawDoc) *connectorDef {
	c := d.r
	sc := connectorScope()
	cd := &connectorDef{name: d.name, ops: map[string]*operationDef{}, config: constValue{map[string]any{}}, configRaw: map[string]any{}}
	if !d.f.has("type") {
		c.fail(d.root, "type", "missing required field type")
	} else if t, ok := c.str(d.f.get("type"), "type"); ok {
		cd.typName = t
		typ, known := e.cfg.Connectors[t]
		if !known {
			c.fail(d.f.get("type"), "type", "unknown connector type %q (known: %v)", t, sortedKeys(e.cfg.Connectors))
		}
		cd.typ = typ
	}
	if n := d.f.get("config"); n != nil {
		if _, ok := c.mapping(n, "config"); ok {
			before := c.argsUses
			cd.config = c.value(n, "config", sc)
			if c.argsUses != before {
				c.fail(n, "config", "config cannot use args (only operations are computed per call)")
			}
			raw, _ := c.constant(n, "config")
			cd.configRaw, _ = raw.(map[string]any)
		}
	}
	if !d.f.has("operations") {
		c.fail(d.root, "operations", "missing required field operations")
	} else if ops, ok := c.mapping(d.f.get("operations"), "operations"); ok {
		for _, name := range ops.order {
			field := join("operations", name)
			if !validName(name) {
				c.fail(ops.keys[name], field, "%q is not a valid operation name", name)
				continue
			}
			if od := compileOperation(c, ops.get(name), field, sc); od != nil {
				cd.ops[name] = od
			}
		}
	}
	if cd.typ.Validate != nil {
		for _, fe := range cd.typ.Validate(cd.validationSpec()) {
			n := nodeAt(d.root, fe.Field)
			c.fail(n, fe.Field, "%s", fe.Message)
		}
	}
	return cd
}

// compileOperation splits an operation's fields into static and dynamic.
func compileOperation(c *compiler, n *yaml.Node, field string, sc *scope) *operationDef {
	f, ok := c.mapping(n, field)
	if !ok {
		return nil
	}
	od := &operationDef{raw: map[string]any{}, dynamic: map[string]value{}}
	static := mapValue{}
	for _, k := range f.order {
		kf := join(field, k)
		v := f.get(k)
		if contains(splitOperationFields, k) && v.Kind == yaml.MappingNode {
			sub, _ := c.mapping(v, kf)
			part := mapValue{}
			rawPart := map[string]any{}
			for _, sk := range sub.order {
				if val, dyn := compileOperationValue(c, sub.get(sk), join(kf, sk), sc); dyn {
					od.dynamic[k+"."+sk] = val
				} else {
					part.keys = append(part.keys, sk)
					part.vals = append(part.vals, val)
					rawPart[sk], _ = c.constant(sub.get(sk), join(kf, sk))
				}
			}
			if len(part.keys) > 0 {
				static.keys = append(static.keys, k)
				static.vals = append(static.vals, part)
				od.raw[k] = rawPart
			}
			continue
		}
		if val, dyn := compileOperationValue(c, v, kf, sc); dyn {
			od.dynamic[k] = val
		} else {
			static.keys = append(static.keys, k)
			static.vals = append(static.vals, val)
			od.raw[k], _ = c.constant(v, kf)
		}
	}
	od.static = static
	return od
}

// compileOperationValue compiles v and reports whether it uses args.
func compileOperationValue(c *compiler, v *yaml.Node, field string, sc *scope) (value, bool) {
	before := c.argsUses
	val := c.value(v, field, sc)
	return val, c.argsUses != before
}

// validationSpec is the Spec as written: `${env.X}` and `${secret.X}` left
// as text, Dynamic templates evaluating without variables.
func (cd *connectorDef) validationSpec() connectors.Spec {
	spec := connectors.Spec{Name: cd.name, Type: cd.typName, Config: cd.configRaw, Operations: map[string]connectors.Operation{}}
	for name, od := range cd.ops {
		spec.Operations[name] = connectors.Operation{Static: od.raw, Dynamic: dynamicTemplates(od, map[string]any{}, map[string]any{})}
	}
	return spec
}

// resolvedSpec is the Spec for one environment.
func (cd *connectorDef) resolvedSpec(vars, secrets map[string]any) (connectors.Spec, error) {
	scope := map[string]any{nameEnv: vars, nameSec: secrets, nameArgs: map[string]any{}}
	cfg, err := cd.config.eval(scope)
	if err != nil {
		return connectors.Spec{}, fmt.Errorf("connector %s: config: %w", cd.name, err)
	}
	cfgMap, _ := cfg.(map[string]any)
	spec := connectors.Spec{Name: cd.name, Type: cd.typName, Config: cfgMap, Operations: map[string]connectors.Operation{}}
	for name, od := range cd.ops {
		st, err := od.static.eval(scope)
		if err != nil {
			return connectors.Spec{}, fmt.Errorf("connector %s: operation %s: %w", cd.name, name, err)
		}
		stMap, _ := st.(map[string]any)
		spec.Operations[name] = connectors.Operation{Static: stMap, Dynamic: dynamicTemplates(od, vars, secrets)}
	}
	return spec, nil
}

// dynamicTemplates turns an operation's dynamic fields into connector
// Templates: each call's scope supplies args; env and secret are the
// environment's, bound here.
func dynamicTemplates(od *operationDef, vars, secrets map[string]any) map[string]connectors.Template {
	if len(od.dynamic) == 0 {
		return nil
	}
	out := make(map[string]connectors.Template, len(od.dynamic))
	for path, v := range od.dynamic {
		out[path] = func(scope map[string]any) (any, error) {
			return v.eval(map[string]any{nameArgs: scope[nameArgs], nameEnv: vars, nameSec: secrets})
		}
	}
	return out
}
