// Package soap is the "soap" connector type: flows call the operations of
// a SOAP 1.1 or 1.2 service over HTTP declared in a Connector document.
//
//	apiVersion: skybridge/v1
//	kind: Connector
//	name: customers
//	type: soap
//	config:
//	  endpoint: "${env.CUSTOMER_SOAP_URL}"
//	  version: "1.2"
//	  security: {type: usernameToken, username: "${secret.U}", password: "${secret.P}"}
//	  namespaces: {c: "http://example.com/customers"}
//	operations:
//	  getCustomer:
//	    action: "http://example.com/customers/GetCustomer"
//	    body: <c:GetCustomer><c:id>{id}</c:id></c:GetCustomer>
//	    result:
//	      id: c:GetCustomerResponse/c:customer/c:id
//	      credit: {path: c:GetCustomerResponse/c:customer/c:creditLimit, type: number}
//	      phones: {path: c:GetCustomerResponse/c:customer/c:phone, list: true}
//
// Register Type under the name "soap". Validate is pure and skips values
// holding an unresolved "${"; New judges every value and does no I/O.
//
// # Config fields
//
//   - endpoint (required): absolute http or https URL the envelopes are
//     POSTed to; no credentials or fragment (a query is allowed).
//   - version: "1.1" (Content-Type text/xml, action in a quoted SOAPAction
//     header) or "1.2" (Content-Type application/soap+xml with an action
//     parameter, no SOAPAction). Default: "1.1".
//   - namespaces: prefix → namespace URI, declared on the Envelope and
//     used by body templates and result paths. The prefixes soap, wsse,
//     wsu and xml* are the connector's own. Default: none.
//   - timeout: bound of one call (slot wait, exchange, reading the
//     answer), a Go duration or seconds; the caller's deadline applies
//     too. Default: 10s.
//   - maxResponseBytes: largest answer read; a larger one is
//     KindBadResponse. Default: 8388608 (8 MiB). Elements may nest at
//     most MaxDepth (64) deep.
//   - headers: HTTP headers sent on every call. Content-Type and
//     SOAPAction are the protocol's and cannot be overridden. Default:
//     Accept: text/xml, application/soap+xml and User-Agent:
//     Skybridge-Connector/1.
//   - security: WS-Security. Default: {type: none}.
//   - type: none | usernameToken.
//   - usernameToken: username, password (both required); passwordType
//     digest | text (default digest: the password never travels; text
//     sends it in the envelope, so use https); mustUnderstand (default
//     true). Every call carries a wsse:Security header with a
//     UsernameToken holding Username, Password (Type PasswordDigest or
//     PasswordText), a fresh 16-byte Nonce (EncodingType Base64Binary) and
//     wsu:Created (UTC, milliseconds, from connectors.Options.Now).
//     PasswordDigest is Base64(SHA-1(nonce + created + password)) as the
//     OASIS UsernameToken Profile 1.0 defines it.
//   - tls: caPEM, certPEM + keyPEM (mTLS), serverName, insecureSkipVerify
//     (logged); read by confmap.TLS exactly like the rest connector's.
//     Default: system roots, TLS 1.2 or newer.
//   - concurrency, circuitBreaker: the connectors.Guard, as for rest.
//     Defaults: 64; failures 5, window 10s, openFor 30s.
//
// # Operation fields
//
//   - action: the SOAP action URI (SOAPAction for 1.1, the action
//     parameter for 1.2). Default: empty (1.1 sends SOAPAction: "").
//   - body (required): the Body's inner XML. `{name}` placeholders are
//     filled with the text of argument name, XML-escaped, so a value can
//     never become markup (`</c:id><evil/>` stays text). Placeholders may
//     stand only in element text or quoted attribute values, not in names,
//     comments, CDATA or processing instructions; `{{` is a literal `{`.
//     The template must be well-formed XML content whose prefixes are
//     declared in config.namespaces or inline. A missing or null argument,
//     or a list or mapping (which have no single text), is KindInvalid
//     naming the argument.
//   - soapHeader: inner XML of soap:Header, after the Security header;
//     same rules as body. Default: none.
//   - params: mapping of values for placeholders, looked up before args.
//     When an entry uses `${args...}` the engine hands the whole mapping
//     over as the Dynamic template "params", so computed values
//     (`full: "${args.first} ${args.last}"`) are escaped like any other.
//   - headers: HTTP headers for this operation, over the config's;
//     `headers.<Name>` may be an expression.
//   - result: the response mapping (below). Default: generic conversion.
//   - idempotent: whether retries are safe. Default: false (every SOAP
//     call is a POST).
//
// body and soapHeader cannot be expressions: `${...}` interpolation would
// put raw text into the XML. Use placeholders and params.
//
// # Result mapping
//
// result maps JSON field names to element paths under soap:Body, either
// as a string or as {path, type, list, fields}. A path is steps separated
// by "/": prefix:name (namespace from config.namespaces), name (that local
// name in any namespace), or * (any element); the last step may be
// @attribute or @prefix:attribute; "." is the context element itself.
// type is string (default; the element's text as is), number, integer
// (within ±2^53) or boolean (true, false, 1, 0), which ignore surrounding
// blanks, or object (generic conversion). list: true collects every
// element found in document order ([] when none); otherwise the first one
// is taken and a missing element is null; xsi:nil="true" is null. fields
// is a nested mapping whose paths are relative to each element found.
// A value that does not fit its type is KindBadResponse naming the field.
//
// Without result, Response.Body is the Body's first child element
// converted generically: an element without child elements or attributes
// is its text; otherwise a mapping from local names to values, a repeated
// name becoming a list, attributes as "@name", and non-blank text beside
// child elements as "#text". Namespaces are dropped. An empty Body, or an
// empty answer (a one-way operation's 202), is a nil Body.
//
// # Faults and errors
//
// A SOAP fault, at any HTTP status, is *connectors.Error{Kind: KindStatus}
// whose Body is
//
//	{"fault": {"code": "Client", "subcode": "CustomerNotFound", "reason": "...", "detail": {...}, "httpStatus": 500}}
//
// code is the local name of SOAP 1.1 faultcode before its first "." (its
// remainder is subcode) or of SOAP 1.2 Code/Value; subcode is the local
// name of SOAP 1.2's first Subcode/Value (null when none); reason is
// faultstring or the first Reason/Text; detail is detail/Detail converted
// generically (null when absent). Error.Status is the HTTP status for
// Server/Receiver faults (500 when the service sent a non-5xx), so they
// are retryable; for every other fault (Client, Sender, MustUnderstand,
// VersionMismatch, wsse:FailedAuthentication, ...) it is the HTTP status
// when 4xx and 400 otherwise, so a request the service refused is neither
// retried nor counted by the circuit breaker; httpStatus keeps what the
// service sent. A flow maps faults by kind and status in its errors rules
// (`when: {step: customer, kind: status, status: 400}`); the fault code is
// in the error Body for rules that look at it.
//
// Other answers: a non-2xx status without a fault is KindStatus with the
// text as Body; a 2xx answer that is not a SOAP envelope of the configured
// version is KindBadResponse; a larger one than maxResponseBytes, or one
// nested deeper than MaxDepth, is KindBadResponse; transport failures are
// KindTimeout (deadline or cancellation) or KindUnavailable. Answers in
// encodings other than UTF-8 named by their XML declaration are decoded.
// Redirects are not followed.
//
// Messages and logs never carry the password (raw or XML-escaped) or the
// endpoint URL; failure bodies (fault texts, error pages) have it replaced
// by "[redacted]" in case the service echoes the request. Failed calls are
// logged at debug level.
//
// # Guards and connections
//
// Each connector instance has its own connectors.Guard and its own
// http.Transport keeping up to 256 idle connections to its host. Templates,
// envelope texts, headers and result paths are compiled at New; a call
// fills placeholders, draws a nonce and parses the answer once.
package soap
