package iotbridge

import (
	"encoding/json"
	"strings"
	"testing"
)

// apply runs a sequence of update payloads from an empty shadow.
func apply(t *testing.T, payloads ...string) (Document, Document) {
	t.Helper()
	var cur, acc Document
	for i, p := range payloads {
		u, rej := ParseShadowUpdate([]byte(p), DefaultShadowMaxBytes)
		if rej != nil {
			t.Fatalf("update %d %s: %v", i, p, rej)
		}
		var r *ShadowError
		cur, acc, r = applyUpdate(cur, u, int64(100+i), DefaultShadowMaxBytes)
		if r != nil {
			t.Fatalf("apply %d %s: %v", i, p, r)
		}
	}
	return cur, acc
}

func js(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestShadowMerge(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name                     string
		updates                  []string
		desired, reported, delta string
		version                  int64
	}{
		{"reported only", []string{`{"state":{"reported":{"temp":21}}}`}, `null`, `{"temp":21}`, `null`, 1},
		{"desired differs", []string{`{"state":{"reported":{"temp":21}}}`, `{"state":{"desired":{"temp":25}}}`}, `{"temp":25}`, `{"temp":21}`, `{"temp":25}`, 2},
		{"desired met", []string{`{"state":{"desired":{"temp":25}}}`, `{"state":{"reported":{"temp":25.0}}}`}, `{"temp":25}`, `{"temp":25.0}`, `null`, 2},
		{"null deletes a key", []string{`{"state":{"reported":{"a":1,"b":2}}}`, `{"state":{"reported":{"a":null}}}`}, `null`, `{"b":2}`, `null`, 2},
		{"null deletes a section", []string{`{"state":{"desired":{"a":1}}}`, `{"state":{"desired":null}}`}, `null`, `null`, `null`, 2},
		{"nested per leaf", []string{`{"state":{"reported":{"l":{"on":true,"c":"red"}}}}`, `{"state":{"desired":{"l":{"on":true,"c":"blue"}}}}`}, `{"l":{"c":"blue","on":true}}`, `{"l":{"c":"red","on":true}}`, `{"l":{"c":"blue"}}`, 2},
		{"arrays whole", []string{`{"state":{"reported":{"a":[1,2]}}}`, `{"state":{"desired":{"a":[1,2,3]}}}`}, `{"a":[1,2,3]}`, `{"a":[1,2]}`, `{"a":[1,2,3]}`, 2},
		{"equal arrays", []string{`{"state":{"reported":{"a":[1,{"x":2}]},"desired":{"a":[1,{"x":2}]}}}`}, `{"a":[1,{"x":2}]}`, `{"a":[1,{"x":2}]}`, `null`, 1},
		{"empty object removes", []string{`{"state":{"reported":{"a":{"b":1}}}}`, `{"state":{"reported":{"a":{"b":null}}}}`}, `null`, `null`, `null`, 2},
		{"object replaces scalar", []string{`{"state":{"reported":{"a":1}}}`, `{"state":{"reported":{"a":{"b":2}}}}`}, `null`, `{"a":{"b":2}}`, `null`, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cur, _ := apply(t, tc.updates...)
			d := withDelta(cur)
			if got := js(d.State.Desired); got != tc.desired {
				t.Errorf("desired = %s, want %s", got, tc.desired)
			}
			if got := js(d.State.Reported); got != tc.reported {
				t.Errorf("reported = %s, want %s", got, tc.reported)
			}
			if got := js(d.State.Delta); got != tc.delta {
				t.Errorf("delta = %s, want %s", got, tc.delta)
			}
			if d.Version != tc.version {
				t.Errorf("version = %d, want %d", d.Version, tc.version)
			}
			// Metadata mirrors the state tree leaf by leaf.
			if !sameShape(d.State.Desired, d.Metadata.Desired) || !sameShape(d.State.Reported, d.Metadata.Reported) {
				t.Errorf("metadata %s does not mirror state %s", js(d.Metadata), js(d.State))
			}
		})
	}
}

