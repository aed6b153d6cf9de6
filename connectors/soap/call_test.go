package soap_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/connectors"
)

func TestTimeouts(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read the envelope first: only then does the server notice the
		// client hanging up.
		_, _ = io.Copy(io.Discard, r.Body)
		if r.Header.Get("SOAPAction") == `"slowbody"` {
			_, _ = io.WriteString(w, "<?xml version='1.0'?>")
			w.(http.Flusher).Flush()
		}
		<-r.Context().Done() // hold until the client gives up
	}))
	t.Cleanup(srv.Close)
	operations := ops(map[string]map[string]any{"slow": {"body": "<c:A/>"}, "slowbody": {"action": "slowbody", "body": "<c:A/>"}})
	short, _ := connect(t, config(srv.URL, "1.1", func(c map[string]any) { c["timeout"] = "50ms" }), operations, connectors.Options{})
	long, _ := connect(t, config(srv.URL, "1.1", func(c map[string]any) { c["timeout"] = "1h" }), operations, connectors.Options{})
	tests := []struct {
		name string
		c    connectors.Connector
		op   string
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{"config timeout", short, "slow", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }},
		{"config timeout while reading", short, "slowbody", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }},
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
	c, _ := connect(t, config("http://"+addr+"/ws", "1.2", nil), ops(map[string]map[string]any{"get": getCustomer(nil)}), connectors.Options{})
	_, err = call(t, c, "get", map[string]any{"id": 1})
	if ce := wantKind(t, err, connectors.KindUnavailable); !ce.Retryable() {
		t.Errorf("unavailable is not retryable")
	}
}

// TestResponseSizeLimit: an answer over maxResponseBytes is refused
// whether its Content-Length says so or it only shows while reading.
func TestResponseSizeLimit(t *testing.T) {
	t.Parallel()
	srv := newSOAPServer(t, "1.1", nil)
	const limit = 400
	srv.handle = func(r *received) (int, string) {
		env := srv.reply("<c:R>" + strings.Repeat("x", 100) + "</c:R>")
		pad := limit - len(env)
		if r.action == "over" {
			pad++
		}
		return http.StatusOK, srv.reply("<c:R>" + strings.Repeat("x", 100+pad) + "</c:R>")
	}
	chunked := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, srv.reply("<c:R>"))
		w.(http.Flusher).Flush() // no Content-Length: the limit applies while reading
		_, _ = io.WriteString(w, strings.Repeat("x", limit))
	}))
	t.Cleanup(chunked.Close)
	operations := ops(map[string]map[string]any{"fits": {"action": "fits", "body": "<c:A/>"}, "over": {"action": "over", "body": "<c:A/>"}})
	c, _ := connect(t, config(srv.URL, "1.1", func(c map[string]any) { c["maxResponseBytes"] = limit }), operations, connectors.Options{})
	if resp, err := call(t, c, "fits", nil); err != nil || len(resp.Body.(string)) != 100+limit-len(srv.reply("<c:R>"+strings.Repeat("x", 100)+"</c:R>")) {
		t.Fatalf("an answer of exactly the limit: %v %v", resp, err)
	}
	_, err := call(t, c, "over", nil)
	if ce := wantKind(t, err, connectors.KindBadResponse); !contains(ce.Message, "maxResponseBytes") {
		t.Errorf("message %q", ce.Message)
	}
	cc, _ := connect(t, config(chunked.URL, "1.1", func(c map[string]any) { c["maxResponseBytes"] = limit }), operations, connectors.Options{})
	_, err = call(t, cc, "fits", nil)
	wantKind(t, err, connectors.KindBadResponse)
}
