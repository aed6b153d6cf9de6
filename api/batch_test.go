package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/skybridgehq/skybridge/internal/testenv/teststore"
)

// POST /v1/batch is tested end to end over HTTP on both store adapters.

func TestBatchSQLite(t *testing.T) {
	t.Parallel()
	runBatch(t, newSettingsEnv(t, teststore.SQLite(t)))
}

func TestBatchFerretDB(t *testing.T) {
	t.Parallel()
	runBatch(t, newSettingsEnv(t, teststore.FerretDB(t)))
}

func runBatch(t *testing.T, e *settingsEnv) {
	for _, s := range []struct {
		name string
		run  func(*testing.T, *settingsEnv)
	}{
		{"MixedOperations", testBatchMixed},
		{"Limits", testBatchLimits},
		{"BadOperations", testBatchBadOperations},
		{"Callers", testBatchCallers},
		{"IdempotencyKeys", testBatchIdempotency},
	} {
		t.Run(s.name, func(t *testing.T) { s.run(t, e.withT(t)) })
	}
}

// batchAnswer mirrors batchResponse.
type batchAnswer struct {
	Results []struct {
		Status  int               `json:"status"`
		Body    json.RawMessage   `json:"body"`
		Headers map[string]string `json:"headers"`
	} `json:"results"`
}

// batch sends a batch with headers h and expects a 200.
func (e *settingsEnv) batch(h map[string]string, ops ...map[string]any) batchAnswer {
	e.t.Helper()
	status, data := e.callWith(h, "POST", "/v1/batch", map[string]any{"operations": ops})
	if status != http.StatusOK {
		e.t.Fatalf("batch: %d %s", status, data)
	}
	var out batchAnswer
	if err := json.Unmarshal(data, &out); err != nil {
		e.t.Fatal(err)
	}
	if len(out.Results) != len(ops) {
		e.t.Fatalf("batch of %d answered %d results: %s", len(ops), len(out.Results), data)
	}
	return out
}

// userHeaders are the headers of a call by the user with token in env.
func (e *settingsEnv) userHeaders(env, token string) map[string]string {
	h := map[string]string{AppKeyHeader: e.key(env)}
	if token != "" {
		h["Authorization"] = "Bearer " + token
	}
	return h
}

func op(method, path string, body any, headers ...string) map[string]any {
	o := map[string]any{"method": method, "path": path}
	if body != nil {
		o["body"] = body
	}
	if len(headers) > 0 {
		h := map[string]string{}
		for i := 0; i+1 < len(headers); i += 2 {
			h[headers[i]] = headers[i+1]
		}
		o["headers"] = h
	}
	return o
}

// wantStatuses fails unless the results have the given statuses.
func wantStatuses(t *testing.T, out batchAnswer, want ...int) {
	t.Helper()
	for i, w := range want {
		if out.Results[i].Status != w {
			t.Fatalf("operation %d: status %d, want %d; body %s", i, out.Results[i].Status, w, out.Results[i].Body)
		}
	}
}

// resultProblem decodes the problem of result i, checking its type.
func resultProblem(t *testing.T, out batchAnswer, i int) Problem {
	t.Helper()
	var p Problem
	if err := json.Unmarshal(out.Results[i].Body, &p); err != nil || p.Status != out.Results[i].Status || !strings.HasPrefix(p.Type, problemTypePrefix) ||
		p.Instance == "" || out.Results[i].Headers["Content-Type"] != ProblemContentType {
		t.Fatalf("operation %d: not a problem: %s %v", i, out.Results[i].Body, out.Results[i].Headers)
	}
	return p
}

