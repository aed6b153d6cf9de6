package rest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/connectors"
)

// echo answers with what it received, as JSON.
func echo(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"method": r.Method, "path": r.URL.EscapedPath(), "query": r.URL.RawQuery,
		"contentType": r.Header.Get("Content-Type"), "body": string(body),
		"xStatic": r.Header.Get("X-Static"), "xOp": r.Header.Get("X-Op"), "xDyn": r.Header.Get("X-Dyn"),
		"traceparent": r.Header.Get("Traceparent"), "accept": r.Header.Get("Accept"),
	})
}

func argsTemplate(key string) connectors.Template {
	return func(scope map[string]any) (any, error) {
		args, _ := scope["args"].(map[string]any)
		if key == "" {
			return args, nil
		}
		return args[key], nil
	}
}

func TestCallRequests(t *testing.T) {
	t.Parallel()
	srv := server(t, echo)
	operations := map[string]connectors.Operation{
		"get":      {Static: map[string]any{"path": "/customers/{id}", "headers": map[string]any{"X-Op": "op"}}},
		"list":     {Static: map[string]any{"path": "/orders?customer={customer}", "query": map[string]any{"limit": "10", "tag": "{tag}"}}},
		"dynQuery": {Static: map[string]any{"path": "/q"}, Dynamic: map[string]connectors.Template{"query.status": argsTemplate("status")}},
		"create": {Static: map[string]any{"method": "POST", "path": "/orders"},
			Dynamic: map[string]connectors.Template{"body": argsTemplate(""), "headers.X-Dyn": argsTemplate("id")}},
		"field": {Static: map[string]any{"method": "PUT", "path": "/o", "body": map[string]any{"kind": "order"}},
			Dynamic: map[string]connectors.Template{"body.customer.id": argsTemplate("id")}},
		"form": {Static: map[string]any{"method": "POST", "path": "/token", "bodyType": "form"},
			Dynamic: map[string]connectors.Template{"body": argsTemplate("")}},
		"static": {Static: map[string]any{"method": "post", "path": "/s", "body": []any{1, "two"}}},
	}
	c, _ := connect(t, map[string]any{"baseURL": srv.URL + "/api/", "headers": map[string]any{"X-Static": "s", "X-Op": "config"}}, operations, connectors.Options{})
	tests := []struct {
		name, op string
		args     map[string]any
		want     map[string]any // fields of the echo
	}{
		{"path escaping", "get", map[string]any{"id": "a b/c"}, map[string]any{"method": "GET", "path": "/api/customers/a%20b%2Fc", "xStatic": "s", "xOp": "op", "accept": "application/json"}},
		{"query escaping", "list", map[string]any{"customer": "x&y", "tag": "a b"}, map[string]any{"path": "/api/orders", "query": "customer=x%26y&limit=10&tag=a+b"}},
		{"dynamic query list", "dynQuery", map[string]any{"status": []any{"open", "on hold"}}, map[string]any{"query": "status=open&status=on+hold"}},
		{"dynamic query null", "dynQuery", map[string]any{}, map[string]any{"query": ""}},
		{"json body and dynamic header", "create", map[string]any{"id": "c1", "n": 2.5}, map[string]any{"method": "POST", "contentType": "application/json", "body": `{"id":"c1","n":2.5}`, "xDyn": "c1"}},
		{"body field", "field", map[string]any{"id": 7}, map[string]any{"method": "PUT", "body": `{"customer":{"id":7},"kind":"order"}`}},
		{"form body", "form", map[string]any{"grant": "x y", "scope": []any{"a", "b"}}, map[string]any{"contentType": "application/x-www-form-urlencoded", "body": "grant=x+y&scope=a&scope=b"}},
		{"static body", "static", nil, map[string]any{"method": "POST", "body": `[1,"two"]`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, err := call(t, c, tc.op, tc.args)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := resp.Body.(map[string]any)
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
	t.Run("traceparent", func(t *testing.T) {
		t.Parallel()
		const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
		resp, err := c.Call(context.Background(), connectors.Request{Operation: "get", Args: map[string]any{"id": "1"}, Traceparent: tp})
		if err != nil || resp.Body.(map[string]any)["traceparent"] != tp {
			t.Fatalf("traceparent not passed: %v %v", resp, err)
		}
	})
	t.Run("invalid calls", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			op   string
			args map[string]any
			want string
		}{
			{"get", nil, `"id"`},
			{"list", map[string]any{"customer": "x"}, `"tag"`},
			{"nope", nil, "unknown operation"},
			{"create", map[string]any{"id": "a\nb"}, "X-Dyn"},
			{"create", map[string]any{"f": func() {}}, "JSON"},
		} {
			_, err := call(t, c, tc.op, tc.args)
			if ce := wantKind(t, err, connectors.KindInvalid); !strings.Contains(ce.Message, tc.want) {
				t.Errorf("%s: message %q does not name %s", tc.op, ce.Message, tc.want)
			}
		}
	})
}

func TestResponses(t *testing.T) {
	t.Parallel()
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/json":
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			_, _ = io.WriteString(w, `{"a":[1,true,null],"b":"x"}`)
		case "/problem":
			w.Header().Set("Content-Type", "application/problem+json")
			_, _ = io.WriteString(w, `{"title":"t"}`)
		case "/text":
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "hello")
		case "/empty":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNoContent)
		case "/bad":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"a":`)
		}
	})
	c, _ := connect(t, map[string]any{"baseURL": srv.URL}, ops(map[string]map[string]any{
		"json": {"path": "/json"}, "problem": {"path": "/problem"}, "text": {"path": "/text"},
		"empty": {"path": "/empty"}, "bad": {"path": "/bad"}, "head": {"method": "HEAD", "path": "/json"},
	}), connectors.Options{})
	tests := []struct {
		op   string
		want any
	}{
		{"json", map[string]any{"a": []any{1.0, true, nil}, "b": "x"}},
		{"problem", map[string]any{"title": "t"}},
		{"text", "hello"},
		{"empty", nil},
		{"head", nil},
	}
	for _, tc := range tests {
		resp, err := call(t, c, tc.op, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.op, err)
		}
		if !reflect.DeepEqual(resp.Body, tc.want) {
			t.Errorf("%s: body %#v, want %#v", tc.op, resp.Body, tc.want)
		}
	}
	_, err := call(t, c, "bad", nil)
	wantKind(t, err, connectors.KindBadResponse)
}

func TestStatusMapping(t *testing.T) {
	t.Parallel()
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		code := map[string]int{"/missing": 404, "/gone": 410, "/busy": 503, "/moved": 302, "/conflict": 409}[r.URL.Path]
		if code == 302 {
			w.Header().Set("Location", "https://elsewhere.example/")
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, `{"error":"e"}`)
	})
	c, _ := connect(t, map[string]any{"baseURL": srv.URL, "statuses": map[string]any{"410": nil, "4xx": "error"}}, ops(map[string]map[string]any{
		"missing":      {"path": "/missing"},
		"missingEmpty": {"path": "/missing", "statuses": map[string]any{"404": nil}},
		"missingOK":    {"path": "/missing", "statuses": map[string]any{"4xx": "ok"}},
		"gone":         {"path": "/gone"},
		"busy":         {"path": "/busy"},
		"moved":        {"path": "/moved"},
		"conflict":     {"path": "/conflict", "statuses": map[string]any{"4xx": "ok", "409": "error"}},
	}), connectors.Options{})
	tests := []struct {
		op        string
		status    int
		kind      connectors.ErrorKind // "" for success
		body      any
		retryable bool
	}{
		{"missing", 404, connectors.KindStatus, map[string]any{"error": "e"}, false},
		{"missingEmpty", 404, "", nil, false},
		{"missingOK", 404, "", map[string]any{"error": "e"}, false},
		{"gone", 410, "", nil, false},
		{"busy", 503, connectors.KindStatus, map[string]any{"error": "e"}, true},
		{"moved", 302, "", map[string]any{"error": "e"}, false},
		{"conflict", 409, connectors.KindStatus, map[string]any{"error": "e"}, false},
	}
	for _, tc := range tests {
		resp, err := call(t, c, tc.op, nil)
		if tc.kind == "" {
			if err != nil || resp.Status != tc.status || !reflect.DeepEqual(resp.Body, tc.body) {
				t.Errorf("%s: %+v, %v; want status %d body %v", tc.op, resp, err, tc.status, tc.body)
			}
			continue
		}
		ce := wantKind(t, err, tc.kind)
		if ce.Status != tc.status || !reflect.DeepEqual(ce.Body, tc.body) || ce.Retryable() != tc.retryable {
			t.Errorf("%s: %+v; want status %d body %v retryable %v", tc.op, ce, tc.status, tc.body, tc.retryable)
		}
	}
}

func TestTimeouts(t *testing.T) {
	t.Parallel()
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slowbody" {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
		}
		<-r.Context().Done() // hold until the client gives up
	})
	c, _ := connect(t, map[string]any{"baseURL": srv.URL, "timeout": "50ms"}, ops(map[string]map[string]any{
		"slow": {"path": "/slow"}, "slowbody": {"path": "/slowbody"},
	}), connectors.Options{})
	long, _ := connect(t, map[string]any{"baseURL": srv.URL, "timeout": "1h"}, ops(map[string]map[string]any{"slow": {"path": "/slow"}}), connectors.Options{})
	tests := []struct {
		name string
		c    connectors.Connector
		op   string
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{"config timeout", c, "slow", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }},
		{"config timeout while reading", c, "slowbody", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }},
		{"ctx deadline", long, "slow", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := tc.ctx()
			defer cancel()
			_, err := tc.c.Call(ctx, connectors.Request{Operation: tc.op})
			wantKind(t, err, connectors.KindTimeout)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%v is not context.DeadlineExceeded", err)
			}
		})
	}
}

func TestUnavailable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	c, _ := connect(t, map[string]any{"baseURL": "http://" + addr}, ops(map[string]map[string]any{"get": {"path": "/"}}), connectors.Options{})
	_, err = call(t, c, "get", nil)
	if ce := wantKind(t, err, connectors.KindUnavailable); !ce.Retryable() {
		t.Errorf("unavailable is not retryable")
	}
}

func TestResponseSizeLimit(t *testing.T) {
	t.Parallel()
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		n := map[string]int{"/fits": 100, "/over": 101, "/chunked": 101}[r.URL.Path]
		if r.URL.Path == "/chunked" {
			_, _ = io.WriteString(w, strings.Repeat("x", 50))
			w.(http.Flusher).Flush() // no Content-Length: the limit applies while reading
			n -= 50
		}
		_, _ = io.WriteString(w, strings.Repeat("x", n))
	})
	c, _ := connect(t, map[string]any{"baseURL": srv.URL, "maxResponseBytes": 100}, ops(map[string]map[string]any{
		"fits": {"path": "/fits"}, "over": {"path": "/over"}, "chunked": {"path": "/chunked"},
	}), connectors.Options{})
	if resp, err := call(t, c, "fits", nil); err != nil || len(resp.Body.(string)) != 100 {
		t.Fatalf("100 bytes within a 100-byte limit: %v", err)
	}
	for _, op := range []string{"over", "chunked"} {
		_, err := call(t, c, op, nil)
		wantKind(t, err, connectors.KindBadResponse)
	}
}

func TestIdempotent(t *testing.T) {
	t.Parallel()
	c, _ := connect(t, map[string]any{"baseURL": "http://127.0.0.1:1"}, ops(map[string]map[string]any{
		"get": {"path": "/"}, "post": {"method": "POST", "path": "/"}, "put": {"method": "PUT", "path": "/"},
		"safePost": {"method": "POST", "path": "/", "idempotent": true}, "unsafeGet": {"path": "/", "idempotent": false},
	}), connectors.Options{})
	want := map[string]bool{"get": true, "post": false, "put": true, "safePost": true, "unsafeGet": false, "unknown": false}
	for op, w := range want {
		if got := c.Idempotent(op); got != w {
			t.Errorf("Idempotent(%s) = %v, want %v", op, got, w)
		}
	}
}
