package objectstore

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestMergePatch runs the examples of RFC 7396, Appendix A, on object
// targets and patches.
func TestMergePatch(t *testing.T) {
	t.Parallel()
	tests := []struct{ target, patch, want string }{
		{`{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
		{`{"a":"b"}`, `{"a":null}`, `{}`},
		{`{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
		{`{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"c"}`, `{"a":["b"]}`, `{"a":["b"]}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
		{`{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
		{`{"e":null}`, `{"a":1}`, `{"e":null,"a":1}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},
		{`{"a":{"x":1}}`, `{"a":{"y":[null,2]}}`, `{"a":{"x":1,"y":[null,2]}}`},
		{`{"a":1}`, `{}`, `{"a":1}`},
	}
	for _, tt := range tests {
		target := obj(t, tt.target)
		before := obj(t, tt.target)
		got := MergePatch(target, obj(t, tt.patch))
		if !reflect.DeepEqual(got, obj(t, tt.want)) {
			t.Errorf("MergePatch(%s, %s) = %v, want %s", tt.target, tt.patch, got, tt.want)
		}
		if !reflect.DeepEqual(target, before) {
			t.Errorf("MergePatch(%s, %s) modified its target to %v", tt.target, tt.patch, target)
		}
	}
}

// FuzzMergePatch checks, for any pair of JSON objects, that merging never
// panics or touches its target, that a patch applies idempotently, that
// the result has no member the patch deleted and every scalar or array
// member the patch set.
func FuzzMergePatch(f *testing.F) {
	for _, seed := range [][2]string{
		{`{"a":"b"}`, `{"a":null}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`},
		{`{"a":[1,2]}`, `{"a":{"x":[null]}}`},
		{`{"_acl":{"read":["x"]}}`, `{"_acl":{"write":["y"]}}`},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, targetJSON, patchJSON string) {
		var target, patch map[string]any
		if json.Unmarshal([]byte(targetJSON), &target) != nil || json.Unmarshal([]byte(patchJSON), &patch) != nil {
			return
		}
		var before map[string]any
		_ = json.Unmarshal([]byte(targetJSON), &before)
		once := MergePatch(target, patch)
		if !reflect.DeepEqual(target, before) {
			t.Fatalf("target modified")
		}
		if once == nil {
			t.Fatalf("nil result")
		}
		twice := MergePatch(once, patch)
		if !reflect.DeepEqual(once, twice) {
			t.Fatalf("not idempotent: %v then %v", once, twice)
		}
		for k, v := range patch {
			got, has := once[k]
			if v == nil && has {
				t.Fatalf("member %q deleted by the patch is still there", k)
			}
			if _, isObj := v.(map[string]any); v != nil && !isObj && !reflect.DeepEqual(got, v) {
				t.Fatalf("member %q = %v, want the patch's %v", k, got, v)
			}
		}
	})
}
