package sql

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"

	"github.com/skybridgehq/skybridge/connectors"
)

// Statuses of database errors (KindStatus), chosen so that flows can tell
// them apart the way they tell HTTP answers apart and so that
// connectors.Error.Retryable holds: only 500 is retried.
const (
	// StatusBadStatement: the database refused the operation's SQL
	// (syntax, unknown table or column). Not retryable: fix the document.
	StatusBadStatement = 400
	// StatusForbidden: the database user may not do this.
	StatusForbidden = 403
	// StatusConflict: a constraint refused the write (unique, foreign
	// key, not null, check).
	StatusConflict = 409
	// StatusBadValue: the database refused a bound value (not a number,
	// out of range, too long).
	StatusBadValue = 422
	// StatusDatabaseError: any other database error.
	StatusDatabaseError = 500
)

// dbError is what a database said about a failed statement.
type dbError struct {
	code    string // SQLSTATE, MySQL error number or SQLite code
	message string
	kind    connectors.ErrorKind
	status  int
}

// classify maps err, from a driver, to a failure; ok is false when err
// is not the database's own answer.
func classifyDB(err error) (dbError, bool) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return postgresError(pe), true
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return mysqlError(me), true
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return sqliteError(se), true
	}
	return dbError{}, false
}

func postgresError(pe *pgconn.PgError) dbError {
	d := dbError{code: pe.Code, message: pe.Message, kind: connectors.KindStatus, status: StatusDatabaseError}
	class := ""
	if len(pe.Code) >= 2 {
		class = pe.Code[:2]
	}
	switch {
	case pe.Code == "40001" || pe.Code == "40P01" || pe.Code == "55P03": // serialization, deadlock, lock not available
		d.kind, d.status = connectors.KindUnavailable, 0
	case pe.Code == "57014": // query_canceled (statement_timeout)
		d.kind, d.status = connectors.KindTimeout, 0
	case class == "08" || class == "53" || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03":
		// connection exceptions, insufficient resources, shutdown
		d.kind, d.status = connectors.KindUnavailable, 0
	case class == "23":
		d.status = StatusConflict
	case class == "22":
		d.status = StatusBadValue
	case pe.Code == "42501" || class == "28":
		d.status = StatusForbidden
	case class == "42" || class == "0A" || class == "21":
		d.status = StatusBadStatement
	}
	return d
}

func mysqlError(me *mysql.MySQLError) dbError {
	d := dbError{code: fmt.Sprint(me.Number), message: me.Message, kind: connectors.KindStatus, status: StatusDatabaseError}
	switch me.Number {
	case 1213, 1205: // deadlock, lock wait timeout
		d.kind, d.status = connectors.KindUnavailable, 0
	case 3024, 1317, 1028: // max_execution_time exceeded, query interrupted
		d.kind, d.status = connectors.KindTimeout, 0
	case 1040, 1053, 1203: // too many connections, shutdown
		d.kind, d.status = connectors.KindUnavailable, 0
	case 1062, 1586, 1451, 1452, 1048, 1364, 3819, 1216, 1217:
		d.status = StatusConflict
	case 1264, 1265, 1292, 1366, 1406, 1367, 1690, 1411:
		d.status = StatusBadValue
	case 1044, 1045, 1142, 1143, 1227, 1370:
		d.status = StatusForbidden
	case 1064, 1146, 1054, 1049, 1052, 1109, 1149, 1305, 1327:
		d.status = StatusBadStatement
	}
	return d
}

// SQLite primary result codes (sqlite3.h).
const (
	sqliteError_     = 1
	sqlitePerm       = 3
	sqliteBusy       = 5
	sqliteLocked     = 6
	sqliteReadOnly   = 8
	sqliteInterrupt  = 9
	sqliteIOErr      = 10
	sqliteCantOpen   = 14
	sqliteTooBig     = 18
	sqliteConstraint = 19
	sqliteMismatch   = 20
	sqliteAuth       = 23
	sqliteRange      = 25
)