// sameShape reports whether md has a {"timestamp"} for each leaf of st.
func sameShape(st, md map[string]any) bool {
	if len(st) != len(md) {
		return false
	}
	for k, v := range st {
		m, ok := md[k].(map[string]any)
		if !ok {
			return false
		}
		if sub, isMap := v.(map[string]any); isMap {
			if !sameShape(sub, m) {
				return false
			}
			continue
		}
		if _, ok := m["timestamp"]; !ok || len(m) != 1 {
			return false
		}
	}
	return true
}

func TestShadowAcceptedEchoesRequest(t *testing.T) {
	t.Parallel()
	_, acc := apply(t, `{"state":{"reported":{"temp":21}}}`, `{"state":{"desired":{"temp":25,"gone":null}},"clientToken":"tok-1"}`)
	got := js(acc)
	want := `{"state":{"desired":{"gone":null,"temp":25}},"metadata":{"desired":{"gone":{"timestamp":101},"temp":{"timestamp":101}}},"version":2,"timestamp":101,"clientToken":"tok-1"}`
	if got != want {
		t.Errorf("accepted = %s\nwant       %s", got, want)
	}
}

func TestShadowDeltaMessage(t *testing.T) {
	t.Parallel()
	cur, _ := apply(t, `{"state":{"reported":{"a":1,"n":{"x":1}}}}`, `{"state":{"desired":{"a":2,"n":{"x":1,"y":2}}}}`)
	tok := "c"
	got := js(deltaMessage(cur, &tok))
	want := `{"clientToken":"c","metadata":{"a":{"timestamp":101},"n":{"y":{"timestamp":101}}},"state":{"a":2,"n":{"y":2}},"timestamp":101,"version":2}`
	if got != want {
		t.Errorf("delta = %s\nwant    %s", got, want)
	}
	met, _ := apply(t, `{"state":{"desired":{"a":1}}}`, `{"state":{"reported":{"a":1}}}`)
	if dm := deltaMessage(met, nil); dm != nil {
		t.Errorf("no delta expected, got %s", js(dm))
	}
}

func TestParseShadowUpdateRejects(t *testing.T) {
	t.Parallel()
	deep := `{"state":{"desired":` + strings.Repeat(`{"a":`, 7) + `1` + strings.Repeat(`}`, 7) + `}}`
	cases := []struct {
		payload string
		code    int
		msg     string
	}{
		{`nope`, 400, "Invalid JSON"},
		{`[1]`, 400, "Invalid JSON"},
		{`{}`, 400, "Missing required node: state"},
		{`{"state":1}`, 400, "State node must be an object"},
		{`{"state":{}}`, 400, "State node must have a desired or reported node"},
		{`{"state":{"delta":{}}}`, 400, "State contains an invalid node: 'delta'"},
		{`{"state":{"desired":5}}`, 400, "Invalid desired node: must be an object or null"},
		{`{"state":{"desired":{}},"version":"x"}`, 400, "Invalid version"},
		{`{"state":{"desired":{}},"version":-1}`, 400, "Invalid version"},
		{`{"state":{"desired":{}},"clientToken":1}`, 400, "Invalid clientToken"},
		{`{"state":{"desired":{}},"clientToken":"` + strings.Repeat("x", 65) + `"}`, 400, "Invalid clientToken"},
		{deep, 400, "JSON contains too many levels of nesting; maximum is 6"},
		{`{"state":{"desired":{"a":"` + strings.Repeat("x", DefaultShadowMaxBytes) + `"}}}`, 413, "The payload exceeds the maximum size allowed"},
	}
	for _, tc := range cases {
		_, rej := ParseShadowUpdate([]byte(tc.payload), DefaultShadowMaxBytes)
		if rej == nil || rej.Code != tc.code || rej.Message != tc.msg {
			t.Errorf("%.60s: got %v, want %d %s", tc.payload, rej, tc.code, tc.msg)
		}
	}
}

