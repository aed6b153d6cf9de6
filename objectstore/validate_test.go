package objectstore

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/skybridgehq/skybridge/store"
)

func TestCheckFields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		doc   string
		field string // "" when valid
	}{
		{`{"a":1,"b":{"c":[1,{"d":true}]},"_x":1}`, ""},
		{`{"$set":1}`, "$set"},
		{`{"a.b":1}`, "a.b"},
		{`{"a":{"b.c":1}}`, "a.b.c"},
		{`{"a":{"$gt":1}}`, "a.$gt"},
		{`{"a":[{"ok":1},{"x.y":2}]}`, "a[1].x.y"},
		{`{"":1}`, ""},
		{`{"a":{"":1}}`, "a."},
		{`{"a\u0000b":1}`, "a\x00b"},
	}
	for _, tt := range tests {
		err := CheckFields(obj(t, tt.doc))
		switch {
		case tt.field == "" && tt.doc == `{"":1}`:
			wantField(t, tt.doc, err, "", ErrInvalid)
		case tt.field == "":
			if err != nil {
				t.Errorf("CheckFields(%s) = %v", tt.doc, err)
			}
		default:
			wantField(t, tt.doc, err, tt.field, ErrInvalid)
		}
	}
	deep := strings.Repeat(`{"a":`, store.MaxDocDepth+2) + "1" + strings.Repeat("}", store.MaxDocDepth+2)
	if err := CheckFields(obj(t, deep)); err == nil {
		t.Errorf("CheckFields accepted a document nested %d deep", store.MaxDocDepth+2)
	}
}

func TestValidID(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"a", "A-b_c.d:e", strings.Repeat("x", 128), "0"} {
		if err := ValidID(id); err != nil {
			t.Errorf("ValidID(%q) = %v", id, err)
		}
	}
	for _, id := range []string{"", strings.Repeat("x", 129), "a/b", "a b", "é", "a\x00"} {
		wantField(t, "ValidID("+id+")", ValidID(id), "_id", ErrInvalid)
	}
}

