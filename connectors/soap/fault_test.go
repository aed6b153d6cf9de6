package soap_test

import (
	"reflect"
	"testing"

	"github.com/skybridgehq/skybridge/connectors"
)

// TestFaults: SOAP 1.1 and 1.2 faults become KindStatus errors whose Body
// holds the fault's code, subcode, reason and detail; the system's faults
// keep their 5xx (retryable), the request's faults become 4xx (not
// retried, not counted by the breaker).
func TestFaults(t *testing.T) {
	t.Parallel()
	detail := `<detail><c:NotFound><c:id>42</c:id></c:NotFound></detail>`
	tests := []struct {
		name, version     string
		code, subcode     string
		httpStatus        int
		detail            string
		wantStatus        int
		wantCode, wantSub string
		wantDetail        any
		retryable         bool
	}{
		{"1.1 server", "1.1", "Server", "", 500, "", 500, "Server", "", nil, true},
		{"1.1 client with detail", "1.1", "Client", "", 500, detail, 400, "Client", "", map[string]any{"NotFound": map[string]any{"id": "42"}}, false},
		{"1.1 dotted code", "1.1", "Client.CustomerNotFound", "", 500, "", 400, "Client", "CustomerNotFound", nil, false},
		{"1.1 server fault answered 200", "1.1", "Server", "", 200, "", 500, "Server", "", nil, true},
		{"1.2 receiver", "1.2", "Receiver", "", 503, "", 503, "Receiver", "", nil, true},
		{"1.2 sender with subcode", "1.2", "Sender", "c:CustomerNotFound", 400, detail, 400, "Sender", "CustomerNotFound", map[string]any{"NotFound": map[string]any{"id": "42"}}, false},
		{"1.2 sender answered 500", "1.2", "Sender", "", 500, "", 400, "Sender", "", nil, false},
		{"1.2 must understand", "1.2", "MustUnderstand", "", 500, "", 400, "MustUnderstand", "", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newSOAPServer(t, tc.version, nil)
			srv.handle = func(r *received) (int, string) {
				return tc.httpStatus, srv.fault(tc.code, tc.subcode, "no customer 42 & more", tc.detail)
			}
			c, _ := connect(t, config(srv.URL, tc.version, nil), ops(map[string]map[string]any{"get": getCustomer(nil)}), connectors.Options{})
			_, err := call(t, c, "get", map[string]any{"id": 42})
			ce := wantKind(t, err, connectors.KindStatus)
			if ce.Status != tc.wantStatus || ce.Retryable() != tc.retryable {
				t.Fatalf("status %d retryable %v, want %d %v", ce.Status, ce.Retryable(), tc.wantStatus, tc.retryable)
			}
			var sub any
			if tc.wantSub != "" {
				sub = tc.wantSub
			}
			want := map[string]any{"fault": map[string]any{"code": tc.wantCode, "subcode": sub, "reason": "no customer 42 & more",
				"detail": tc.wantDetail, "httpStatus": float64(tc.httpStatus)}}
			if !reflect.DeepEqual(ce.Body, want) {
				t.Fatalf("body\n%#v\nwant\n%#v", ce.Body, want)
			}
			if !contains(ce.Message, "SOAP fault "+tc.wantCode) {
				t.Errorf("message %q does not name the fault code", ce.Message)
			}
		})
	}
}
