package soap_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/connectors"
)

// TestRedaction fails calls in every way with a UsernameToken password and
// greps the errors (with their cause chain and bodies) and the debug logs
// for it, while the service echoes what it got into faults and pages.
func TestRedaction(t *testing.T) {
	t.Parallel()
	const password = "pw-SECRET-1&<x>"
	secrets := []string{password, "pw-SECRET-1&amp;&lt;x&gt;", "pw-SECRET-1"}
	srv := newSOAPServer(t, "1.1", nil)
	srv.handle = func(r *received) (int, string) {
		switch r.action {
		case "fault":
			return 500, srv.fault("Server", "", "bad token "+string(r.raw), "<detail><c:echo>"+xmlText(string(r.raw))+"</c:echo></detail>")
		case "page":
			return 502, "proxy error for " + string(r.raw)
		}
		return http.StatusOK, srv.reply("<c:R><c:n>" + xmlText(password) + "</c:n></c:R>")
	}
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // then the hang-up is noticed
		<-r.Context().Done()
	}))
	t.Cleanup(slow.Close)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "http://" + ln.Addr().String()
	_ = ln.Close()
	for _, pwType := range []string{"text", "digest"} {
		for name, url := range map[string]string{"service": srv.URL, "slow": slow.URL, "closed": closed} {
			t.Run(pwType+"/"+name, func(t *testing.T) {
				t.Parallel()
				c, logs := connect(t, config(url+"?key=x", "1.1", func(cfg map[string]any) {
					cfg["timeout"] = "100ms"
					cfg["security"] = map[string]any{"type": "usernameToken", "username": "svc", "password": password, "passwordType": pwType}
				}), ops(map[string]map[string]any{
					"fault": {"action": "fault", "body": "<c:A>{a}</c:A>"}, "page": {"action": "page", "body": "<c:A>{a}</c:A>"},
					"typed": {"action": "typed", "body": "<c:A>{a}</c:A>", "result": map[string]any{"n": map[string]any{"path": "c:R/c:n", "type": "number"}}},
				}), connectors.Options{})
				var texts []string
				for _, op := range []string{"fault", "page", "typed"} {
					for _, args := range []map[string]any{{"a": "1"}, {}} {
						ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
						_, err := c.Call(ctx, connectors.Request{Operation: op, Args: args})
						cancel()
						if err == nil {
							t.Fatalf("%s succeeded", op)
						}
						var ce *connectors.Error
						errors.As(err, &ce)
						texts = append(texts, fmt.Sprintf("%v | %+v | %s | %#v", err, *ce, ce.Message, ce.Body))
						for e := ce.Err; e != nil; e = errors.Unwrap(e) {
							texts = append(texts, e.Error())
						}
					}
				}
				texts = append(texts, logs.String())
				all := strings.Join(texts, "\n")
				for _, s := range secrets {
					if strings.Contains(all, s) {
						t.Fatalf("secret %s leaked:\n%s", s, all)
					}
				}
			})
		}
	}
}