func testBatchMixed(t *testing.T, e *settingsEnv) {
	s := e.signup("dev", "batch@example.com", "violet tractor at noon")
	h := e.userHeaders("dev", s.AccessToken)
	const col = "/v1/collections/notes/objects"
	out := e.batch(h,
		op("POST", col, map[string]any{"_id": "a", "title": "first", "n": 1}),
		op("POST", col, map[string]any{"_id": "b", "title": "second", "n": 2}),
		op("GET", col+"/a", nil),
		op("PATCH", col+"/a", map[string]any{"n": 10}, "If-Match", `"1"`),
		op("PUT", col+"/b", map[string]any{"title": "stale"}, "If-Match", `"9"`),
		// 5: taken id
		op("post", col, map[string]any{"_id": "a", "title": "again"}),
		op("PATCH", col+"/a", map[string]any{"tags": nil}, "Content-Type", "application/merge-patch+json"),
		op("DELETE", col+"/b", nil),
		op("GET", col+"/b", nil),
		// 9: not an object route
		op("GET", "/v1/auth/me", nil),
		op("POST", col, "not an object"),
		op("GET", col+"?sort=n&limit=10", nil),
		op("GET", col+"/a", nil, "If-None-Match", `"3"`),
		// 13: no such method
		op("DELETE", col, nil),
	)
	wantStatuses(t, out, 201, 201, 200, 200, 412, 409, 200, 204, 404, 400, 400, 200, 304, 405)
	if r := out.Results[0]; r.Headers["Location"] != col+"/a" || r.Headers["ETag"] != `"1"` || !strings.Contains(string(r.Body), `"_owner":"`+s.User.ID+`"`) {
		t.Errorf("create result = %d %s %v", r.Status, r.Body, r.Headers)
	}
	var a map[string]any
	if err := json.Unmarshal(out.Results[3].Body, &a); err != nil || a["n"] != float64(10) || a["title"] != "first" || out.Results[3].Headers["ETag"] != `"2"` {
		t.Errorf("patched = %s %v", out.Results[3].Body, out.Results[3].Headers)
	}
	for _, i := range []int{4, 5, 8, 9, 10, 13} {
		resultProblem(t, out, i)
	}
	if p := resultProblem(t, out, 9); len(p.Errors) != 1 || p.Errors[0].Field != "operations[9].path" {
		t.Errorf("non-object path problem = %+v", p)
	}
	if out.Results[7].Body == nil || string(out.Results[7].Body) != "null" {
		t.Errorf("delete body = %s", out.Results[7].Body)
	}
	var list struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(out.Results[11].Body, &list); err != nil || len(list.Items) != 1 || list.Items[0]["_id"] != "a" {
		t.Errorf("list result = %s", out.Results[11].Body)
	}
	if out.Results[13].Headers["Allow"] == "" {
		t.Errorf("405 result has no Allow: %v", out.Results[13].Headers)
	}
	// The writes are there for single requests too.
	var got map[string]any
	e.expect("dev", "GET", col+"/a", s.AccessToken, nil, http.StatusOK, &got)
	if got["n"] != float64(10) || got["_v"] != float64(3) {
		t.Errorf("object a = %v", got)
	}
	status, data := e.call("dev", "GET", col+"/b", s.AccessToken, nil)
	wantProblem(t, "deleted b", status, data, http.StatusNotFound)
}