func TestShadowStateSizeLimit(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 600)
	var cur Document
	var rej *ShadowError
	for i := 0; i < 20 && rej == nil; i++ {
		u, r := ParseShadowUpdate([]byte(`{"state":{"reported":{"k`+string(rune('a'+i))+`":"`+big+`"}}}`), 1<<20)
		if r != nil {
			t.Fatal(r)
		}
		cur, _, rej = applyUpdate(cur, u, 1, 8<<10)
	}
	if rej == nil || rej.Code != 413 {
		t.Fatalf("a state past 8 KiB: got %v, want 413", rej)
	}
}

func TestParseShadowRequest(t *testing.T) {
	t.Parallel()
	for _, p := range []string{``, ` `, `{}`, `{"clientToken":"a"}`} {
		if _, rej := ParseShadowRequest([]byte(p)); rej != nil {
			t.Errorf("%q: %v", p, rej)
		}
	}
	for _, p := range []string{`x`, `1`, `{"clientToken":2}`} {
		if _, rej := ParseShadowRequest([]byte(p)); rej == nil || rej.Code != 400 {
			t.Errorf("%q: got %v, want 400", p, rej)
		}
	}
}

func FuzzShadowUpdate(f *testing.F) {
	for _, s := range []string{
		`{"state":{"reported":{"temp":21}}}`,
		`{"state":{"desired":{"a":{"b":[1,2,{"c":null}]}},"reported":null},"version":3,"clientToken":"x"}`,
		`{"state":{"desired":{"a":1e400}}}`,
		`{"state":{"desired":{"a":-0.0,"b":"\u0000"}}}`,
		`{"state":{"desired":null}}`,
		`[]`, `null`, `{"state":{"reported":{"a":{"b":{"c":{"d":{"e":{"f":1}}}}}}}}`,
	} {
		f.Add([]byte(s), []byte(`{"state":{"reported":{"temp":20},"desired":{"temp":22}}}`))
	}
	f.Fuzz(func(t *testing.T, first, second []byte) {
		var cur Document
		for i, p := range [][]byte{first, second} {
			u, rej := ParseShadowUpdate(p, DefaultShadowMaxBytes)
			if rej != nil {
				if rej.Code != 400 && rej.Code != 413 {
					t.Fatalf("parse: unexpected code %d", rej.Code)
				}
				continue
			}
			next, acc, rej := applyUpdate(cur, u, int64(i), DefaultShadowMaxBytes)
			if rej != nil {
				if rej.Code != 413 {
					t.Fatalf("apply: unexpected code %d", rej.Code)
				}
				continue
			}
			if next.Version != cur.Version+1 || acc.Version != next.Version {
				t.Fatalf("versions: cur %d next %d accepted %d", cur.Version, next.Version, acc.Version)
			}
			// The stored form reads back to the same document.
			raw, err := json.Marshal(next)
			if err != nil {
				t.Fatal(err)
			}
			v, err := decodeJSON(raw)
			if err != nil {
				t.Fatalf("stored form does not decode: %v", err)
			}
			var back Document
			if err := fillDocument(&back, v); err != nil {
				t.Fatal(err)
			}
			if js(back) != js(next) {
				t.Fatalf("round trip: %s != %s", js(back), js(next))
			}
			if !sameShape(next.State.Desired, next.Metadata.Desired) || !sameShape(next.State.Reported, next.Metadata.Reported) {
				t.Fatalf("metadata does not mirror state: %s", raw)
			}
			// The delta only holds desired leaves that reported lacks or differs on.
			if d := delta(next.State.Desired, next.State.Reported); d != nil {
				if len(delta(d, next.State.Reported)) == 0 {
					t.Fatalf("delta %s agrees with reported", js(d))
				}
			}
			cur = next
		}
	})
}

func FuzzShadowRequest(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"clientToken":"a","version":3}`, `{"clientToken":1}`, `{"version":-1}`, `[`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		r, rej := ParseShadowRequest(payload)
		if rej != nil {
			if rej.Code != 400 {
				t.Fatalf("code %d", rej.Code)
			}
			return
		}
		if r.ClientToken != nil && len(*r.ClientToken) > MaxClientTokenLen {
			t.Fatalf("token of %d bytes accepted", len(*r.ClientToken))
		}
		if r.Version != nil && *r.Version < 0 {
			t.Fatalf("version %d accepted", *r.Version)
		}
	})
}
