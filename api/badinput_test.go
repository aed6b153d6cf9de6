package api

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// TestEveryRouteAnswersBadInputWithProblems walks every registered route
// and sends it bad input: no credentials, bad credentials, malformed and
// mistyped JSON, unknown fields, wrong content types, wrong methods, bodies
// over the limit and bad ids. Every 4xx/5xx answer must be a complete
// problem+json, and none may be a 500.
func TestEveryRouteAnswersBadInputWithProblems(t *testing.T) {
	t.Parallel()
	const limit = 8 << 10
	e := newTestEnv(t, envOptions{cfg: Config{MaxBodyBytes: limit}})
	tok := e.login()
	app := e.createApp(tok, "Walked")
	devKey, devServer := app.keys(t, "dev")

	// Credentials: what each route family needs, and wrong versions.
	good := map[string]string{"Authorization": "Bearer " + tok, AppKeyHeader: devKey, ServerKeyHeader: devServer}
	credentials := []map[string]string{
		{},
		{"Authorization": "Bearer " + tok + "x", AppKeyHeader: devKey + "x"},
		{"Authorization": "Token " + tok, AppKeyHeader: devKey, ServerKeyHeader: "sbs_wrong"},
		good,
	}
	bodies := []struct {
		body  string
		ctype string
	}{
		{"", ""},
		{`{`, "application/json"},
		{`{"name": }`, "application/json"},
		{`[]`, "application/json"},
		{`{"name": 12, "key": ["x"], "graceSeconds": "soon", "email": {}, "password": null}`, "application/json"},
		{`{"name": "ok"}`, "application/json"},
		{`{"name": "ok"}`, "application/json; charset=utf-8"}, // a repeat: 409 where names are unique
		{`{"name": "ok", "unexpected": true}`, "application/json"},
		{`{"name": "ok"} trailing`, "application/json"},
		{`name=ok`, "application/x-www-form-urlencoded"},
		{`{"name": "ok"}`, "text/plain"},
		{`{"name": "ok"}`, ""},
		{"\xff\xfe\x00", "application/json"},
		{`{"name": "` + strings.Repeat("x", limit) + `"}`, "application/json"},
	}
	ids := []string{app.ID, "does-not-exist", "%00", "%2e%2e%2fsystem", strings.Repeat("i", 2000), "dev", "x%20y", "%F0%9F%98%80"}
	paramRe := regexp.MustCompile(`\{[^}]+\}`)

	type call struct {
		method, path, body, ctype string
		headers                   map[string]string
	}
	var calls []call
	for route := range routeSet(t, e.api.Routes()) {
		method, pattern, _ := strings.Cut(route, " ")
		paths := []string{pattern}
		if paramRe.MatchString(pattern) {
			paths = nil
			for _, id := range ids {
				paths = append(paths, paramRe.ReplaceAllString(pattern, id))
			}
		}
		for _, path := range paths {
			for _, creds := range credentials {
				for _, b := range bodies {
					calls = append(calls, call{method, path, b.body, b.ctype, creds})
				}
			}
			// Wrong methods.
			for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE", "BREW"} {
				if m != method {
					calls = append(calls, call{m, path, `{}`, "application/json", good})
				}
			}
		}
	}
	for _, path := range []string{"/", "/nope", "/v1", "/v1/", "/v1/nope/deeper", "/admin", "/admin/api", "/admin/api/nope", "/healthz/x", "/a/../v1/x", "/v1//x"} {
		for _, creds := range credentials {
			calls = append(calls, call{"GET", path, "", "", creds}, call{"POST", path, `{"name":"x"}`, "application/json", creds})
		}
	}

	seen := map[int]int{}
	for _, c := range calls {
		req, err := http.NewRequestWithContext(t.Context(), c.method, e.srv.URL+c.path, strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		if c.ctype != "" {
			req.Header.Set("Content-Type", c.ctype)
		}
		for k, v := range c.headers {
			req.Header.Set(k, v)
		}
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", c.method, c.path, err)
		}
		seen[resp.StatusCode]++
		where := fmt.Sprintf("%s %.80s (content type %q, headers %v)", c.method, c.path, c.ctype, len(c.headers))
		if resp.StatusCode >= 500 {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.Errorf("%s: %d %s", where, resp.StatusCode, body)
			continue
		}
		if resp.StatusCode < 400 {
			resp.Body.Close()
			continue
		}
		if _, err := readProblem(resp, 0); err != nil {
			t.Errorf("%s: %v", where, err)
		}
	}
	t.Logf("%d calls; statuses %v", len(calls), seen)
	for _, st := range []int{400, 401, 404, 405, 409, 413, 415} {
		if seen[st] == 0 {
			t.Errorf("no call was answered %d: the walk missed a class of bad input", st)
		}
	}
}
