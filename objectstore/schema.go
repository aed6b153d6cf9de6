package objectstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Schema bounds.
const (
	// MaxSchemaBytes bounds a collection's JSON Schema.
	MaxSchemaBytes = 64 << 10
	// maxViolations bounds the violations a SchemaError lists.
	maxViolations = 50
)

// schemaURL is the name a collection's schema is compiled under. Nothing
// is ever fetched from it: the compiler's loader refuses every URL, so
// that a $ref can reach neither files nor the network.
const schemaURL = "urn:skybridge:collection-schema"

var schemaPrinter = message.NewPrinter(language.English)

// noLoader refuses to load any schema resource.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("schema references %q: external references are not allowed", url)
}

// compileSchema compiles a JSON Schema (draft 2020-12 unless it names
// another draft with $schema). Empty or null raw is no schema (nil).
func compileSchema(raw json.RawMessage) (*jsonschema.Schema, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	if len(raw) > MaxSchemaBytes {
		return nil, fieldErr("schema", ErrInvalid, "longer than %d bytes", MaxSchemaBytes)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fieldErr("schema", ErrInvalid, "not valid JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(noLoader{})
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, fieldErr("schema", ErrInvalid, "%v", err)
	}
	sch, err := c.Compile(schemaURL)
	if err != nil {
		return nil, fieldErr("schema", ErrInvalid, "%v", err)
	}
	return sch, nil
}

// checkSchema validates the user fields of doc against sch (nil: no
// schema) and returns a *SchemaError listing the violations.
func checkSchema(sch *jsonschema.Schema, doc map[string]any) error {
	if sch == nil {
		return nil
	}
	err := sch.Validate(userFields(doc))
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return fmt.Errorf("%w: %v", ErrSchema, err)
	}
	se := &SchemaError{}
	collectViolations(ve, se)
	sort.SliceStable(se.Violations, func(i, j int) bool { return se.Violations[i].Pointer < se.Violations[j].Pointer })
	return se
}

// collectViolations appends the leaves of the error tree: the constraints
// that failed, not the groups (allOf, properties) that report them.
func collectViolations(ve *jsonschema.ValidationError, se *SchemaError) {
	if len(se.Violations) >= maxViolations {
		return
	}
	if len(ve.Causes) == 0 {
		se.Violations = append(se.Violations, SchemaViolation{
			Pointer: jsonPointer(ve.InstanceLocation),
			Message: ve.ErrorKind.LocalizedString(schemaPrinter),
		})
		return
	}
	for _, c := range ve.Causes {
		collectViolations(c, se)
	}
}

// jsonPointer renders path tokens as an RFC 6901 pointer.
func jsonPointer(tokens []string) string {
	var b bytes.Buffer
	for _, t := range tokens {
		b.WriteByte('/')
		for _, r := range t {
			switch r {
			case '~':
				b.WriteString("~0")
			case '/':
				b.WriteString("~1")
			default:
				b.WriteRune(r)
			}
		}
	}
	return b.String()
}
