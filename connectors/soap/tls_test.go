package soap_test

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/skybridgehq/skybridge/connectors"
)

// TestTLS: config.tls is read like the rest connector's (via
// confmap.TLS): a custom CA is trusted, the system roots alone are not,
// serverName is checked, insecureSkipVerify is explicit and logged.
func TestTLS(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		_, _ = w.Write([]byte(`<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><ok>1</ok></e:Body></e:Envelope>`))
	}))
	t.Cleanup(srv.Close)
	ca := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	tests := []struct {
		name string
		tls  map[string]any
		kind connectors.ErrorKind // "" for success
	}{
		{"custom CA trusted", map[string]any{"caPEM": ca}, ""},
		{"refused without the CA", nil, connectors.KindUnavailable},
		{"serverName in the certificate", map[string]any{"caPEM": ca, "serverName": "example.com"}, ""},
		{"serverName not in the certificate", map[string]any{"caPEM": ca, "serverName": "other.test"}, connectors.KindUnavailable},
		{"insecureSkipVerify", map[string]any{"insecureSkipVerify": true}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, logs := connect(t, config(srv.URL, "1.1", func(cfg map[string]any) {
				cfg["circuitBreaker"] = false
				if tc.tls != nil {
					cfg["tls"] = tc.tls
				}
			}), ops(map[string]map[string]any{"get": getCustomer(nil)}), connectors.Options{})
			resp, err := call(t, c, "get", map[string]any{"id": 1})
			if tc.kind == "" {
				if err != nil || resp.Body != "1" {
					t.Fatalf("%v, %v", resp, err)
				}
			} else {
				wantKind(t, err, tc.kind)
			}
			if tc.name == "insecureSkipVerify" && !contains(logs.String(), "insecureSkipVerify") {
				t.Errorf("no warning logged for insecureSkipVerify")
			}
		})
	}
}
