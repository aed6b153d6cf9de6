package sql

import (
	"context"
	dbsql "database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/skybridgehq/skybridge/connectors"
	"github.com/skybridgehq/skybridge/connectors/internal/conncore"
)

// Type is the "sql" connector type, to register with the orchestration
// engine under the name "sql".
var Type = connectors.Type{Validate: Validate, New: New}

// ErrInvalidSpec is the cause of New's error for a Spec that does not
// validate.
var ErrInvalidSpec = errors.New("sql: invalid connector spec")

// TruncatedHeader is the Response header set to "true" when a query with
// `truncate: true` had more rows than its limit.
const TruncatedHeader = "X-Skybridge-Truncated"

// Validate checks spec without building anything or doing I/O: the DSN
// is parsed, never dialled. Values holding "${" are unresolved
// placeholders and are not judged.
func Validate(spec connectors.Spec) []connectors.FieldError {
	_, errs := readSpec(spec, false)
	return errs
}

// Connector runs the named statements of one database. It owns one
// connection pool (*sql.DB) and one Guard; build one per connector
// document and environment, and Close it when the bundle is replaced.
type Connector struct {
	name     string
	s        settings
	ops      map[string]*operation
	db       *dbsql.DB
	guard    *connectors.Guard
	logger   *slog.Logger
	redactor *strings.Replacer
}

var _ connectors.Connector = (*Connector)(nil)

// operation is an operationSpec ready to run.
type operation struct {
	*operationSpec
	label   string // "query invoicesOf", safe to log
	maxRows int
	timeout time.Duration
}

// New builds a ready connector from a fully resolved spec (every value is
// judged, placeholders included). It does no I/O: the pool connects on
// first use, so a wrong password or an unreachable host shows as the
// first call's KindUnavailable or KindStatus 403, not here.
func New(spec connectors.Spec, opts connectors.Options) (connectors.Connector, error) {
	return NewConnector(spec, opts)
}

