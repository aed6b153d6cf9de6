package orchestration

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// reader reads the nodes of one file's documents, collecting a FileError
// for each problem instead of stopping at the first.
type reader struct {
	file string
	errs *errorList
}

// fail records a problem at n.
func (r *reader) fail(n *yaml.Node, field, format string, args ...any) {
	line, col := 1, 1
	if n != nil && n.Line > 0 {
		line, col = n.Line, max(n.Column, 1)
	}
	r.errs.add(FileError{File: r.file, Line: line, Column: col, Field: field, Message: fmt.Sprintf(format, args...)})
}

// join returns the dotted path of key under field.
func join(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}

// index returns the path of element i of field.
func index(field string, i int) string { return field + "[" + strconv.Itoa(i) + "]" }

// fields is a decoded mapping: its value nodes by key, in document order.
type fields struct {
	vals  map[string]*yaml.Node
	keys  map[string]*yaml.Node
	order []string
}

// get returns the value node of key, or nil.
func (f fields) get(key string) *yaml.Node { return f.vals[key] }

// has reports whether key is present.
func (f fields) has(key string) bool { return f.vals[key] != nil }

// resolve returns n, or nil (after recording why) when n is an alias:
// aliases are refused, so a document cannot expand exponentially.
func (r *reader) resolve(n *yaml.Node, field string) *yaml.Node {
	if n != nil && n.Kind == yaml.AliasNode {
		r.fail(n, field, "YAML aliases are not supported")
		return nil
	}
	return n
}

// mapping reads n as a mapping whose keys must be among known (any key
// when known is empty). Unknown and duplicate keys are errors.
func (r *reader) mapping(n *yaml.Node, field string, known ...string) (fields, bool) {
	f := fields{vals: map[string]*yaml.Node{}, keys: map[string]*yaml.Node{}}
	if n = r.resolve(n, field); n == nil {
		return f, false
	}
	if n.Kind != yaml.MappingNode {
		r.fail(n, field, "must be a mapping, not %s", describe(n))
		return f, false
	}
	ok := true
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || (k.Tag != "!!str" && k.Tag != "!!int" && k.Tag != "!!bool" && k.Tag != "!!float") {
			r.fail(k, field, "keys must be strings")
			ok = false
			continue
		}
		name := k.Value
		if len(known) > 0 && !contains(known, name) {
			msg := fmt.Sprintf("unknown field %q", name)
			if s := suggest(name, known); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			r.fail(k, join(field, name), "%s", msg)
			ok = false
			continue
		}
		if prev, dup := f.keys[name]; dup {
			r.fail(k, join(field, name), "duplicate key %q (first at line %d)", name, prev.Line)
			ok = false
			continue
		}
		f.keys[name] = k
		f.vals[name] = v
		f.order = append(f.order, name)
	}
	return f, ok
}

// describe names n's YAML type for messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	switch n.Tag {
	case "!!str":
		return "a string"
	case "!!int", "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	case "!!null":
		return "null"
	}
	return "a scalar"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// suggest returns the known name closest to s when it is a likely typo.
func suggest(s string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := editDistance(strings.ToLower(s), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of short names.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// str reads n as a non-empty string.
func (r *reader) str(n *yaml.Node, field string) (string, bool) {
	if n = r.resolve(n, field); n == nil {
		return "", false
	}
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		r.fail(n, field, "must be a string, not %s", describe(n))
		return "", false
	}
	if n.Value == "" {
		r.fail(n, field, "must not be empty")
		return "", false
	}
	return n.Value, true
}

// oneOf reads n as one of the strings allowed.
func (r *reader) oneOf(n *yaml.Node, field string, allowed ...string) (string, bool) {
	s, ok := r.str(n, field)
	if !ok {
		return "", false
	}
	if !contains(allowed, s) {
		r.fail(n, field, "must be one of %s, not %q", strings.Join(allowed, ", "), s)
		return "", false
	}
	return s, true
}

// integer reads n as an integer within [lo, hi].
func (r *reader) integer(n *yaml.Node, field string, lo, hi int) (int, bool) {
	if n = r.resolve(n, field); n == nil {
		return 0, false
	}
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		r.fail(n, field, "must be an integer, not %s", describe(n))
		return 0, false
	}
	v, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
	if err != nil || v < int64(lo) || v > int64(hi) {
		r.fail(n, field, "must be an integer from %d to %d", lo, hi)
		return 0, false
	}
	return int(v), true
}

