package orchestration

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// APIVersion is the apiVersion every document of a bundle declares.
const APIVersion = "skybridge/v1"

// Document kinds.
const (
	KindFlow      = "Flow"
	KindConnector = "Connector"
)

// maxDocuments bounds the documents of one bundle.
const maxDocuments = 10000

// Document is one document of a bundle, for listings and change
// summaries.
type Document struct {
	// Kind is "Flow", "Connector" or "Trigger".
	Kind string
	// Name is the document's name.
	Name string
	// File and Line say where the document starts.
	File string
	Line int
	// Digest is the hex sha256 of the document's canonical content (its
	// data as JSON with sorted keys), so formatting and comments do not
	// change it.
	Digest string
}

// Bundle is a validated set of documents, compiled once: Build turns it
// into a Plan per environment without parsing again.
type Bundle struct {
	docs       []Document
	connectors []*connectorDef
	connIndex  map[string]int
	flows      map[string]*flowDef
	envRefs    []string
	secretRefs []string
	// triggers are the Trigger documents by name.
	triggers map[string]*triggerDef
}

// Documents returns the bundle's documents in file and position order.
func (b *Bundle) Documents() []Document { return append([]Document(nil), b.docs...) }

// EnvRefs returns the names used as ${env.X} anywhere, sorted.
func (b *Bundle) EnvRefs() []string { return append([]string(nil), b.envRefs...) }

// SecretRefs returns the names used as ${secret.X}, sorted.
func (b *Bundle) SecretRefs() []string { return append([]string(nil), b.secretRefs...) }

// rawDoc is a parsed document awaiting compilation.
type rawDoc struct {
	r      *compiler
	root   *yaml.Node // the document's mapping
	f      fields
	kind   string
	name   string
	nameAt *yaml.Node
}

// Load parses and validates a bundle: files maps paths to YAML text, each
// holding one or more documents separated by ---. A bad bundle returns a
// *ValidationError listing every problem with its file, line, column and
// field; nothing of it is usable then.
func (e *Engine) Load(files map[string]string) (*Bundle, error) {
	errs := &errorList{}
	envRefs, secretRefs := map[string]bool{}, map[string]bool{}
	var docs []*rawDoc
	for _, path := range sortedKeys(files) {
		c := &compiler{reader: reader{file: path, errs: errs}, envRefs: envRefs, secretRefs: secretRefs}
		for _, root := range parseFile(c, files[path]) {
			if len(docs) >= maxDocuments {
				c.fail(root, "", "too many documents (limit %d)", maxDocuments)
				break
			}
			if d := readHeader(c, root); d != nil {
				docs = append(docs, d)
			}
		}
	}
	b := &Bundle{connIndex: map[string]int{}, flows: map[string]*flowDef{}, triggers: map[string]*triggerDef{}}
	seen := map[string]*rawDoc{}
	var flowDocs, triggerDocs []*rawDoc
	for _, d := range docs {
		key := d.kind + "/" + d.name
		if prev, dup := seen[key]; dup {
			d.r.fail(d.nameAt, "name", "duplicate %s name %q (first in %s:%d)", d.kind, d.name, prev.r.file, prev.nameAt.Line)
			continue
		}
		seen[key] = d
		b.docs = append(b.docs, Document{Kind: d.kind, Name: d.name, File: d.r.file, Line: d.root.Line, Digest: digest(d.r, d.root)})
		switch d.kind {
		case KindConnector:
			if cd := e.compileConnector(d); cd != nil {
				b.connIndex[cd.name] = len(b.connectors)
				b.connectors = append(b.connectors, cd)
			}
		case KindTrigger:
			triggerDocs = append(triggerDocs, d)
		default:
			flowDocs = append(flowDocs, d)
		}
	}
	// Flow headers first (names, inputs), so steps can check the flows
	// they call; then the bodies.
	heads := map[string]*flowDef{}
	for _, d := range flowDocs {
		if fd := e.flowHead(d); fd != nil {
			heads[fd.name] = fd
		}
	}
	for _, d := range flowDocs {
		if fd := heads[d.name]; fd != nil {
			e.flowBody(d, fd, b, heads)
			b.flows[fd.name] = fd
		}
	}
	// Triggers last: they name the flows they run.
	for _, d := range triggerDocs {
		b.triggers[d.name] = e.compileTrigger(d, b.flows)
	}
	checkCycles(b.flows, errs)
	checkRoutes(b.flows, errs)
	if len(errs.errs) > 0 {
		sortErrors(errs.errs)
		return nil, &ValidationError{Errors: errs.errs}
	}
	b.envRefs, b.secretRefs = sortedKeys(envRefs), sortedKeys(secretRefs)
	return b, nil
}

