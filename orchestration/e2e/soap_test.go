package e2e

import (
	"encoding/xml"
	"io"
	"net/http"
	"strings"
	"testing"
)

// soapCustomers is a SOAP 1.1 customer service: GetCustomer answers the
// customer of the id in the request, or a Client fault for an unknown
// one; every request must carry a WS-Security UsernameToken.
func soapCustomers(t *testing.T) *upstream {
	return newUpstream(t, map[string]http.HandlerFunc{
		"POST /soap": func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			var env struct {
				Header struct {
					Security struct {
						UsernameToken struct{ Username string } `xml:"UsernameToken"`
					} `xml:"Security"`
				} `xml:"Header"`
				Body struct {
					GetCustomer struct{ ID string } `xml:"GetCustomer"`
				} `xml:"Body"`
			}
			w.Header().Set("Content-Type", "text/xml; charset=utf-8")
			if err := xml.Unmarshal(body, &env); err != nil || r.Header.Get("SOAPAction") != `"urn:GetCustomer"` || env.Header.Security.UsernameToken.Username != "flows" {
				w.WriteHeader(500)
				io.WriteString(w, `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>bad request</faultstring></s:Fault></s:Body></s:Envelope>`)
				return
			}
			id := env.Body.GetCustomer.ID
			if id != "c1" {
				w.WriteHeader(500)
				io.WriteString(w, `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client.NotFound</faultcode><faultstring>no customer `+xmlText(id)+`</faultstring></s:Fault></s:Body></s:Envelope>`)
				return
			}
			io.WriteString(w, `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><c:GetCustomerResponse xmlns:c="urn:customers"><c:customer><c:name>Ada</c:name><c:creditLimit>2500.50</c:creditLimit><c:phone>1</c:phone><c:phone>2</c:phone></c:customer></c:GetCustomerResponse></s:Body></s:Envelope>`)
		},
	})
}

func xmlText(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// TestSOAPConnectorOverHTTP: a flow calls a SOAP service with a
// WS-Security UsernameToken, maps its XML answer to JSON, and maps a SOAP
// fault to its own problem.
func TestSOAPConnectorOverHTTP(t *testing.T) {
	u := soapCustomers(t)
	e := start(t)
	e.vars("dev", map[string]any{"SOAP_URL": u.URL + "/soap"})
	e.secret("dev", "SOAP_PASSWORD", "pw-7d1e-secret")
	e.deploy("dev", map[string]string{"customers.yaml": `apiVersion: skybridge/v1
kind: Connector
name: customers
type: soap
config:
  endpoint: "${env.SOAP_URL}"
  security: {type: usernameToken, username: flows, password: "${secret.SOAP_PASSWORD}"}
  namespaces: {c: "urn:customers"}
operations:
  getCustomer:
    action: "urn:GetCustomer"
    body: <c:GetCustomer><c:ID>{id}</c:ID></c:GetCustomer>
    result:
      name: c:GetCustomerResponse/c:customer/c:name
      credit: {path: c:GetCustomerResponse/c:customer/c:creditLimit, type: number}
      phones: {path: c:GetCustomerResponse/c:customer/c:phone, list: true}
---
apiVersion: skybridge/v1
kind: Flow
name: customer
auth: public
input: {id: {type: string, required: true}}
steps:
  - {id: c, call: customers.getCustomer, with: {id: "${input.id}"}}
output: {name: "${steps.c.name}", credit: "${steps.c.credit}", phones: "${steps.c.phones}"}
errors:
  - when: {step: c, status: 4xx}
    status: 404
    title: Unknown customer
`})
	st, out, _ := e.flow("dev", "customer", "id=c1", nil)
	if st != 200 || out["name"] != "Ada" || out["credit"] != 2500.5 || len(out["phones"].([]any)) != 2 {
		t.Fatalf("customer c1: %d %v", st, out)
	}
	st, out, _ = e.flow("dev", "customer", "id="+urlEscape("</c:ID><evil/>"), nil)
	if st != 404 || out["title"] != "Unknown customer" {
		t.Fatalf("unknown customer (an id that tries markup): %d %v", st, out)
	}
	e.assertNoSecret("pw-7d1e-secret")
}