func testBatchLimits(t *testing.T, e *settingsEnv) {
	s := e.signup("dev", "limits@example.com", "violet tractor at noon")
	h := e.userHeaders("dev", s.AccessToken)
	many := make([]map[string]any, MaxBatchOperations+1)
	for i := range many {
		many[i] = op("POST", "/v1/collections/lim/objects", map[string]any{"i": i})
	}
	status, data := e.callWith(h, "POST", "/v1/batch", map[string]any{"operations": many})
	wantProblemField(t, "101 operations", status, data, http.StatusBadRequest, "operations", "")
	// Nothing of the refused batch ran.
	var list struct {
		Items []map[string]any `json:"items"`
	}
	status, _ = e.call("dev", "GET", "/v1/collections/lim/objects", s.AccessToken, nil)
	if status == http.StatusOK {
		e.expect("dev", "GET", "/v1/collections/lim/objects", s.AccessToken, nil, http.StatusOK, &list)
		if len(list.Items) != 0 {
			t.Fatalf("a refused batch wrote %d objects", len(list.Items))
		}
	}
	// Exactly the maximum runs, in order.
	out := e.batch(h, many[:MaxBatchOperations]...)
	for i, r := range out.Results {
		var o map[string]any
		if err := json.Unmarshal(r.Body, &o); r.Status != http.StatusCreated || err != nil || o["i"] != float64(i) {
			t.Fatalf("operation %d = %d %s", i, r.Status, r.Body)
		}
	}
	for _, body := range []string{`{"operations": []}`, `{}`, `{"operations": null}`} {
		status, data := e.callWith(h, "POST", "/v1/batch", body)
		wantProblemField(t, body, status, data, http.StatusBadRequest, "operations", "")
	}
	for _, body := range []string{`{"operations": [{"method": "GET", "path": "/v1/collections/x/objects", "extra": 1}]}`, `{"ops": []}`, `[]`, `{"operations": {}}`, `{`} {
		status, data := e.callWith(h, "POST", "/v1/batch", body)
		wantProblem(t, body, status, data, http.StatusBadRequest)
	}
	// No key: no batch.
	status, data = e.callWith(map[string]string{}, "POST", "/v1/batch", map[string]any{"operations": many[:1]})
	wantProblem(t, "no key", status, data, http.StatusUnauthorized)
}

func testBatchBadOperations(t *testing.T, e *settingsEnv) {
	s := e.signup("dev", "bad@example.com", "violet tractor at noon")
	h := e.userHeaders("dev", s.AccessToken)
	bad := []struct {
		op    map[string]any
		field string
	}{
		{op("GET", "/v1/batch", nil), "path"},
		{op("POST", "/v1/auth/logout", nil), "path"},
		{op("GET", "/v1/collections/x", nil), "path"},
		{op("GET", "/v1/collections/x/objects/a/b", nil), "path"},
		{op("GET", "/v1/collections/x/objects/../../../auth/me", nil), "path"},
		{op("GET", "/v1/collections//objects", nil), "path"},
		{op("GET", "https://evil.example/v1/collections/x/objects", nil), "path"},
		{op("GET", "v1/collections/x/objects", nil), "path"},
		{op("GET", "/v1/collections/x/objects#frag", nil), "path"},
		{op("GET", "/v1/collections/x/objects/%zz", nil), "path"},
		{op("HEAD", "/v1/collections/x/objects", nil), "method"},
		{op("", "/v1/collections/x/objects", nil), "method"},
		{op("GET", "/v1/collections/x/objects", nil, "Authorization", "Bearer x"), "headers.Authorization"},
		{op("GET", "/v1/collections/x/objects", nil, AppKeyHeader, "k"), "headers." + AppKeyHeader},
		{op("GET", "/v1/collections/x/objects", nil, "If-Match", "\"1\"\r\nX: y"), "headers.If-Match"},
	}
	ops := make([]map[string]any, 0, len(bad)+1)
	for _, b := range bad {
		ops = append(ops, b.op)
	}
	ops = append(ops, op("POST", "/v1/collections/ok/objects", map[string]any{"fine": true}))
	out := e.batch(h, ops...)
	for i, b := range bad {
		if out.Results[i].Status != http.StatusBadRequest {
			t.Errorf("operation %d %v: %d %s", i, b.op, out.Results[i].Status, out.Results[i].Body)
			continue
		}
		p := resultProblem(t, out, i)
		want := fmt.Sprintf("operations[%d].%s", i, b.field)
		if len(p.Errors) == 0 || p.Errors[0].Field != want {
			t.Errorf("operation %d %v: problem %+v, want field %s", i, b.op, p, want)
		}
	}
	// The bad ones did not stop the last one.
	if r := out.Results[len(bad)]; r.Status != http.StatusCreated {
		t.Errorf("the good operation after bad ones: %d %s", r.Status, r.Body)
	}
}

