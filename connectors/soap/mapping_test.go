package soap_test

import (
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/skybridgehq/skybridge/connectors"
)

const customerAnswer = `<c:GetCustomerResponse xmlns:o="http://example.com/other">
  <c:customer c:tier="gold" id="c-1">
    <c:id>42</c:id>
    <c:name>Ada &amp; Co</c:name>
    <c:creditLimit> 1500.50 </c:creditLimit>
    <c:active>1</c:active>
    <c:phone>+1 555 0100</c:phone>
    <c:phone>+1 555 0101</c:phone>
    <c:note xsi:nil="true"/>
    <o:id>other</o:id>
    <c:order><c:no>1</c:no><c:total>9.5</c:total></c:order>
    <c:order><c:no>2</c:no></c:order>
  </c:customer>
</c:GetCustomerResponse>`

// TestResultMapping: declared paths map to typed JSON fields; lists
// collect repeated elements; missing elements are null (an empty list for
// lists); prefixes resolve through config.namespaces and an unprefixed
// step matches any namespace; nested fields map repeated elements;
// without a result the Body's first child converts generically.
func TestResultMapping(t *testing.T) {
	t.Parallel()
	srv := newSOAPServer(t, "1.2", nil)
	srv.handle = func(r *received) (int, string) { return http.StatusOK, srv.reply(customerAnswer) }
	cust := "c:GetCustomerResponse/c:customer/"
	tests := []struct {
		name   string
		result map[string]any
		want   any
		kind   connectors.ErrorKind
	}{
		{"types", map[string]any{
			"id":     cust + "c:id",
			"num":    map[string]any{"path": cust + "c:id", "type": "integer"},
			"name":   cust + "c:name",
			"credit": map[string]any{"path": cust + "c:creditLimit", "type": "number"},
			"active": map[string]any{"path": cust + "c:active", "type": "boolean"},
		}, map[string]any{"id": "42", "num": 42.0, "name": "Ada & Co", "credit": 1500.5, "active": true}, ""},
		{"lists and missing", map[string]any{
			"phones":  map[string]any{"path": cust + "c:phone", "list": true},
			"phone":   cust + "c:phone",
			"fax":     cust + "c:fax",
			"faxes":   map[string]any{"path": cust + "c:fax", "list": true},
			"note":    cust + "c:note",
			"nowhere": "c:Nope/c:customer/c:id",
		}, map[string]any{"phones": []any{"+1 555 0100", "+1 555 0101"}, "phone": "+1 555 0100", "fax": nil, "faxes": []any{}, "note": nil, "nowhere": nil}, ""},
		{"namespaces and attributes", map[string]any{
			"ids":   map[string]any{"path": "GetCustomerResponse/customer/id", "list": true},
			"other": cust + "o:id",
			"tier":  cust + "@c:tier",
			"attr":  "c:GetCustomerResponse/c:customer/@id",
			"any":   map[string]any{"path": "*/*/c:id", "type": "integer"},
		}, map[string]any{"ids": []any{"42", "other"}, "other": "other", "tier": "gold", "attr": "c-1", "any": 42.0}, ""},
		{"nested fields", map[string]any{
			"orders": map[string]any{"path": cust + "c:order", "list": true, "fields": map[string]any{
				"no":    map[string]any{"path": "c:no", "type": "integer"},
				"total": map[string]any{"path": "c:total", "type": "number"},
			}},
			"customer": map[string]any{"path": "c:GetCustomerResponse/c:customer", "fields": map[string]any{"id": "c:id", "self": "@id"}},
		}, map[string]any{
			"orders":   []any{map[string]any{"no": 1.0, "total": 9.5}, map[string]any{"no": 2.0, "total": nil}},
			"customer": map[string]any{"id": "42", "self": "c-1"},
		}, ""},
		{"object type", map[string]any{"order": map[string]any{"path": cust + "c:order", "type": "object"}},
			map[string]any{"order": map[string]any{"no": "1", "total": "9.5"}}, ""},
		{"generic", nil, map[string]any{"customer": map[string]any{
			"@tier": "gold", "@id": "c-1", "id": []any{"42", "other"}, "name": "Ada & Co", "creditLimit": " 1500.50 ", "active": "1",
			"phone": []any{"+1 555 0100", "+1 555 0101"}, "note": nil,
			"order": []any{map[string]any{"no": "1", "total": "9.5"}, map[string]any{"no": "2"}},
		}}, ""},
		{"not a number", map[string]any{"n": map[string]any{"path": cust + "c:name", "type": "number"}}, nil, connectors.KindBadResponse},
		{"not an integer", map[string]any{"n": map[string]any{"path": cust + "c:creditLimit", "type": "integer"}}, nil, connectors.KindBadResponse},
		{"not a boolean", map[string]any{"n": map[string]any{"path": cust + "c:id", "type": "boolean"}}, nil, connectors.KindBadResponse},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, _ := connect(t, config(srv.URL, "1.2", func(cfg map[string]any) {
				cfg["namespaces"] = map[string]any{"c": customersNS, "o": "http://example.com/other"}
			}), ops(map[string]map[string]any{"get": getCustomer(tc.result)}), connectors.Options{})
			resp, err := call(t, c, "get", map[string]any{"id": 1})
			if tc.kind != "" {
				ce := wantKind(t, err, tc.kind)
				if !strings.Contains(ce.Message, "result.n") {
					t.Errorf("message %q does not name the field", ce.Message)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(resp.Body, tc.want) {
				t.Fatalf("body\n%#v\nwant\n%#v", resp.Body, tc.want)
			}
		})
	}
}

