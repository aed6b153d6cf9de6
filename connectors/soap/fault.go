package soap

import (
	"net/http"
	"strings"
)

// Fault is a SOAP fault as a flow sees it, in connectors.Error.Body under
// "fault" (see the package doc, Faults).
type Fault struct {
	// Code is the fault code's local name: SOAP 1.1 faultcode's part
	// before the first "." ("Client" of "soap:Client.Auth"), SOAP 1.2
	// Code/Value ("Sender").
	Code string
	// Subcode is SOAP 1.1 faultcode's part after the first "."
	// ("Auth"), or SOAP 1.2's first Subcode/Value local name; "" when
	// none.
	Subcode string
	// Reason is SOAP 1.1 faultstring or SOAP 1.2's first Reason/Text.
	Reason string
	// Detail is the detail (1.1) or Detail (1.2) element converted to
	// JSON values generically; nil when absent.
	Detail any
}

// readFault reads a Fault element of version v.
func readFault(f *element, v version) Fault {
	var out Fault
	if v == soap11 {
		if c := f.childLocal("faultcode"); c != nil {
			out.Code, out.Subcode, _ = strings.Cut(localName(c.text), ".")
		}
		if r := f.childLocal("faultstring"); r != nil {
			out.Reason = r.text
		}
		if d := f.childLocal("detail"); d != nil {
			out.Detail = d.generic()
		}
		return out
	}
	ns := v.namespace()
	if c := f.child(ns, "Code"); c != nil {
		if val := c.child(ns, "Value"); val != nil {
			out.Code = localName(val.text)
		}
		if sub := c.child(ns, "Subcode"); sub != nil {
			if val := sub.child(ns, "Value"); val != nil {
				out.Subcode = localName(val.text)
			}
		}
	}
	if r := f.child(ns, "Reason"); r != nil {
		if t := r.child(ns, "Text"); t != nil {
			out.Reason = t.text
		}
	}
	if d := f.child(ns, "Detail"); d != nil {
		out.Detail = d.generic()
	}
	return out
}

// localName drops a QName's prefix.
func localName(qname string) string {
	qname = strings.TrimSpace(qname)
	if i := strings.LastIndexByte(qname, ':'); i >= 0 {
		return qname[i+1:]
	}
	return qname
}

// receiverFault reports whether the fault blames the system (SOAP 1.1
// Server, SOAP 1.2 Receiver) rather than the request.
func (f Fault) receiverFault() bool { return f.Code == "Server" || f.Code == "Receiver" }

// status is the Error.Status a fault answered with httpStatus gets: the
// system's faults keep a 5xx status (500 when the system sent another),
// so they are retryable; every other fault (Client, Sender,
// MustUnderstand, VersionMismatch, DataEncodingUnknown: the request is at
// fault, another attempt fails alike) keeps a 4xx status and gets 400
// otherwise, so it is neither retried nor held against the circuit breaker.
func (f Fault) status(httpStatus int) int {
	if f.receiverFault() {
		if httpStatus >= 500 && httpStatus <= 599 {
			return httpStatus
		}
		return http.StatusInternalServerError
	}
	if httpStatus >= 400 && httpStatus <= 499 {
		return httpStatus
	}
	return http.StatusBadRequest
}

// body is the fault as connectors.Error.Body.
func (f Fault) body(httpStatus int) map[string]any {
	var sub any
	if f.Subcode != "" {
		sub = f.Subcode
	}
	return map[string]any{"fault": map[string]any{
		"code": f.Code, "subcode": sub, "reason": f.Reason, "detail": f.Detail, "httpStatus": float64(httpStatus),
	}}
}