func sqliteError(se *sqlite.Error) dbError {
	d := dbError{code: fmt.Sprint(se.Code()), message: sqliteMessage(se.Error()), kind: connectors.KindStatus, status: StatusDatabaseError}
	switch se.Code() & 0xff {
	case sqliteBusy, sqliteLocked:
		d.kind, d.status = connectors.KindUnavailable, 0
	case sqliteInterrupt:
		d.kind, d.status = connectors.KindTimeout, 0
	case sqliteIOErr, sqliteCantOpen:
		d.kind, d.status = connectors.KindUnavailable, 0
	case sqliteConstraint:
		d.status = StatusConflict
	case sqliteMismatch, sqliteTooBig, sqliteRange:
		d.status = StatusBadValue
	case sqlitePerm, sqliteReadOnly, sqliteAuth:
		d.status = StatusForbidden
	case sqliteError_:
		d.status = StatusBadStatement
	}
	return d
}

// sqliteMessage drops the "(code)" suffix modernc adds to messages.
func sqliteMessage(s string) string {
	if i := strings.LastIndex(s, " ("); i > 0 && strings.HasSuffix(s, ")") {
		return s[:i]
	}
	return s
}

// fail builds a call's *connectors.Error and logs it at debug level. msg
// must already be free of secrets.
func (c *Connector) fail(ctx context.Context, op string, kind connectors.ErrorKind, status int, body any, msg string, cause error) *connectors.Error {
	if c.logger.Enabled(ctx, slog.LevelDebug) {
		c.logger.LogAttrs(ctx, slog.LevelDebug, "connector call failed",
			slog.String("operation", op), slog.String("kind", string(kind)),
			slog.Int("status", status), slog.String("message", msg))
	}
	return &connectors.Error{Connector: c.name, Operation: op, Kind: kind, Status: status, Body: body, Message: msg, Err: cause}
}

// redact replaces the DSN and its password in s.
func (c *Connector) redact(s string) string { return c.redactor.Replace(s) }

// causeError is the cause recorded for driver failures instead of the
// driver's error, whose text may quote the DSN or host details the
// redactor did not know; the classified message keeps what matters.
type causeError struct {
	msg   string
	cause error
}

func (e *causeError) Error() string { return e.msg }

// Is lets errors.Is see through to the sentinel causes a caller may test
// (context errors, driver.ErrBadConn) without exposing the driver's text.
func (e *causeError) Is(target error) bool { return errors.Is(e.cause, target) }

// failure classifies a driver error from a statement: the deadline or a
// cancellation (KindTimeout), the database's own answer (see the
// Status* constants), or trouble reaching it (KindUnavailable).
func (c *Connector) failure(ctx context.Context, o *operation, err error) error {
	safe := &causeError{msg: c.redact(err.Error()), cause: err}
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		return c.fail(ctx, o.name, connectors.KindTimeout, 0, nil,
			fmt.Sprintf("%s: no result before the deadline (timeout %s or the caller's, whichever is sooner)", o.label, o.timeout),
			errors.Join(context.DeadlineExceeded, safe))
	case errors.Is(ctx.Err(), context.Canceled) || errors.Is(err, context.Canceled):
		return c.fail(ctx, o.name, connectors.KindTimeout, 0, nil,
			fmt.Sprintf("%s: call cancelled", o.label), errors.Join(context.Canceled, safe))
	}
	if d, ok := classifyDB(err); ok {
		msg := fmt.Sprintf("%s: the database answered %s: %s", o.label, d.code, c.redact(d.message))
		var body any
		if d.kind == connectors.KindStatus {
			body = map[string]any{"code": d.code, "message": c.redact(d.message)}
		}
		return c.fail(ctx, o.name, d.kind, d.status, body, msg, safe)
	}
	var dup *duplicateColumnError
	if errors.As(err, &dup) {
		return c.fail(ctx, o.name, connectors.KindBadResponse, 0, nil, fmt.Sprintf("%s: %v", o.label, dup), safe)
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, mysql.ErrInvalidConn) || isConnectError(err) {
		return c.fail(ctx, o.name, connectors.KindUnavailable, 0, nil,
			fmt.Sprintf("%s: the database could not be reached: %s", o.label, safe.msg), safe)
	}
	// What is left failed on this side of the wire: a value the driver
	// could not encode for its column (a PostgreSQL int column given
	// "abc"), or a connection the driver gave up on. Neither comes back on
	// a retry of the same call except the latter, which pgx reports as a
	// connect or network error above.
	return c.fail(ctx, o.name, connectors.KindInvalid, 0, nil,
		fmt.Sprintf("%s: the driver refused the call: %s", o.label, safe.msg), safe)
}

func isConnectError(err error) bool {
	var ce *pgconn.ConnectError
	return errors.As(err, &ce) || pgconn.SafeToRetry(err)
}
