package sync

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/skybridgehq/skybridge/objectstore"
)

// FuzzPushPayload: any push body is either refused with ErrInvalid (or an
// objectstore.ErrInvalid naming a field) or holds only well-formed
// changes; nothing panics.
func FuzzPushPayload(f *testing.F) {
	for _, s := range []string{
		`{"collection":"notes","changes":[{"id":"n1","baseVersion":0,"doc":{"text":"a"}}]}`,
		`{"collection":"notes","changes":[{"id":"n1","baseVersion":3,"deleted":true,"changeId":"c1"}]}`,
		`{"collection":"notes","changes":[{"id":"n1","baseVersion":-1,"doc":{}}]}`,
		`{"collection":"1x","changes":[]}`,
		`{"collection":"notes","changes":[{"id":"","baseVersion":0,"doc":{"$x":1}}]}`,
		`{"collection":"notes","changes":[{"id":"a","baseVersion":1,"doc":{"a":{"b":[1,2,{"c":null}]}},"clientTime":"2026-01-01T00:00:00Z"}]}`,
	} {
		f.Add([]byte(s))
	}
	s := &Service{cfg: Config{}.withDefaults()}
	f.Fuzz(func(t *testing.T, data []byte) {
		var req PushRequest
		if json.Unmarshal(data, &req) != nil {
			return
		}
		err := s.checkPush(req)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, objectstore.ErrInvalid) {
				t.Fatalf("checkPush(%s) = %v, not an invalid-input error", data, err)
			}
			var fe *objectstore.FieldError
			if !errors.As(err, &fe) || fe.Field == "" {
				t.Fatalf("checkPush(%s) = %v names no field", data, err)
			}
			return
		}
		for _, c := range req.Changes {
			if objectstore.ValidID(c.ID) != nil || c.BaseVersion < 0 || c.Deleted == (c.Doc != nil) {
				t.Fatalf("checkPush accepted a malformed change %+v", c)
			}
		}
	})
}

// FuzzCheckpoint: a checkpoint decodes only when this server could have
// issued it, and encoding round-trips.
// FuzzCheckPayload: any check body either decodes into valid pairs (an
// id the object store takes, a version from 0) or is refused as invalid
// naming a field of "known"; nothing panics.
func FuzzCheckPayload(f *testing.F) {
	for _, s := range []string{
		`{"collection":"notes","known":[["a",1],["b",0]]}`,
		`{"collection":"notes","known":[["a"]]}`,
		`{"collection":"notes","known":[[1,"a"]]}`,
		`{"collection":"notes","known":[["a",-1]]}`,
		`{"collection":"notes","known":[["a",1.5]]}`,
		`{"collection":"notes","known":[["",1]]}`,
		`{"collection":"notes","known":[["a/b",1e3]]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var req CheckRequest
		if json.Unmarshal(data, &req) != nil {
			return
		}
		pairs, err := parseKnown(req.Known)
		if err != nil {
			var fe *objectstore.FieldError
			if !errors.Is(err, ErrInvalid) && !errors.As(err, &fe) {
				t.Fatalf("parseKnown: %v is not a field error", err)
			}
			return
		}
		for _, p := range pairs {
			if p.v < 0 || objectstore.ValidID(p.id) != nil {
				t.Fatalf("accepted bad pair %+v", p)
			}
		}
	})
}

func FuzzCheckpoint(f *testing.F) {
	for _, s := range []string{"", encodeCheckpoint(0), encodeCheckpoint(42), "c1.", "c1.LTE", "x", "c1.OTk5OTk5OTk5OTk5OTk5OTk5OTk5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cp string) {
		n, err := decodeCheckpoint("checkpoint", cp)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("decodeCheckpoint(%q) = %v", cp, err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("decodeCheckpoint(%q) = %d", cp, n)
		}
		if back, err := decodeCheckpoint("checkpoint", encodeCheckpoint(n)); err != nil || back != n {
			t.Fatalf("round trip of %d: %d, %v", n, back, err)
		}
	})
}

// FuzzScope: a scope filter either parses (after ${user.id} substitution)
// or is refused as invalid input; nothing panics.
func FuzzScope(f *testing.F) {
	for _, s := range []string{`{"owner":"${user.id}"}`, `{"n":{"$gt":3}}`, `{"$where":"x"}`, `[`, `{"a":{"$regex":"(a+)+"}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		_ = Scopes{"s": raw}.validate()
		_, _ = parseScope(raw, "u1")
	})
}

func TestMergeFields(t *testing.T) {
	tests := []struct {
		name                 string
		base, server, client map[string]any
		want                 map[string]any
	}{
		{"disjoint edits", map[string]any{"a": 1, "b": 1}, map[string]any{"a": 2, "b": 1}, map[string]any{"a": 1, "b": 2}, map[string]any{"a": 2, "b": 2}},
		{"both edit: server keeps", map[string]any{"a": 1}, map[string]any{"a": 2}, map[string]any{"a": 3}, map[string]any{"a": 2}},
		{"client removes", map[string]any{"a": 1, "b": 1}, map[string]any{"a": 1, "b": 1}, map[string]any{"a": 1}, map[string]any{"a": 1}},
		{"server removes, client edits other", map[string]any{"a": 1, "b": 1}, map[string]any{"b": 1}, map[string]any{"a": 1, "b": 5}, map[string]any{"b": 5}},
		{"both add", map[string]any{}, map[string]any{"x": 1}, map[string]any{"y": 2}, map[string]any{"x": 1, "y": 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := json.Marshal(MergeFields(tt.base, tt.server, tt.client))
			want, _ := json.Marshal(tt.want)
			if string(got) != string(want) {
				t.Fatalf("got %s, want %s", got, want)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	if c.TombstoneRetention != DefaultTombstoneRetention || c.ClockSkew != DefaultClockSkew || c.MaxChanges != DefaultMaxChanges || c.MaxKnown != DefaultMaxKnown || c.Now == nil {
		t.Fatalf("defaults: %+v", c)
	}
	c = Config{ClockSkew: 1}.withDefaults()
	if c.ClockSkew != 1 {
		t.Fatal("a set ClockSkew was replaced")
	}
}