// boolean reads n as true or false.
func (r *reader) boolean(n *yaml.Node, field string) (bool, bool) {
	if n = r.resolve(n, field); n == nil {
		return false, false
	}
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		r.fail(n, field, "must be true or false, not %s", describe(n))
		return false, false
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		r.fail(n, field, "must be true or false")
		return false, false
	}
	return b, true
}

// duration reads n as a positive Go duration ("2s", "1m30s") of at most
// limit.
func (r *reader) duration(n *yaml.Node, field string, limit time.Duration) (time.Duration, bool) {
	if n = r.resolve(n, field); n == nil {
		return 0, false
	}
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		r.fail(n, field, "must be a duration such as 500ms or 2s, not %s", describe(n))
		return 0, false
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil || d <= 0 {
		r.fail(n, field, "must be a positive duration such as 500ms or 2s, not %q", n.Value)
		return 0, false
	}
	if limit > 0 && d > limit {
		r.fail(n, field, "must be at most %s", limit)
		return 0, false
	}
	return d, true
}

// seq reads n as a list.
func (r *reader) seq(n *yaml.Node, field string) ([]*yaml.Node, bool) {
	if n = r.resolve(n, field); n == nil {
		return nil, false
	}
	if n.Kind != yaml.SequenceNode {
		r.fail(n, field, "must be a list, not %s", describe(n))
		return nil, false
	}
	return n.Content, true
}

// constant decodes n as plain data: strings, int, float64, bool, nil,
// map[string]any and []any.
func (r *reader) constant(n *yaml.Node, field string) (any, bool) {
	if n = r.resolve(n, field); n == nil {
		return nil, false
	}
	switch n.Kind {
	case yaml.MappingNode:
		f, ok := r.mapping(n, field)
		out := make(map[string]any, len(f.order))
		for _, k := range f.order {
			v, vok := r.constant(f.vals[k], join(field, k))
			ok = ok && vok
			out[k] = v
		}
		return out, ok
	case yaml.SequenceNode:
		out := make([]any, len(n.Content))
		ok := true
		for i, c := range n.Content {
			v, vok := r.constant(c, index(field, i))
			ok = ok && vok
			out[i] = v
		}
		return out, ok
	case yaml.ScalarNode:
		return r.scalar(n, field)
	}
	r.fail(n, field, "unsupported YAML node")
	return nil, false
}

// scalar decodes a scalar by its resolved tag.
func (r *reader) scalar(n *yaml.Node, field string) (any, bool) {
	switch n.Tag {
	case "!!null":
		return nil, true
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			r.fail(n, field, "bad boolean")
			return nil, false
		}
		return b, true
	case "!!int":
		var i int64
		if err := n.Decode(&i); err != nil {
			var f float64
			if ferr := n.Decode(&f); ferr != nil {
				r.fail(n, field, "bad integer")
				return nil, false
			}
			return f, true
		}
		return int(i), true
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			r.fail(n, field, "bad number (NaN and infinities are not allowed)")
			return nil, false
		}
		return f, true
	}
	return n.Value, true
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// nodeAt returns the node at dotted path under n (a document's root
// mapping), or the deepest node found on the way.
func nodeAt(n *yaml.Node, path string) *yaml.Node {
	cur := n
	for _, part := range strings.Split(path, ".") {
		if cur.Kind != yaml.MappingNode {
			return cur
		}
		next := (*yaml.Node)(nil)
		for i := 0; i+1 < len(cur.Content); i += 2 {
			if cur.Content[i].Value == part {
				next = cur.Content[i+1]
				if next.Kind == yaml.ScalarNode {
					return next
				}
				break
			}
		}
		if next == nil {
			return cur
		}
		cur = next
	}
	return cur
}
