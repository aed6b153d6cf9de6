package rest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/connectors"
)

// TestRedaction fails calls in every way with every kind of credential and
// greps the errors (with their whole cause chain) and the debug logs for
// the secrets.
func TestRedaction(t *testing.T) {
	t.Parallel()
	secrets := []string{"pw-SECRET-1", "tok-SECRET-2", "key-SECRET-3", "cs-SECRET-4", "at-SECRET-5",
		"c3ZjOnB3LVNFQ1JFVC0x"} // base64 of svc:pw-SECRET-1
	echoSecrets := func(w http.ResponseWriter, r *http.Request) {
		// A hostile or chatty system echoes what it got.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]any{"auth": r.Header.Get("Authorization"), "url": r.URL.String()})
	}
	refusing := server(t, echoSecrets)
	slow := server(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	tokens := server(t, func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/refuse" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = fmt.Fprintf(w, `{"error":"invalid_client","error_description":"secret %s is wrong"}`, r.PostForm.Get("client_secret"))
			return
		}
		_, _ = fmt.Fprint(w, `{"access_token":"at-SECRET-5","token_type":"Bearer","expires_in":3600}`)
	})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "http://" + ln.Addr().String()
	_ = ln.Close()

	auths := map[string]map[string]any{
		"basic":        {"type": "basic", "username": "svc", "password": "pw-SECRET-1"},
		"bearer":       {"type": "bearer", "token": "tok-SECRET-2"},
		"apiKeyQuery":  {"type": "apiKey", "query": "key", "value": "key-SECRET-3"},
		"apiKeyHeader": {"type": "apiKey", "header": "X-Key", "value": "key-SECRET-3"},
		"oauth2":       {"type": "oauth2-client-credentials", "tokenURL": tokens.URL + "/token", "clientId": "c", "clientSecret": "cs-SECRET-4", "authStyle": "params"},
		"oauth2Refused": {"type": "oauth2-client-credentials", "tokenURL": tokens.URL + "/refuse", "clientId": "c",
			"clientSecret": "cs-SECRET-4", "authStyle": "params"},
		"oauth2Unreachable": {"type": "oauth2-client-credentials", "tokenURL": closed + "/token?secret=cs-SECRET-4", "clientId": "c", "clientSecret": "cs-SECRET-4"},
	}
	targets := map[string]string{"refusing": refusing.URL, "slow": slow.URL, "closed": closed}
	for authName, auth := range auths {
		for targetName, url := range targets {
			t.Run(authName+"/"+targetName, func(t *testing.T) {
				t.Parallel()
				c, logs := connect(t, map[string]any{"baseURL": url, "auth": auth, "timeout": "100ms"},
					ops(map[string]map[string]any{"get": {"path": "/c/{id}"}}), connectors.Options{})
				var texts []string
				for _, args := range []map[string]any{{"id": "1"}, {}} {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					_, err := c.Call(ctx, connectors.Request{Operation: "get", Args: args})
					cancel()
					if err == nil {
						t.Fatal("call succeeded")
					}
					var ce *connectors.Error
					errors.As(err, &ce)
					texts = append(texts, fmt.Sprintf("%v | %+v | %s", err, *ce, ce.Message))
					for e := ce.Err; e != nil; e = errors.Unwrap(e) {
						texts = append(texts, e.Error())
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
