// Package orchestration is Skybridge's flow engine: it loads bundles of
// YAML documents (apiVersion skybridge/v1, kinds Flow, Connector and
// Trigger),
// validates them with file:line:column positions, compiles them once per
// deploy, and runs flows against the connectors of one app environment.
//
// # Lifecycle
//
//	e := orchestration.NewEngine(orchestration.EngineConfig{Connectors: types})
//	b, err := e.Load(files)                  // *ValidationError lists every problem
//	p, err := e.Build(ctx, b, env, version)  // builds connectors for one environment
//	res, err := p.Run(ctx, "customer-orders", orchestration.Call{Input: in, User: u})
//	p.Close()                                // when the plan is replaced
//
// # Connector documents
//
//	apiVersion: skybridge/v1
//	kind: Connector
//	name: crm
//	type: rest                      # a key of EngineConfig.Connectors
//	config:                         # passed to the type as Spec.Config
//	  baseURL: "${env.CRM_URL}"
//	  auth: {type: bearer, token: "${secret.CRM_TOKEN}"}
//	operations:
//	  getCustomer: {method: GET, path: "/customers/{id}"}
//	  createOrder: {method: POST, path: "/orders", body: "${args}", headers: {X-Customer: "${args.id}"}}
//
// `${env.X}` and `${secret.X}` in config and operations are resolved by
// Build. An operation field that uses `args` becomes a connectors.Template
// in Operation.Dynamic: "body" as a whole, and each entry of "headers" and
// "query" on its own ("headers.X-Customer"); the rest is Operation.Static.
// Secrets are visible only here, never to flows.
//
// # Flow documents
//
//	apiVersion: skybridge/v1
//	kind: Flow
//	name: customer-orders
//	description: Orders of a customer
//	auth: user                      # public | user (default) | server
//	timeout: 10s                    # default EngineConfig.FlowTimeout (30s)
//	input:
//	  customerId: {type: string, required: true, pattern: "^[0-9]+$"}
//	  limit: {type: integer, default: 20, min: 1, max: 100}
//	  status: {type: string, enum: [open, closed]}
//	  tags: array                   # shorthand for {type: array}
//	cache: {key: "orders:${input.customerId}", ttl: 60s, tags: ["customer:${input.customerId}"], stale: 30s, staleIfError: 5m, scope: user}
//	steps:
//	  - id: customer
//	    call: crm.getCustomer
//	    with: {id: "${input.customerId}"}
//	    timeout: 2s
//	    retry: {attempts: 3, backoff: 100ms, maxBackoff: 2s, jitter: true, on: [timeout, unavailable, status], unsafe: false}
//	  - parallel:
//	      - {id: orders, call: erp.listOrders, with: {customer: "${steps.customer.erpId}"}, onError: continue}
//	      - {id: tickets, call: helpdesk.open, with: {email: "${steps.customer.email}"}, fallback: {value: []}}
//	output:
//	  name: ${steps.customer.fullName}
//	  orders: "${map(steps.orders.rows, ({id: #.ORDER_NO, total: #.AMOUNT}))}"
//	errors:
//	  - when: {step: customer, kind: status, status: 404}   # each key optional; status: 404, [404, 410] or "4xx"
//	    status: 404
//	    title: Customer not found
//	    detail: "No customer ${input.customerId}"
//
// Inputs come from the query string (strings, coerced to the declared
// type; a repeated parameter is a list) or a JSON body; undeclared names
// are dropped; a bad or missing one is an *InputError naming it. Types:
// string, number, integer, boolean, object, array; min and max bound a
// number or the length of a string or list.
//
// # Steps
//
// Every step may have id (then `steps.<id>` is its result for later
// steps), description, timeout, onError (fail | continue: the result is
// null and meta.<id> describes the error) and fallback ({value: ...} or
// {steps: [...]}, whose last result is the step's; `error` holds step,
// kind, status and message meanwhile). Kinds:
//
//	call: conn.op, with: {...}      the response body; meta.<id>.status and .headers
//	                                retry only for idempotent operations unless retry.unsafe
//	parallel: [step, ...]           branches run concurrently; the result is their results' list;
//	                                the first failure cancels the others
//	foreach: ${list}                as: item (default), concurrency: 4 (default), steps: [...],
//	                                output: ${...} (default: the last step's result); `index` is the
//	                                position; results in the list's order; inner ids are local
//	if: ${cond}, then: [...], else: [...]
//	switch: ${value}, cases: {gold: [...], silver: [...]}, default: [...]
//	transform: <template>           builds a value
//	set: {name: <template>}         variables, `vars.name` for later steps
//	fail: {status: 404, title: ..., detail: ...}  answers with a *FlowError
//	flow: other-flow, with: {...}   runs another flow of the bundle (uncached, same user)
//	push: {target, notification, template, vars, scheduleAt, dedupeKey, ...}
//	                                queues a push notification (the body of POST /v1/push/send)
//	                                through Environment.Push; the result is {id}
//
// Only earlier steps can be referenced; ids inside branches become visible
// after the branching step. Flow steps may not form cycles.
//
// # Expressions
//
// `${...}` is a github.com/expr-lang/expr expression, compiled at Load. A
// YAML string that is exactly one `${...}` keeps the expression's type
// (number, boolean, object, list); `${...}` inside longer text is
// interpolated as text; `$${` is a literal `${`. Mappings and lists are
// templates recursively. Names: input, steps, meta, vars, user (nil for
// no user; id, email, roles, anonymous), env (the environment's
// variables), error (in fallbacks and error rules), and foreach items.
// Functions: expr's builtins (len, map, filter, lower, upper, trim, split,
// join, toJSON, ...) plus now() (UTC), formatDate(t, layout) and
// parseDate(s [, layout]) with Go layouts or RFC3339, date, datetime,
// time. expr's date and timezone builtins are off (they read time zone
// files). A mapping built inside a predicate needs parentheses:
// map(xs, ({id: #.ID})), since expr reads `{` there as the predicate.
//
// # Trigger documents
//
//	apiVersion: skybridge/v1
//	kind: Trigger
//	name: cart-reminder
//	on: {collection: carts, events: [created, updated], filter: {status: open}}
//	delay: 48h                                 # optional, object events only
//	unless: ${object.status == "checked_out"}  # optional; true skips the firing
//	do: {flow: send-reminder, input: {cartId: "${object._id}", key: "${firing.key}"}}
//
// Exactly one of on (events default to all three; filter is the object
// filter language, checked with store.ParseFilter) or schedule: {cron,
// timezone} (5 fields, an optional leading seconds field, or descriptors
// such as @daily; an IANA zone, default UTC). do.flow names a flow of the
// bundle that is not `auth: user`; do.input's keys are its declared
// inputs. Expressions see object, event (type, collection, id, _seq,
// time), trigger (name, flow), env and firing (id, key, attempt).
// Plan.Triggers lists them for the runtime (package trigger), and
// Plan.Fire evaluates unless (ErrSkipped) and input and runs the flow
// without a user. The idempotency key reaches the flow only through
// do.input (firing.key): the flow passes it on to the systems it calls.
//
// # Results and errors
//
// Run returns a *Result (Output; Cache "hit", "miss", "stale" or "" for
// uncached flows; JSON when cached; Steps when Call.Trace). Failures:
// ErrFlowNotFound, ErrUnauthenticated (auth: user without a user),
// *InputError (400), *FlowError (Status: fail steps, mapped errors, 502
// for unmapped connector failures, 500 for expression failures), errors
// wrapping context.DeadlineExceeded (504) or context.Canceled. Secret
// values are redacted from every message the engine produces and logs.
//
// A cached flow's key is "<namespace>flow:<name>:v<version>:<user>:<key>"
// (user "-" for scope public or no user; key defaults to the input's
// JSON), so a deploy or rollback never serves another version's answers;
// entries carry the namespace's All tag, "flow:<name>" and the declared
// tags, all in the environment's namespace.
package orchestration