// testBatchCallers: each operation runs as the batch's caller, in the
// batch's environment.
func testBatchCallers(t *testing.T, e *settingsEnv) {
	alice := e.signup("dev", "alice.batch@example.com", "violet tractor at noon")
	bob := e.signup("dev", "bob.batch@example.com", "violet tractor at noon")
	const col = "/v1/collections/private/objects"
	out := e.batch(e.userHeaders("dev", alice.AccessToken), op("POST", col, map[string]any{"_id": "mine", "secret": 1}))
	wantStatuses(t, out, http.StatusCreated)
	// Bob cannot read or change Alice's object; an anonymous caller
	// cannot create.
	out = e.batch(e.userHeaders("dev", bob.AccessToken),
		op("GET", col+"/mine", nil),
		op("PATCH", col+"/mine", map[string]any{"secret": 2}),
		op("DELETE", col+"/mine", nil),
	)
	wantStatuses(t, out, 404, 404, 404)
	out = e.batch(e.userHeaders("dev", ""), op("POST", col, map[string]any{"x": 1}))
	if out.Results[0].Status != http.StatusUnauthorized && out.Results[0].Status != http.StatusForbidden {
		t.Errorf("anonymous create: %d %s", out.Results[0].Status, out.Results[0].Body)
	}
	// Another environment does not see dev's object.
	stageUser := e.signup("stage", "alice.batch@example.com", "violet tractor at noon")
	out = e.batch(e.userHeaders("stage", stageUser.AccessToken), op("GET", col+"/mine", nil))
	wantStatuses(t, out, 404)
	// The server key may create collections in prod and bypasses rules.
	_, srvKey := e.app.keys(t, "prod")
	srv := map[string]string{AppKeyHeader: e.key("prod"), ServerKeyHeader: srvKey}
	out = e.batch(srv,
		op("POST", "/v1/collections/audit/objects", map[string]any{"_id": "s1", "by": "server"}),
		op("GET", "/v1/collections/audit/objects/s1", nil),
	)
	wantStatuses(t, out, 201, 200)
}

// testBatchIdempotency: an operation's Idempotency-Key works as on its own
// request, and the replay is marked in the result's headers.
func testBatchIdempotency(t *testing.T, e *settingsEnv) {
	s := e.signup("dev", "idem.batch@example.com", "violet tractor at noon")
	h := e.userHeaders("dev", s.AccessToken)
	const col = "/v1/collections/orders/objects"
	out := e.batch(h,
		op("POST", col, map[string]any{"total": 5}, IdempotencyKeyHeader, "order-1"),
		op("POST", col, map[string]any{"total": 5}, IdempotencyKeyHeader, "order-1"),
		op("POST", col, map[string]any{"total": 6}, IdempotencyKeyHeader, "order-1"),
	)
	wantStatuses(t, out, 201, 201, 422)
	if string(out.Results[0].Body) != string(out.Results[1].Body) || out.Results[1].Headers[IdempotentReplayedHeader] != "true" ||
		out.Results[0].Headers[IdempotentReplayedHeader] != "" {
		t.Errorf("replay = %s %v, first %s %v", out.Results[1].Body, out.Results[1].Headers, out.Results[0].Body, out.Results[0].Headers)
	}
	resultProblem(t, out, 2)
	// A later request on its own gets the same answer.
	status, data := e.callWith(map[string]string{AppKeyHeader: e.key("dev"), "Authorization": "Bearer " + s.AccessToken, IdempotencyKeyHeader: "order-1"},
		"POST", col, map[string]any{"total": 5})
	if status != http.StatusCreated || strings.TrimSpace(string(data)) != string(out.Results[0].Body) {
		t.Errorf("single request after the batch: %d %s", status, data)
	}
}
