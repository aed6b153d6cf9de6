package soap_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/skybridgehq/skybridge/connectors"
)

// BenchmarkCall measures one GetCustomer call (body template, envelope,
// optional UsernameToken digest, response parse and mapping) against a
// local zero-latency service, from 16×GOMAXPROCS concurrent callers.
func BenchmarkCall(b *testing.B) {
	answer := `<?xml version="1.0"?><e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/" xmlns:c="` + customersNS +
		`"><e:Body><c:GetCustomerResponse><c:customer><c:id>42</c:id><c:name>Ada</c:name><c:creditLimit>1500</c:creditLimit>` +
		`<c:phone>1</c:phone><c:phone>2</c:phone></c:customer></c:GetCustomerResponse></e:Body></e:Envelope>`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		_, _ = io.WriteString(w, answer)
	}))
	b.Cleanup(srv.Close)
	cust := "c:GetCustomerResponse/c:customer/"
	result := map[string]any{
		"id": cust + "c:id", "name": cust + "c:name",
		"credit": map[string]any{"path": cust + "c:creditLimit", "type": "number"},
		"phones": map[string]any{"path": cust + "c:phone", "list": true},
	}
	for _, security := range []string{"none", "digest"} {
		b.Run("security="+security, func(b *testing.B) {
			c, _ := connect(b, config(srv.URL, "1.1", func(cfg map[string]any) {
				if security == "digest" {
					cfg["security"] = map[string]any{"type": "usernameToken", "username": "u", "password": "p"}
				}
			}), ops(map[string]map[string]any{"get": getCustomer(result)}), connectors.Options{})
			req := connectors.Request{Operation: "get", Args: map[string]any{"id": "42"}}
			b.ReportAllocs()
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := c.Call(context.Background(), req)
					if err != nil || resp.Status != http.StatusOK {
						b.Errorf("%v %v", resp, err)
						return
					}
				}
			})
		})
	}
}
