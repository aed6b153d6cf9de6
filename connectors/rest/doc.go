// Package rest is the "rest" connector type: flows call the operations of
// an HTTP/JSON system declared in a Connector document.
//
//	apiVersion: skybridge/v1
//	kind: Connector
//	name: crm
//	type: rest
//	config:
//	  baseURL: "${env.CRM_URL}"
//	  auth: {type: bearer, token: "${secret.CRM_TOKEN}"}
//	  timeout: 2s
//	operations:
//	  getCustomer: {method: GET, path: "/customers/{id}", statuses: {"404": null}}
//	  listOrders:  {method: GET, path: "/orders?customer={customer}"}
//	  createOrder: {method: POST, path: "/orders", body: "${args}"}
//
// Register Type under the name "rest". Validate is pure and skips values
// holding an unresolved "${"; New judges every value and does no I/O.
//
// # Config fields
//
//   - baseURL (required): absolute http or https URL, optionally with a
//     base path ("https://crm.example/api/v2"). No credentials, query or
//     fragment in it. Every operation's path is appended to it.
//   - timeout: bound of one call (slot wait, token fetch, exchange and
//     reading the answer), a Go duration ("2s") or seconds. The caller's
//     ctx deadline applies too, whichever is sooner. Default: 10s.
//   - maxResponseBytes: largest answer body read; a larger one is
//     KindBadResponse. Default: 8388608 (8 MiB).
//   - headers: mapping of header names to values sent on every call.
//     Default: none. Accept: application/json and
//     User-Agent: Skybridge-Connector/1 are sent unless set here.
//   - statuses: status mapping for every operation (see below). Default:
//     statuses >= 400 fail.
//   - concurrency: most calls in flight at once; a call waits for a slot
//     until its deadline and then fails with KindOverloaded. Default: 64.
//   - circuitBreaker: {failures, window, openFor, disabled}, or false to
//     turn it off. failures consecutive retryable failures (timeouts,
//     unavailability, 408/425/429/5xx) within window of the first open the
//     circuit; open, calls fail at once with KindCircuitOpen; after openFor
//     one probe goes through, and its success closes the circuit.
//     Defaults: failures 5, window 10s, openFor 30s, disabled false.
//   - auth: how calls authenticate. Default: {type: none}.
//   - type: none | basic | bearer | apiKey | oauth2-client-credentials.
//   - basic: username, password (both required).
//   - bearer: token (required), sent as "Authorization: Bearer <token>".
//   - apiKey: value (required) and exactly one of header (a header
//     name) or query (a query parameter name).
//   - oauth2-client-credentials: tokenURL, clientId, clientSecret
//     (required); scopes (list or space-separated string; default none);
//     endpointParams (extra form fields of the token request, e.g.
//     audience; default none); authStyle auto | header | params (how the
//     client credentials reach the token endpoint; default auto). The
//     token is fetched on first use with the connector's transport (so
//     its TLS settings apply), cached until 10s before its expiry,
//     shared by concurrent callers (one fetch) and dropped when the
//     system answers 401. An endpoint refusal is KindStatus with the
//     endpoint's status.
//   - tls: client TLS settings. Default: system roots, TLS 1.2 or newer.
//   - caPEM: PEM certificates that replace the system roots.
//   - certPEM, keyPEM: client certificate and key (PEM) for mTLS; both
//     or neither.
//   - serverName: name to verify the server's certificate against
//     (default: the host of baseURL).
//   - insecureSkipVerify: true turns certificate verification off; only
//     this explicit value does, and New logs a warning. Default: false.
//
// # Operation fields
//
//   - method: GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS. Default: GET.
//   - path (required): starts with "/", may end in "?query". A {name}
//     placeholder is filled from the step's `with` argument name: escaped
//     as a path segment in the path (a "/" in the value becomes %2F) and
//     as a query value in the query. A missing or null argument, a list
//     or mapping, or a value that makes a path segment empty, "." or
//     ".." is KindInvalid naming the argument. Literal text must already
//     be valid URL text ("%20", not a space).
//   - query: mapping of extra query parameters; values may hold {name}
//     placeholders, and `query.<name>` may be an expression (a list
//     repeats the parameter, null leaves it out). Default: none.
//   - headers: mapping of headers for this operation, over the config's;
//     `headers.<Name>` may be an expression (null leaves it out).
//     Default: none.
//   - body: the request body, a constant or an expression ("${args}");
//     `body.<field>` expressions set fields of a mapping body. Default: no
//     body.
//   - bodyType: json | form (application/x-www-form-urlencoded from a
//     mapping of scalars or lists). Default: json. The Content-Type is set
//     to match unless a headers entry sets it.
//   - idempotent: whether retries are safe. Default: true for GET, HEAD,
//     PUT, DELETE and OPTIONS, false for POST and PATCH.
//   - statuses: status mapping for this operation, over the config's.
//
// Expressions reach this package as connectors.Templates (in
// Operation.Dynamic), evaluated per call with the scope
// {"args": Request.Args} plus connectors.Options.Scope.
//
// # Status mapping
//
// A statuses mapping takes status codes ("404") or classes ("4xx", "5xx")
// to an outcome: null or "empty" (success with a nil Body), "ok" (success,
// body decoded) or "error" (KindStatus with Status and the decoded Body).
// Without a rule, statuses >= 400 are errors. An operation's rules override
// the config's, and a code overrides its class. Redirects are not followed
// (following one could carry credentials to another host): a 3xx is an
// answer like any other.
//
// # Answers
//
// A body whose Content-Type is application/json or *+json is decoded into
// any (invalid JSON is KindBadResponse); any other body is its text as a
// string; an empty body is nil. The traceparent of the Request is sent as
// the W3C traceparent header.
//
// # Errors and logs
//
// Every failure is *connectors.Error: KindTimeout (the deadline passed,
// or the call was cancelled), KindUnavailable (dial, reset, TLS),
// KindStatus, KindBadResponse, KindInvalid, KindOverloaded and
// KindCircuitOpen. Messages and logs never carry credentials, tokens,
// header values or filled URLs: an operation is named by its method and
// path template. A failure's Body (a KindStatus answer) has the
// connector's credentials and the call's OAuth2 token replaced by
// "[redacted]", in case the system echoes them. Failed calls are logged at debug level, token endpoint
// failures and circuit breaker changes at warn.
//
// # Guards and connections
//
// Each connector instance has its own connectors.Guard (concurrency
// limit and circuit breaker) and its own http.Transport keeping up to 256
// idle connections to its host; neither is shared between connectors or
// environments. Paths, headers, static bodies and status tables are
// compiled at New, so a call only fills and escapes arguments.
package rest