func TestCheckACL(t *testing.T) {
	t.Parallel()
	got, err := checkACL(obj(t, `{"read":["*","u1","role:editor","u1"],"write":null}`)["read"])
	if err == nil {
		t.Fatalf("checkACL accepted a list as the ACL: %v", got)
	}
	acl, err := checkACL(obj(t, `{"read":["*","u1","role:editor","u1"],"write":["u2"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if r := acl["read"].([]any); len(r) != 3 {
		t.Errorf("duplicates kept: %v", r)
	}
	for _, tt := range []struct{ acl, field string }{
		{`{"read":"u1"}`, "_acl.read"},
		{`{"read":[1]}`, "_acl.read[0]"},
		{`{"read":["role:Bad"]}`, "_acl.read[0]"},
		{`{"write":["ok","a b"]}`, "_acl.write[1]"},
		{`{"admin":[]}`, "_acl.admin"},
	} {
		_, err := checkACL(obj(t, tt.acl))
		wantField(t, tt.acl, err, tt.field, ErrInvalid)
	}
	_, err = checkACL("x")
	wantField(t, "string ACL", err, "_acl", ErrInvalid)
}

func TestPrepareCreate(t *testing.T) {
	t.Parallel()
	doc, err := prepareCreate(alice, obj(t, `{"_id":"n1","_acl":{"read":["bob"]},"title":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	if doc["_owner"] != "alice" || doc["_id"] != "n1" || doc["title"] != "x" {
		t.Errorf("prepareCreate = %v", doc)
	}
	for _, tt := range []struct {
		p     Principal
		body  string
		field string
	}{
		{alice, `{"_v":3}`, "_v"},
		{alice, `{"_owner":"bob"}`, "_owner"},
		{alice, `{"_custom":1}`, "_custom"},
		{alice, `{"_id":5}`, "_id"},
		{alice, `{"_id":"a/b"}`, "_id"},
		{alice, `{"a":{"b.c":1}}`, "a.b.c"},
		{server, `{"_owner":"no spaces"}`, "_owner"},
	} {
		_, err := prepareCreate(tt.p, obj(t, tt.body))
		wantField(t, tt.body, err, tt.field, ErrInvalid)
	}
	doc, err = prepareCreate(server, obj(t, `{"_owner":"bob"}`))
	if err != nil || doc["_owner"] != "bob" {
		t.Errorf("server setting _owner: %v, %v", doc, err)
	}
	doc, err = prepareCreate(anon, obj(t, `{"a":1}`))
	if _, has := doc["_owner"]; err != nil || has {
		t.Errorf("anonymous create: %v, %v (want no _owner)", doc, err)
	}
}

func TestPrepareUpdate(t *testing.T) {
	t.Parallel()
	stored := Object(obj(t, `{"_id":"n1","_v":2,"_seq":7,"_createdAt":"c","_updatedAt":"u","_owner":"alice","_acl":{"read":["bob"]},"a":1}`))
	// A GET-modify-PUT round trip: the system fields come back unchanged.
	doc, err := prepareUpdate(alice, "n1", stored, obj(t, `{"_id":"n1","_v":2,"_seq":7,"_createdAt":"c","_updatedAt":"u","_owner":"alice","_acl":{"read":["bob"]},"a":2}`), false)
	if err != nil {
		t.Fatal(err)
	}
	if doc["a"] != float64(2) || doc["_owner"] != "alice" || doc["_acl"] == nil || doc["_v"] != nil {
		t.Errorf("round trip = %v", doc)
	}
	// Absent _acl keeps it; null removes it; dropACL removes it.
	doc, _ = prepareUpdate(alice, "n1", stored, obj(t, `{"a":3}`), false)
	if doc["_acl"] == nil {
		t.Errorf("absent _acl dropped the ACL: %v", doc)
	}
	doc, _ = prepareUpdate(alice, "n1", stored, obj(t, `{"a":3,"_acl":null}`), false)
	if _, has := doc["_acl"]; has {
		t.Errorf("_acl null kept the ACL: %v", doc)
	}
	doc, _ = prepareUpdate(alice, "n1", stored, obj(t, `{"a":3}`), true)
	if _, has := doc["_acl"]; has {
		t.Errorf("dropACL kept the ACL: %v", doc)
	}
	for _, tt := range []struct{ body, field string }{
		{`{"_id":"other"}`, "_id"},
		{`{"_v":3}`, "_v"},
		{`{"_owner":"bob"}`, "_owner"},
		{`{"_deleted":false}`, "_deleted"},
		{`{"_createdAt":"x"}`, "_createdAt"},
		{`{"_acl":{"read":[1]}}`, "_acl.read[0]"},
		{`{"x":{"$inc":1}}`, "x.$inc"},
	} {
		_, err := prepareUpdate(alice, "n1", stored, obj(t, tt.body), false)
		wantField(t, tt.body, err, tt.field, ErrInvalid)
	}
	doc, err = prepareUpdate(server, "n1", stored, obj(t, `{"_owner":"bob"}`), false)
	if err != nil || doc["_owner"] != "bob" {
		t.Errorf("server changing _owner: %v, %v", doc, err)
	}
}

// FuzzObjectBody feeds arbitrary JSON to the checks of a client's object:
// no panic, and whatever is accepted has no field name starting with '$'
// or holding a '.', at any depth, and no system field but _id, _acl and
// _owner.
func FuzzObjectBody(f *testing.F) {
	for _, seed := range []string{
		`{"a":1}`, `{"$where":"1"}`, `{"a":{"b.c":1}}`, `{"_id":"x","_acl":{"read":["*"]}}`,
		`{"a":[{"$gt":1}]}`, `{"_v":1}`, `{"_acl":{"read":["role:x","u"],"write":[]}}`, `{"":0}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var body map[string]any
		if dec.Decode(&body) != nil || body == nil {
			return
		}
		body, _ = store.Normalize(body).(map[string]any)
		for _, p := range []Principal{alice, server} {
			doc, err := prepareCreate(p, body)
			if err != nil {
				var fe *FieldError
				if !errorsAs(err, &fe) {
					t.Fatalf("refusal without a field: %v", err)
				}
				continue
			}
			for k := range doc {
				switch k {
				case "_id", "_acl", "_owner":
				default:
					if strings.HasPrefix(k, "_") {
						t.Fatalf("system field %q accepted", k)
					}
				}
			}
			if bad := badName(map[string]any(doc)); bad != "" {
				t.Fatalf("field name %q accepted", bad)
			}
			stored := Object{"_id": "x", "_v": int64(1), "_owner": "alice"}
			if upd, err := prepareUpdate(p, "x", stored, body, false); err == nil {
				if bad := badName(map[string]any(upd)); bad != "" {
					t.Fatalf("field name %q accepted on update", bad)
				}
			}
		}
	})
}

func badName(v any) string {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if k == "" || strings.HasPrefix(k, "$") || strings.Contains(k, ".") {
				return k
			}
			if b := badName(e); b != "" {
				return b
			}
		}
	case []any:
		for _, e := range x {
			if b := badName(e); b != "" {
				return b
			}
		}
	}
	return ""
}
