// Package sql is the "sql" connector type: flows run named, parameterised
// statements against a PostgreSQL (jackc/pgx), MySQL (go-sql-driver/mysql)
// or SQLite (modernc.org/sqlite) database declared in a Connector
// document.
//
//	apiVersion: skybridge/v1
//	kind: Connector
//	name: billing
//	type: sql
//	config:
//	  driver: postgres
//	  dsn: "${secret.BILLING_DSN}"
//	  maxOpenConns: 10
//	  timeout: 5s
//	  maxRows: 1000
//	operations:
//	  invoicesOf:
//	    query: "SELECT id, amount, due_date FROM invoices WHERE customer_id = :customer AND status = :status ORDER BY due_date"
//	    maxRows: 100
//	  markPaid:
//	    exec: "UPDATE invoices SET status = 'paid' WHERE id = :id"
//	    idempotent: true
//
// A step calls it like any connector: `call: billing.invoicesOf` with
// `with: {customer: "${input.customerId}", status: open}`.
//
// The package is named sql, like database/sql, so that it reads
// `sql.Type` beside `rest.Type`; inside it database/sql is imported as
// dbsql. Register Type under the name "sql". Validate is pure (it parses
// the DSN but never dials) and skips values holding an unresolved "${";
// New judges every value and does no I/O either: the pool connects on
// first use, so a wrong password or an unreachable database shows as the
// first call's failure, not as a failed deploy.
//
// # Config fields
//
//   - driver (required): postgres | mysql | sqlite.
//   - dsn (required): the data source name, normally a secret.
//     postgres: a URL ("postgres://user:pw@host:5432/db?sslmode=verify-full")
//     or key=value string, as pgx parses it. mysql: go-sql-driver's form
//     ("user:pw@tcp(host:3306)/db?parseTime=true"; parseTime makes DATETIME
//     columns times rather than text). sqlite: a file name or "file:" URI
//     (modernc.org/sqlite; "_pragma=busy_timeout(5000)" is advisable when
//     several calls write). It is parsed by Validate and New; it is never
//     quoted in errors or logs.
//   - timeout: bound of one call (concurrency slot wait, pooled connection
//     wait, the statement and reading its rows), a Go duration or seconds.
//     The caller's ctx deadline applies too, whichever is sooner; the
//     statement is cancelled in the database when it passes. Default: 10s.
//   - maxRows: the row limit of query operations. Default: 1000.
//   - maxOpenConns: the pool's size. Default: 10.
//   - maxIdleConns: idle connections kept. Default: maxOpenConns.
//   - connMaxLifetime: a connection's longest life. Default: 30m.
//   - connMaxIdleTime: how long an idle connection is kept. Default: 5m.
//   - concurrency: most calls in flight at once; a call waits for a slot
//     until its deadline and then fails with KindOverloaded. Default: 64
//     (calls beyond maxOpenConns wait for a connection within the pool).
//   - circuitBreaker: {failures, window, openFor, disabled}, or false, as
//     for the rest connector. Retryable failures (timeouts, unavailability,
//     StatusDatabaseError) count; refused statements and values do not.
//
// # Operation fields
//
//   - query or exec (exactly one, required): the SQL text. A query's rows
//     are the answer; an exec answers {"rowsAffected": n} and, on MySQL and
//     SQLite, "lastInsertId" (use `INSERT … RETURNING` in a query on
//     PostgreSQL).
//   - maxRows (query only): this operation's row limit. Default: config.maxRows.
//   - truncate (query only): true answers the first maxRows rows and sets
//     the header X-Skybridge-Truncated: true when there were more; false
//     (the default) fails such a call with KindBadResponse
//     (ErrTooManyRows), because a silently shortened list reads as a
//     complete one.
//   - timeout: this operation's timeout. Default: config.timeout.
//   - idempotent: whether retries are safe. Default: true for query, false
//     for exec.
//
// Every operation field is static: a field that uses `args` (and so
// arrives as a connectors.Template) is a validation error. SQL is never
// built from call values. `${env.X}` in the text is resolved at deploy
// time like in any static field, so a schema name may come from the
// environment, never from a call.
//
// # Parameters
//
// `:name` in the text is a parameter. New rewrites the text once into the
// driver's placeholders ($1, $2 … for postgres, with a repeated name
// reusing its number; ? for mysql and sqlite, one per occurrence) with a
// tokenizer that leaves string literals ('…', E'…', $tag$…$tag$ on
// PostgreSQL, backslash escapes on MySQL), quoted identifiers ("…", `…`,
// […] on SQLite), comments (--, /* */, # on MySQL), `::` casts and `:=`
// alone. A colon right after a name or number (`a[lo:hi]`) is no
// parameter. The driver's own placeholders ($1, ?, @x, $x on SQLite), an
// unterminated literal or comment, and a parameter glued to another name
// (`:a:b`) are validation errors.
//
// Each call binds the values of Request.Args by name; the driver sends them
// apart from the SQL text, so a value like "'; DROP TABLE invoices; --"
// is only ever a value. A parameter without an argument is KindInvalid
// (ErrMissingArg) naming it; a null argument binds NULL (so `= :x` with
// null matches nothing; write `IS NOT DISTINCT FROM` for that). Arguments
// the text does not use are ignored. Values: strings (dates and times
// stay strings and are cast by the database: `:due::date` on PostgreSQL),
// numbers (an integral number becomes an integer, so `id = :id` compares
// integers), booleans, null. Lists and mappings are KindInvalid
// (ErrBadArg): there is no list expansion (`IN (:ids)` does not work;
// on PostgreSQL pass a string and write `= ANY(string_to_array(:ids, ','))`).
//
// # Rows
//
// A query answers a list of row objects, column name → value: integers
// and floats as JSON numbers (an integer beyond ±2^53 as its decimal
// text); NUMERIC/DECIMAL as a number when float64 holds it exactly, else
// its decimal text; text as strings; binary columns (BYTEA, BLOB, BINARY)
// and bytes that are not UTF-8 as base64 text; JSON/JSONB decoded; DATE as
// "2006-01-02"; other times as RFC 3339 text; booleans as booleans
// (SQLite has none: 0 and 1); NULL as null; other database types (UUID,
// intervals, arrays) as the text the driver gives. Two result columns with
// one name are KindBadResponse: give them aliases. Response.Status is 200.
//
// # Errors and logs
//
// Every failure is *connectors.Error:
//
//   - KindTimeout: the deadline passed or the call was cancelled (also a
//     PostgreSQL statement_timeout, a MySQL max_execution_time).
//   - KindUnavailable: the database could not be reached (dial, reset,
//     refused), is shutting down or out of connections, or a
//     serialization failure, deadlock or lock wait (SQLite: busy, locked)
//     asks for a retry.
//   - KindStatus with Status StatusBadStatement (400: syntax, unknown
//     table or column), StatusForbidden (403: privileges, a refused
//     password), StatusConflict (409: unique, foreign key, not null and
//     check violations), StatusBadValue (422: a value the database
//     refused, "abc" for an integer), StatusDatabaseError (500, retryable:
//     anything else the database reported). Body is {"code": SQLSTATE or
//     the driver's error number, "message": the database's message}.
//   - KindInvalid: unknown operation, a missing or unbindable argument, a
//     value the driver cannot encode.
//   - KindBadResponse: more rows than maxRows (without truncate), duplicate
//     column names.
//   - KindOverloaded, KindCircuitOpen: from the guard.
//
// Messages, causes and logs never carry the DSN or its password (both are
// replaced by "[redacted]" wherever a driver quotes them, and a DSN that
// does not parse is never quoted). Messages do carry the database's own
// message, which may quote a value ("duplicate entry 'x' for key …").
// Failed calls are logged at debug level.
//
// # Pools
//
// Each connector instance (one per document, environment and deployment)
// has its own *sql.DB pool and its own connectors.Guard; nothing is shared
// between environments. Close closes the pool. The drivers are reached
// through their driver.Connector constructors and sql.OpenDB, so this
// package registers nothing with database/sql.
//
// Tests run on SQLite always and on PostgreSQL when
// SKYBRIDGE_TEST_POSTGRES_DSN is set (`make test-full` starts a throwaway
// cluster with scripts/postgres-test.sh). MySQL has no server here: its
// placeholder and quoting rules are unit-tested, and its driver only
// against a closed port.
package sql