// TestAnswers: what is not a successful envelope of the configured
// version.
func TestAnswers(t *testing.T) {
	t.Parallel()
	srv := newSOAPServer(t, "1.1", nil)
	srv.handle = func(r *received) (int, string) {
		switch r.action {
		case "oneway":
			return http.StatusAccepted, ""
		case "html":
			return http.StatusServiceUnavailable, "<html><body>down for maintenance</body></html>"
		case "notxml":
			return http.StatusOK, "{\"json\": true}"
		case "v12":
			return http.StatusOK, `<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><x/></e:Body></e:Envelope>`
		case "nobody":
			return http.StatusOK, `<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"/>`
		case "deep":
			return http.StatusOK, srv.reply(strings.Repeat("<a>", 100) + strings.Repeat("</a>", 100))
		case "latin1":
			return http.StatusOK, "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><e:Envelope xmlns:e=\"http://schemas.xmlsoap.org/soap/envelope/\"><e:Body><r>caf\xe9</r></e:Body></e:Envelope>"
		case "empty":
			return http.StatusOK, srv.reply("")
		}
		return http.StatusNotFound, ""
	}
	c, _ := connect(t, config(srv.URL, "1.1", nil), ops(map[string]map[string]any{
		"oneway": {"action": "oneway", "body": "<c:A/>"}, "html": {"action": "html", "body": "<c:A/>"},
		"notxml": {"action": "notxml", "body": "<c:A/>"}, "v12": {"action": "v12", "body": "<c:A/>"},
		"nobody": {"action": "nobody", "body": "<c:A/>"}, "deep": {"action": "deep", "body": "<c:A/>"},
		"latin1": {"action": "latin1", "body": "<c:A/>"}, "empty": {"action": "empty", "body": "<c:A/>"},
	}), connectors.Options{})
	tests := []struct {
		op        string
		kind      connectors.ErrorKind
		status    int
		body      any
		retryable bool
	}{
		{"oneway", "", http.StatusAccepted, nil, false},
		{"latin1", "", http.StatusOK, "café", false},
		{"empty", "", http.StatusOK, nil, false},
		{"html", connectors.KindStatus, http.StatusServiceUnavailable, "<html><body>down for maintenance</body></html>", true},
		{"notxml", connectors.KindBadResponse, 0, nil, false},
		{"v12", connectors.KindBadResponse, 0, nil, false},
		{"nobody", connectors.KindBadResponse, 0, nil, false},
		{"deep", connectors.KindBadResponse, 0, nil, false},
	}
	for _, tc := range tests {
		resp, err := call(t, c, tc.op, nil)
		if tc.kind == "" {
			if err != nil || resp.Status != tc.status || !reflect.DeepEqual(resp.Body, tc.body) {
				t.Errorf("%s: %+v, %v", tc.op, resp, err)
			}
			continue
		}
		ce := wantKind(t, err, tc.kind)
		if ce.Status != tc.status || !reflect.DeepEqual(ce.Body, tc.body) || ce.Retryable() != tc.retryable {
			t.Errorf("%s: %+v", tc.op, ce)
		}
	}
}