// parseFile splits text into its documents' root nodes.
func parseFile(c *compiler, text string) (roots []*yaml.Node) {
	defer func() {
		if r := recover(); r != nil {
			c.fail(nil, "", "invalid YAML")
		}
	}()
	dec := yaml.NewDecoder(strings.NewReader(text))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return roots
		}
		if err != nil {
			line := yamlErrorLine(err.Error())
			c.errs.add(FileError{File: c.file, Line: line, Column: 1, Message: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")})
			return roots
		}
		if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
			continue
		}
		root := doc.Content[0]
		if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
			continue // an empty document between separators
		}
		roots = append(roots, root)
	}
}

// yamlErrorLine finds "line N" in a yaml.v3 error, else 1.
func yamlErrorLine(msg string) int {
	i := strings.Index(msg, "line ")
	if i < 0 {
		return 1
	}
	j := i + 5
	for j < len(msg) && msg[j] >= '0' && msg[j] <= '9' {
		j++
	}
	n, err := strconv.Atoi(msg[i+5 : j])
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// readHeader checks apiVersion, kind and name, and the fields of the kind.
func readHeader(c *compiler, root *yaml.Node) *rawDoc {
	if root.Kind != yaml.MappingNode {
		c.fail(root, "", "a document must be a mapping with apiVersion, kind and name, not %s", describe(root))
		return nil
	}
	kindNode := (*yaml.Node)(nil)
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "kind" {
			kindNode = root.Content[i+1]
		}
	}
	if kindNode == nil {
		c.fail(root, "kind", "missing required field kind (Flow, Connector or Trigger)")
		return nil
	}
	kind, ok := c.oneOf(kindNode, "kind", KindFlow, KindConnector, KindTrigger)
	if !ok {
		return nil
	}
	known := flowFields
	switch kind {
	case KindConnector:
		known = connectorFields
	case KindTrigger:
		known = triggerFields
	}
	f, _ := c.mapping(root, "", known...)
	d := &rawDoc{r: c, root: root, f: f, kind: kind}
	if !f.has("apiVersion") {
		c.fail(root, "apiVersion", "missing required field apiVersion (%s)", APIVersion)
	} else if v, ok := c.str(f.get("apiVersion"), "apiVersion"); ok && v != APIVersion {
		c.fail(f.get("apiVersion"), "apiVersion", "unsupported apiVersion %q (want %s)", v, APIVersion)
	}
	if !f.has("name") {
		c.fail(root, "name", "missing required field name")
		return nil
	}
	name, ok := c.str(f.get("name"), "name")
	if !ok {
		return nil
	}
	if !validName(name) {
		c.fail(f.get("name"), "name", "%q is not a valid name (letters, digits, - and _, starting with a letter)", name)
		return nil
	}
	d.name, d.nameAt = name, f.get("name")
	return d
}

// validName reports whether s is a flow, connector, operation or step
// name: a letter, then letters, digits, '-' and '_', at most 64.
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '-' || r == '_'):
		default:
			return false
		}
	}
	return true
}

// digest is the sha256 of a document's data as canonical JSON.
func digest(c *compiler, root *yaml.Node) string {
	quiet := &reader{file: c.file, errs: &errorList{}}
	v, _ := quiet.constant(root, "")
	raw, err := json.Marshal(v)
	if err != nil {
		raw = []byte(fmt.Sprint(v))
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// sortErrors orders errors by file, line and column.
func sortErrors(errs []FileError) {
	sort.SliceStable(errs, func(i, j int) bool {
		a, b := errs[i], errs[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
}
