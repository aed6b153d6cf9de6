package api

import (
	"context"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
)

// FuzzBatchPayload decodes arbitrary bodies as POST /v1/batch does and
// checks that a refused batch is a 4xx problem, that a refused operation
// is a 400 naming one of its own fields, and that an accepted operation
// is a request for an object route only: one of the five methods, a
// clean /v1/collections/{col}/objects[/{id}] path, the allowed headers,
// the operation's body, and routing state of its own.
func FuzzBatchPayload(f *testing.F) {
	for _, s := range []string{
		`{"operations": [{"method": "POST", "path": "/v1/collections/todos/objects", "body": {"title": "a"}}]}`,
		`{"operations": [{"method": "PATCH", "path": "/v1/collections/todos/objects/a", "body": {"n": null}, "headers": {"If-Match": "\"2\"", "Content-Type": "application/merge-patch+json"}}]}`,
		`{"operations": [{"method": "GET", "path": "/v1/collections/todos/objects?filter=%7B%7D&sort=-n"}, {"method": "DELETE", "path": "/v1/collections/todos/objects/a"}]}`,
		`{"operations": [{"method": "GET", "path": "/v1/auth/me"}]}`,
		`{"operations": [{"method": "GET", "path": "/v1/collections/x/objects/../../../batch"}]}`,
		`{"operations": [{"method": "GET", "path": "//evil/v1/collections/x/objects"}]}`,
		`{"operations": [{"method": "GET", "path": "/v1/collections/x/objects/%2F..%2F"}]}`,
		`{"operations": [{"method": "BREW", "path": "", "headers": {"Authorization": "x", "If-None-Match": "*\r\n"}}]}`,
		`{"operations": [null, {}, {"method": 1}]}`, `{"operations": []}`, `{"operations": null}`, `{}`, `[]`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req batchRequest
		if err := decodeJSONBytes(body, &req); err != nil {
			checkClientProblem(t, body, err)
			return
		}
		if err := checkBatchSize(len(req.Operations)); err != nil {
			if p := checkClientProblem(t, body, err); len(p.Errors) != 1 || p.Errors[0].Field != "operations" {
				t.Fatalf("%q: batch size problem %+v", body, p)
			}
			return
		}
		parent := context.WithValue(context.Background(), chi.RouteCtxKey, chi.NewRouteContext())
		for i, op := range req.Operations {
			sub, err := batchSubRequest(parent, i, op)
			if err != nil {
				p := checkClientProblem(t, body, err)
				prefix := "operations[" + strconv.Itoa(i) + "]."
				if p.Status != http.StatusBadRequest || len(p.Errors) == 0 {
					t.Fatalf("%q: operation %d refused with %+v", body, i, p)
				}
				for _, fe := range p.Errors {
					if !strings.HasPrefix(fe.Field, prefix) {
						t.Fatalf("%q: operation %d names %q", body, i, fe.Field)
					}
				}
				continue
			}
			switch sub.Method {
			case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
			default:
				t.Fatalf("%q: method %q accepted", body, sub.Method)
			}
			p := sub.URL.Path
			rest, ok := strings.CutPrefix(p, batchCollectionsPrefix)
			segs := strings.Split(rest, "/")
			if !ok || path.Clean(p) != p || sub.URL.Host != "" || (len(segs) != 2 && len(segs) != 3) || segs[1] != "objects" {
				t.Fatalf("%q: path %q accepted", body, sub.URL.String())
			}
			if raw := sub.URL.RawPath; raw != "" && !strings.HasPrefix(raw, batchCollectionsPrefix) {
				t.Fatalf("%q: raw path %q accepted", body, raw)
			}
			for k := range sub.Header {
				if !batchRequestHeaders[k] {
					t.Fatalf("%q: header %q passed", body, k)
				}
			}
			if rc := chi.RouteContext(sub.Context()); rc == nil || rc == chi.RouteContext(parent) || rc.RoutePattern() != "" || len(rc.URLParams.Keys) != 0 {
				t.Fatalf("%q: the operation has no fresh routing state", body)
			}
			got, _ := io.ReadAll(sub.Body)
			want := strings.TrimSpace(string(op.Body))
			if want == "null" {
				want = ""
			}
			if string(got) != want {
				t.Fatalf("%q: body %q, want %q", body, got, want)
			}
		}
	})
}
