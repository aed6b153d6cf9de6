package api

import (
	"strings"
	"testing"
)

// FuzzPurgeRequest: any body either decodes into a purge that names
// something within the bounds, or is refused with a client error that
// names a field or the body; it never panics.
func FuzzPurgeRequest(f *testing.F) {
	for _, seed := range []string{
		`{"tags":["collection:rates"]}`,
		`{"keys":["obj:rates:EUR"],"tags":["a","b"],"all":false}`,
		`{"all":true}`,
		`{}`,
		`{"keys":[""]}`,
		`{"keys":"x"}`,
		`{"every":1}`,
		`[1,2]`,
		`{"tags":["a\nb"]}`,
		`nul`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := parsePurge(body)
		if err != nil {
			if p := problemFor(err); p.Status != 400 {
				t.Fatalf("body %q: status %d (%v)", body, p.Status, err)
			}
			return
		}
		if len(req.Keys) == 0 && len(req.Tags) == 0 && !req.All {
			t.Fatalf("accepted an empty purge: %q", body)
		}
		for _, s := range append(req.Keys, req.Tags...) {
			if s == "" || len(s) > maxPurgeLength || strings.ContainsAny(s, "\x00\r\n") {
				t.Fatalf("accepted item %q", s)
			}
		}
		if len(req.Keys) > maxPurgeItems || len(req.Tags) > maxPurgeItems {
			t.Fatal("accepted too many items")
		}
	})
}
