package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzDeployPayload: the decoders of the deployments POST body and the
// variables PUT body never panic, accept only what they can use, and
// answer anything else with a 400 problem that names the field when the
// body is a JSON object with a bad field.
func FuzzDeployPayload(f *testing.F) {
	for _, seed := range []string{
		`{"files": {"a.yaml": "kind: Flow\nname: a\n"}}`,
		`{"files": {}}`,
		`{"files": null}`,
		`{"files": {"a.yaml": 1}}`,
		`{"files": ["a.yaml"]}`,
		`{"files": "a.yaml"}`,
		`{"file": {}}`,
		`{"A": 1, "B": {"c.d": [1, 2.5, "x", null, true]}}`,
		`null`, `[]`, `{`, `"x"`, `{"a": 1} {}`, ``, "\xff",
		`{"files": {"a.yaml": "\u0000"}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		newReq := func() *http.Request {
			r := httptest.NewRequest("POST", "/x", bytes.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			return r
		}
		var obj map[string]json.RawMessage
		isObject := json.Unmarshal(body, &obj) == nil && obj != nil

		req, err := decodeDeployRequest(newReq())
		if err == nil {
			if req.Files == nil {
				t.Fatalf("accepted %q without files", body)
			}
		} else {
			p := problemFor(err)
			if p.Status != http.StatusBadRequest {
				t.Fatalf("deploy body %q: status %d (%v)", body, p.Status, err)
			}
			if isObject && len(p.Errors) == 0 && !strings.Contains(p.Detail, "invalid JSON") && !strings.Contains(p.Detail, "ends early") && !strings.Contains(p.Detail, "after the JSON value") {
				t.Fatalf("deploy body %q: problem names no field: %+v", body, p)
			}
		}

		vars, err := decodeVariables(newReq())
		if err == nil {
			if vars == nil || !isObject {
				t.Fatalf("variables %q accepted as %v", body, vars)
			}
			return
		}
		if p := problemFor(err); p.Status != http.StatusBadRequest || errors.Is(err, ErrInvalidInput) && len(p.Errors) == 0 {
			t.Fatalf("variables body %q: %+v (%v)", body, p, err)
		}
	})
}