// NewConnector is New returning the concrete type.
func NewConnector(spec connectors.Spec, opts connectors.Options) (*Connector, error) {
	sp, errs := readSpec(spec, true)
	if len(errs) > 0 {
		return nil, conncore.SpecError(spec.Name, ErrInvalidSpec, errs)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := sp.settings.withDefaults()
	conn, secrets, err := connector(s.driver, s.dsn)
	if err != nil { // readSpec parsed the same DSN; kept for safety
		return nil, fmt.Errorf("connector %s: %w: config.dsn does not parse", spec.Name, ErrInvalidSpec)
	}
	db := dbsql.OpenDB(conn)
	db.SetMaxOpenConns(s.maxOpenConns)
	db.SetMaxIdleConns(s.maxIdleConns)
	db.SetConnMaxLifetime(s.connMaxLifetime)
	db.SetConnMaxIdleTime(s.connMaxIdleTime)
	logger := opts.Logger.With("connector", spec.Name)
	c := &Connector{name: spec.Name, s: s, db: db, logger: logger, redactor: newRedactor(s.dsn, secrets)}
	guard := s.guard
	guard.Now, guard.Logger = opts.Now, opts.Logger
	c.guard = connectors.NewGuard(spec.Name, guard)
	c.ops = make(map[string]*operation, len(sp.ops))
	for name, o := range sp.ops {
		op := &operation{operationSpec: o, maxRows: o.maxRows, timeout: o.timeout}
		if op.maxRows == 0 {
			op.maxRows = s.maxRows
		}
		if op.timeout == 0 {
			op.timeout = s.timeout
		}
		op.label = "query " + name
		if o.exec {
			op.label = "exec " + name
		}
		c.ops[name] = op
	}
	logger.Debug("connector ready", "type", "sql", "driver", s.driver, "operations", len(c.ops), "maxOpenConns", s.maxOpenConns)
	return c, nil
}

// Idempotent reports whether op may be retried: query operations unless
// they say `idempotent: false`, exec operations only with
// `idempotent: true`. False for unknown operations.
func (c *Connector) Idempotent(op string) bool {
	o, ok := c.ops[op]
	return ok && o.idempotent
}

// Guard returns the connector's guard (its concurrency limit and circuit
// breaker), for health reporting.
func (c *Connector) Guard() *connectors.Guard { return c.guard }

// Stats returns the connection pool's statistics, for health reporting.
func (c *Connector) Stats() dbsql.DBStats { return c.db.Stats() }

// Close closes the connection pool; calls in flight finish first. A call
// after Close fails with KindUnavailable.
func (c *Connector) Close() error { return c.db.Close() }

// Call runs operation req.Operation with its parameters bound from
// req.Args by name. The call is bounded by the operation's timeout and
// ctx's deadline, whichever is sooner; the waits for a concurrency slot
// and a pooled connection count against it.
func (c *Connector) Call(ctx context.Context, req connectors.Request) (*connectors.Response, error) {
	o, ok := c.ops[req.Operation]
	if !ok {
		return nil, c.fail(ctx, req.Operation, connectors.KindInvalid, 0, nil, "unknown operation", nil)
	}
	args, err := bindArgs(o, req.Args)
	if err != nil {
		return nil, c.fail(ctx, o.name, connectors.KindInvalid, 0, nil, fmt.Sprintf("%s: %v", o.label, err), err)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	return c.guard.Do(ctx, o.name, func(ctx context.Context) (*connectors.Response, error) {
		if o.exec {
			return c.exec(ctx, o, args)
		}
		return c.query(ctx, o, args)
	})
}

// ErrMissingArg is the cause of a KindInvalid failure for a parameter
// that the call's args do not hold.
var ErrMissingArg = errors.New("missing argument")

// ErrBadArg is the cause of a KindInvalid failure for an argument that
// cannot be bound (a list, a mapping).
var ErrBadArg = errors.New("argument cannot be bound")

// bindArgs returns the values of o's placeholders in order. Values are
// never written into the SQL text; the driver sends them apart from it.
func bindArgs(o *operation, in map[string]any) ([]any, error) {
	vals := make(map[string]any, len(o.stmt.params))
	for _, name := range o.stmt.params {
		v, ok := in[name]
		if !ok {
			return nil, fmt.Errorf("%w %q for parameter :%s", ErrMissingArg, name, name)
		}
		b, err := bindValue(v)
		if err != nil {
			return nil, fmt.Errorf("%w: argument %q %v", ErrBadArg, name, err)
		}
		vals[name] = b
	}
	args := make([]any, len(o.stmt.binds))
	for i, name := range o.stmt.binds {
		args[i] = vals[name]
	}
	return args, nil
}

func (c *Connector) query(ctx context.Context, o *operation, args []any) (*connectors.Response, error) {
	rows, err := c.db.QueryContext(ctx, o.stmt.text, args...)
	if err != nil {
		return nil, c.failure(ctx, o, err)
	}
	defer rows.Close()
	out, more, err := readRows(rows, o.maxRows)
	if err != nil {
		return nil, c.failure(ctx, o, err)
	}
	resp := &connectors.Response{Status: http.StatusOK, Header: http.Header{}, Body: out}
	if more {
		if !o.truncate {
			return nil, c.fail(ctx, o.name, connectors.KindBadResponse, 0, nil,
				fmt.Sprintf("%s: more than %d rows (maxRows); narrow the query, raise maxRows or set truncate: true", o.label, o.maxRows), ErrTooManyRows)
		}
		resp.Header.Set(TruncatedHeader, "true")
	}
	return resp, nil
}

// ErrTooManyRows is the cause of the KindBadResponse failure of a query
// that has more rows than its limit (without `truncate: true`).
var ErrTooManyRows = errors.New("more rows than maxRows")

func (c *Connector) exec(ctx context.Context, o *operation, args []any) (*connectors.Response, error) {
	res, err := c.db.ExecContext(ctx, o.stmt.text, args...)
	if err != nil {
		return nil, c.failure(ctx, o, err)
	}
	body := map[string]any{}
	if n, err := res.RowsAffected(); err == nil {
		body["rowsAffected"] = float64(n)
	}
	// PostgreSQL has no last insert id (use RETURNING in a query
	// operation); pgx reports an error for it, and the key is left out.
	if c.s.driver != DriverPostgres {
		if id, err := res.LastInsertId(); err == nil {
			body["lastInsertId"] = jsonValue(id, colOther)
		}
	}
	return &connectors.Response{Status: http.StatusOK, Header: http.Header{}, Body: body}, nil
}
