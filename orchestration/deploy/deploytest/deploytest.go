// Package deploytest is a small, real deploy.Builder for tests of the
// deploy package, the admin API and the CLI, which cannot use the
// orchestration engine (it depends on none of them). It reads each file as
// a stream of YAML documents, each a mapping with a string "kind" and
// "name", and finds the ${env.X} and ${secret.X} references in its scalars.
// Build refuses what the environment lacks, and returns a Plan that
// records what it was built from and how often it was closed.
package deploytest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"gopkg.in/yaml.v3"

	"github.com/skybridgehq/skybridge/orchestration/deploy"
)

var (
	refRe      = regexp.MustCompile(`\$\{\s*(env|secret)\.([A-Za-z_][A-Za-z0-9_]*)\s*\}`)
	yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
)

// Builder implements deploy.Builder. The zero value is ready to use.
type Builder struct {
	// Fail, when set, is consulted by every Build; an error it returns
	// fails the build (a broken connector, say).
	Fail func(env deploy.Env, version int) error

	mu    sync.Mutex
	plans []*Plan
}

var _ deploy.Builder = (*Builder)(nil)

// Plan is what Builder.Build returns.
type Plan struct {
	Version int
	Env     deploy.Env
	Files   map[string]string
	closes  atomic.Int32
}

var _ deploy.Plan = (*Plan)(nil)

// Close counts the calls.
func (p *Plan) Close() error {
	p.closes.Add(1)
	return nil
}

// Closes is how many times Close was called.
func (p *Plan) Closes() int { return int(p.closes.Load()) }

// Plans returns every plan built so far, in build order.
func (b *Builder) Plans() []*Plan {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*Plan(nil), b.plans...)
}

// Inspect parses every file; errors carry the file, line and column.
func (b *Builder) Inspect(files map[string]string) (*deploy.Inspection, error) {
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	in := &deploy.Inspection{}
	var errs []deploy.FileError
	seen := map[string]string{} // kind/name → file
	envRefs, secretRefs := map[string]bool{}, map[string]bool{}
	for _, path := range paths {
		dec := yaml.NewDecoder(strings.NewReader(files[path]))
		for {
			var doc yaml.Node
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				errs = append(errs, syntaxError(path, err))
				break
			}
			d, fe := document(path, &doc)
			if fe != nil {
				errs = append(errs, *fe)
				continue
			}
			id := d.Kind + "/" + d.Name
			if other, dup := seen[id]; dup {
				errs = append(errs, deploy.FileError{File: path, Line: doc.Line, Column: doc.Column, Field: "name",
					Message: fmt.Sprintf("%s %q is also defined in %s", d.Kind, d.Name, other)})
				continue
			}
			seen[id] = path
			in.Documents = append(in.Documents, d)
			collectRefs(&doc, envRefs, secretRefs)
		}
	}
	if len(errs) > 0 {
		return nil, &deploy.ValidationError{Errors: errs}
	}
	in.EnvRefs, in.SecretRefs = keys(envRefs), keys(secretRefs)
	return in, nil
}

// Build inspects the files again and refuses a missing variable or secret
// by name.
func (b *Builder) Build(ctx context.Context, files map[string]string, env deploy.Env, version int) (deploy.Plan, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	in, err := b.Inspect(files)
	if err != nil {
		return nil, err
	}
	for _, v := range in.EnvRefs {
		if _, ok := env.Vars[v]; !ok {
			return nil, fmt.Errorf("variable %q is not set", v)
		}
	}
	for _, v := range in.SecretRefs {
		if _, ok := env.Secrets[v]; !ok {
			return nil, fmt.Errorf("secret %q is not set", v)
		}
	}
	if b.Fail != nil {
		if err := b.Fail(env, version); err != nil {
			return nil, err
		}
	}
	p := &Plan{Version: version, Env: env, Files: files}
	b.mu.Lock()
	b.plans = append(b.plans, p)
	b.mu.Unlock()
	return p, nil
}

// document reads kind and name of one YAML document.
func document(path string, doc *yaml.Node) (deploy.Document, *deploy.FileError) {
	root := doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return deploy.Document{}, &deploy.FileError{File: path, Line: root.Line, Column: root.Column, Message: "a document must be a mapping with kind and name"}
	}
	fields := map[string]*yaml.Node{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		fields[root.Content[i].Value] = root.Content[i+1]
	}
	d := deploy.Document{File: path}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"kind", &d.Kind}, {"name", &d.Name}} {
		v, ok := fields[f.name]
		switch {
		case !ok:
			return d, &deploy.FileError{File: path, Line: root.Line, Column: root.Column, Field: f.name, Message: f.name + " is required"}
		case v.Kind != yaml.ScalarNode || v.Tag != "!!str" || v.Value == "":
			return d, &deploy.FileError{File: path, Line: v.Line, Column: v.Column, Field: f.name, Message: f.name + " must be a non-empty string"}
		}
		*f.dst = v.Value
	}
	out, err := yaml.Marshal(root)
	if err != nil {
		return d, &deploy.FileError{File: path, Line: root.Line, Column: root.Column, Message: err.Error()}
	}
	sum := sha256.Sum256(out)
	d.Digest = hex.EncodeToString(sum[:8])
	return d, nil
}

func collectRefs(n *yaml.Node, envRefs, secretRefs map[string]bool) {
	if n.Kind == yaml.ScalarNode {
		for _, m := range refRe.FindAllStringSubmatch(n.Value, -1) {
			if m[1] == "env" {
				envRefs[m[2]] = true
			} else {
				secretRefs[m[2]] = true
			}
		}
	}
	for _, c := range n.Content {
		collectRefs(c, envRefs, secretRefs)
	}
}

// syntaxError places a YAML parse error at its line when yaml.v3 says it.
func syntaxError(path string, err error) deploy.FileError {
	msg := err.Error()
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return deploy.FileError{File: path, Line: line, Column: 1, Message: m[2]}
	}
	return deploy.FileError{File: path, Message: strings.TrimPrefix(msg, "yaml: ")}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
