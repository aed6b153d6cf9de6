package objectstore

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestCompileSchema(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{"", "null", " "} {
		if sch, err := compileSchema(json.RawMessage(raw)); sch != nil || err != nil {
			t.Errorf("compileSchema(%q) = %v, %v", raw, sch, err)
		}
	}
	// A local file a $ref could reach, were references loaded.
	secret := filepath.Join(t.TempDir(), "s.json")
	if err := os.WriteFile(secret, []byte(`{"type":"string"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{
		`{"type":`,
		`{"type":"nope"}`,
		`{"$ref":"file://` + secret + `"}`,
		`{"$ref":"https://example.com/s.json"}`,
		`{"properties":{"a":{"pattern":"("}}}`,
	} {
		_, err := compileSchema(json.RawMessage(raw))
		wantField(t, raw, err, "schema", ErrInvalid)
	}
	sch, err := compileSchema(json.RawMessage(`{"$schema":"https://json-schema.org/draft/2020-12/schema","$defs":{"n":{"type":"integer"}},"properties":{"n":{"$ref":"#/$defs/n"}}}`))
	if err != nil || sch == nil {
		t.Fatalf("a schema with local $ref: %v", err)
	}
}

func TestSchemaChecks(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Service) {
		t.Parallel()
		ctx := ctxT(t)
		schema := json.RawMessage(`{
			"type": "object",
			"required": ["title"],
			"additionalProperties": false,
			"properties": {
				"title": {"type": "string", "maxLength": 10},
				"n": {"type": "integer", "minimum": 0},
				"a/b": {"type": "boolean"},
				"tags": {"type": "array", "items": {"type": "string"}}
			}
		}`)
		if _, err := s.PutSettings(ctx, prod, "tasks", SettingsPatch{Schema: &schema}); err != nil {
			t.Fatal(err)
		}
		// System fields (_id, _acl) are not checked against the schema.
		o := mustCreate(t, s, prod, alice, "tasks", `{"_id":"t1","_acl":{"read":["bob"]},"title":"ok","n":1,"a/b":true}`)
		_, err := s.Create(ctx, prod, alice, "tasks", obj(t, `{"title":"far too long a title","n":-1,"a/b":1,"tags":["x",2],"extra":1}`))
		var se *SchemaError
		if !errors.As(err, &se) || !errors.Is(err, ErrSchema) {
			t.Fatalf("create breaking the schema: %v", err)
		}
		pointers := map[string]bool{}
		for _, v := range se.Violations {
			pointers[v.Pointer] = true
			if v.Message == "" {
				t.Errorf("violation without a message: %+v", v)
			}
		}
		for _, p := range []string{"/title", "/n", "/a~1b", "/tags/1", ""} {
			if !pointers[p] {
				t.Errorf("no violation at %q in %+v", p, se.Violations)
			}
		}
		_, err = s.Patch(ctx, prod, alice, "tasks", o.ID(), obj(t, `{"title":null}`), 0)
		if !errors.As(err, &se) || len(se.Violations) != 1 || se.Violations[0].Pointer != "" {
			t.Errorf("patch removing a required field: %v", err)
		}
		_, err = s.Replace(ctx, prod, alice, "tasks", o.ID(), obj(t, `{"title":"x","n":1.5}`), 0)
		if !errors.As(err, &se) || se.Violations[0].Pointer != "/n" {
			t.Errorf("replace with a float for an integer: %v", err)
		}
		if _, err := s.Delete(ctx, prod, alice, "tasks", o.ID(), 0); err != nil {
			t.Errorf("delete (a tombstone is not checked against the schema): %v", err)
		}
		// Removing the schema lifts the checks.
		null := json.RawMessage("null")
		st, err := s.PutSettings(ctx, prod, "tasks", SettingsPatch{Schema: &null})
		if err != nil || st.Schema != nil {
			t.Fatalf("remove schema: %+v, %v", st, err)
		}
		mustCreate(t, s, prod, alice, "tasks", `{"anything":1}`)
	})
}
