package api

import (
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
)

// routeSet lists the (METHOD path) pairs of the router.
func routeSet(t *testing.T, routes chi.Routes) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	err := chi.Walk(routes, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		out[method+" "+route] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// openAPIDoc fetches and decodes /v1/openapi.json without a key.
func openAPIDoc(t *testing.T, e *testEnv) map[string]any {
	t.Helper()
	var doc map[string]any
	e.json(request{method: "GET", path: "/v1/openapi.json"}, 200, &doc)
	return doc
}

func TestOpenAPIMatchesRouter(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	doc := openAPIDoc(t, e)
	documented := map[string]bool{}
	for path, ops := range doc["paths"].(map[string]any) {
		for method := range ops.(map[string]any) {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	routed := routeSet(t, e.api.Routes())
	var missing, phantom []string
	for r := range routed {
		if !documented[r] {
			missing = append(missing, r)
		}
	}
	for d := range documented {
		if !routed[d] {
			phantom = append(phantom, d)
		}
	}
	sort.Strings(missing)
	sort.Strings(phantom)
	if len(missing) > 0 {
		t.Errorf("routes missing from the OpenAPI document: %v", missing)
	}
	if len(phantom) > 0 {
		t.Errorf("documented routes the router lacks: %v", phantom)
	}
	for _, want := range []string{"GET /healthz", "GET /readyz", "GET /metrics", "GET /v1/openapi.json", "POST /admin/api/login",
		"GET /admin/api/apps", "POST /admin/api/apps", "GET /admin/api/apps/{id}", "POST /admin/api/apps/{id}/environments",
		"POST /admin/api/apps/{id}/environments/{env}/keys/rotate"} {
		if !routed[want] {
			t.Errorf("the router lacks %s", want)
		}
	}
}

func TestOpenAPIDocumentIsConsistent(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	doc := openAPIDoc(t, e)
	if doc["openapi"] != "3.1.0" || doc["info"].(map[string]any)["version"] != "test" {
		t.Errorf("openapi %v, info %v", doc["openapi"], doc["info"])
	}
	components := doc["components"].(map[string]any)
	schemes := components["securitySchemes"].(map[string]any)
	for name, header := range map[string]string{schemeAppKey: AppKeyHeader, schemeServerKey: ServerKeyHeader} {
		s, _ := schemes[name].(map[string]any)
		if s["type"] != "apiKey" || s["in"] != "header" || s["name"] != header {
			t.Errorf("security scheme %s = %v", name, s)
		}
	}
	if b, _ := schemes[schemeBearer].(map[string]any); b["scheme"] != "bearer" {
		t.Errorf("bearer scheme = %v", b)
	}
	problem := components["schemas"].(map[string]any)["Problem"].(map[string]any)
	for _, f := range []string{"type", "title", "status", "detail", "instance", "errors"} {
		if _, ok := problem["properties"].(map[string]any)[f]; !ok {
			t.Errorf("Problem schema lacks %s", f)
		}
	}

	// Every $ref resolves.
	raw, _ := json.Marshal(doc)
	for _, m := range regexp.MustCompile(`"\$ref":"#/([^"]+)"`).FindAllStringSubmatch(string(raw), -1) {
		var node any = doc
		for _, part := range strings.Split(m[1], "/") {
			obj, ok := node.(map[string]any)
			if !ok {
				node = nil
				break
			}
			node = obj[part]
		}
		if node == nil {
			t.Errorf("unresolved $ref #/%s", m[1])
		}
	}

	ids := map[string]string{}
	paramRe := regexp.MustCompile(`\{([^}]+)\}`)
	for path, ops := range doc["paths"].(map[string]any) {
		for method, o := range ops.(map[string]any) {
			op := o.(map[string]any)
			where := strings.ToUpper(method) + " " + path
			id, _ := op["operationId"].(string)
			if id == "" || ids[id] != "" {
				t.Errorf("%s: operationId %q missing or shared with %s", where, id, ids[id])
			}
			ids[id] = where
			declared := map[string]bool{}
			if params, ok := op["parameters"].([]any); ok {
				for _, p := range params {
					pm := p.(map[string]any)
					if pm["in"] == "path" {
						declared[pm["name"].(string)] = true
					}
				}
			}
			for _, m := range paramRe.FindAllStringSubmatch(path, -1) {
				if !declared[m[1]] {
					t.Errorf("%s: path parameter %s not declared", where, m[1])
				}
			}
			responses := op["responses"].(map[string]any)
			if responses["4XX"] == nil || responses["5XX"] == nil {
				t.Errorf("%s: errors are not documented as problems", where)
			}
			success := false
			for code := range responses {
				success = success || strings.HasPrefix(code, "2")
			}
			if !success {
				t.Errorf("%s: no success response", where)
			}
			sec, _ := op["security"].([]any)
			needsBearer := strings.HasPrefix(path, "/admin/api/") && path != "/admin/api/login"
			if needsBearer != (len(sec) == 1 && sec[0].(map[string]any)[schemeBearer] != nil) {
				t.Errorf("%s: security %v", where, sec)
			}
		}
	}
}
