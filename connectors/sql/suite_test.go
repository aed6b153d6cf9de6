package sql_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/skybridgehq/skybridge/connectors"
	sqlconn "github.com/skybridgehq/skybridge/connectors/sql"
)

// ddl holds the statements that differ between backends.
type ddl struct {
	invoices string // CREATE TABLE %s (id, customer_id, amount, status, note)
	types    string // CREATE TABLE %s with one column per type tested
	typesRow string // INSERT of one row of the types table, parameterised
	want     map[string]any
}

var ddls = map[string]ddl{
	"sqlite": {
		invoices: "CREATE TABLE %s (id INTEGER PRIMARY KEY, customer_id TEXT NOT NULL, amount REAL, status TEXT NOT NULL, note TEXT, UNIQUE (customer_id, note))",
		types:    "CREATE TABLE %s (i INTEGER, big INTEGER, r REAL, t TEXT, b BLOB, d DATE, ts TIMESTAMP, flag BOOLEAN, n TEXT)",
		typesRow: "INSERT INTO %s (i, big, r, t, b, d, ts, flag, n) VALUES (:i, 9007199254740993, :r, :t, X'00FF', :d, :ts, :flag, :n)",
		want: map[string]any{"i": float64(42), "big": "9007199254740993", "r": 2.5, "t": "héllo 'quoted'",
			"b": "AP8=", "d": "2026-01-02", "ts": "2026-01-02T03:04:05Z", "flag": float64(1), "n": nil},
	},
	"postgres": {
		invoices: "CREATE TABLE %s (id BIGSERIAL PRIMARY KEY, customer_id TEXT NOT NULL, amount NUMERIC(12,2), status TEXT NOT NULL, note TEXT, UNIQUE (customer_id, note))",
		types:    "CREATE TABLE %s (i INT, big BIGINT, r DOUBLE PRECISION, t TEXT, b BYTEA, d DATE, ts TIMESTAMPTZ, flag BOOLEAN, n TEXT, dec NUMERIC(30,10), doc JSONB, u UUID)",
		typesRow: "INSERT INTO %s (i, big, r, t, b, d, ts, flag, n, dec, doc, u) VALUES (:i, 9007199254740993, :r, :t, '\\x00ff'::bytea, :d::date, :ts::timestamptz, :flag, :n, 12345678901234567890.5, '{\"a\": [1, \"x\"]}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')",
		want: map[string]any{"i": float64(42), "big": "9007199254740993", "r": 2.5, "t": "héllo 'quoted'",
			"b": "AP8=", "d": "2026-01-02", "ts": "2026-01-02T03:04:05Z", "flag": true, "n": nil,
			"dec": "12345678901234567890.5000000000", "doc": map[string]any{"a": []any{float64(1), "x"}}, "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
	},
}

// runSuite runs the parameter, injection, type, limit and error cases on
// backend b; the SQLite and PostgreSQL tests share it.
func runSuite(t *testing.T, b backend) {
	d := ddls[b.driver]
	inv := uniqueTable("invoices")
	typ := uniqueTable("types")
	c, _ := connect(t, b, nil, map[string]map[string]any{
		"createInvoices": {"exec": fmt.Sprintf(d.invoices, inv)},
		"createTypes":    {"exec": fmt.Sprintf(d.types, typ)},
		"insertTypes":    {"exec": fmt.Sprintf(d.typesRow, typ)},
		"selectTypes":    {"query": "SELECT * FROM " + typ},
		"add": {"exec": "INSERT INTO " + inv + " (customer_id, amount, status, note) VALUES (:customer, :amount, :status, :note)",
			"idempotent": false},
		"invoicesOf": {"query": "SELECT id, amount, status, note FROM " + inv +
			" WHERE customer_id = :customer AND status = :status ORDER BY id"},
		"byID":      {"query": "SELECT id, note FROM " + inv + " WHERE id = :id"},
		"count":     {"query": "SELECT COUNT(*) AS n FROM " + inv},
		"markPaid":  {"exec": "UPDATE " + inv + " SET status = 'paid' WHERE customer_id = :customer", "idempotent": true},
		"limited":   {"query": "SELECT id FROM " + inv + " ORDER BY id", "maxRows": 2},
		"truncated": {"query": "SELECT id FROM " + inv + " ORDER BY id", "maxRows": 2, "truncate": true},
		"repeated":  {"query": "SELECT :x AS a, :y AS b, :x AS c -- :ignored\n"},
		"badSQL":    {"query": "SELEC nothing FROM " + inv},
		"noTable":   {"query": "SELECT * FROM missing_" + inv},
	})
	mustCall(t, c, "createInvoices", nil)
	mustCall(t, c, "createTypes", nil)
	for i, note := range []any{"first", "second", nil} {
		resp := mustCall(t, c, "add", map[string]any{"customer": "c1", "amount": 10.5 + float64(i), "status": "open", "note": note})
		if body := resp.Body.(map[string]any); body["rowsAffected"] != float64(1) {
			t.Fatalf("add: %v", body)
		}
	}
	mustCall(t, c, "add", map[string]any{"customer": "c2", "amount": 99, "status": "open", "note": "other"})

	t.Run("parameters", func(t *testing.T) {
		rows := rowsOf(t, mustCall(t, c, "invoicesOf", map[string]any{"customer": "c1", "status": "open", "unused": "ignored"}))
		if len(rows) != 3 || rows[0]["note"] != "first" || rows[0]["amount"] != 10.5 || rows[2]["note"] != nil {
			t.Fatalf("rows %v", rows)
		}
		got := rowsOf(t, mustCall(t, c, "repeated", map[string]any{"x": "X", "y": "Y"}))
		if want := []map[string]any{{"a": "X", "b": "Y", "c": "X"}}; !reflect.DeepEqual(got, want) {
			t.Fatalf("repeated: %v, want %v", got, want)
		}
	})
	t.Run("injection stays a value", func(t *testing.T) {
		for _, attack := range []string{"'; DROP TABLE " + inv + "; --", "c1' OR '1'='1", "1 OR 1=1", "c1; DELETE FROM " + inv} {
			rows := rowsOf(t, mustCall(t, c, "invoicesOf", map[string]any{"customer": attack, "status": "open"}))
			if len(rows) != 0 {
				t.Fatalf("%q matched %d rows", attack, len(rows))
			}
			resp, err := call(t, c, "byID", map[string]any{"id": attack})
			switch {
			case err == nil:
				if len(rowsOf(t, resp)) != 0 {
					t.Fatalf("id %q matched rows", attack)
				}
			default:
				// PostgreSQL refuses the text as an integer: the value
				// was bound (and judged) as a value.
				ce := wantKind(t, err, connectors.KindStatus)
				if ce.Status != sqlconn.StatusBadValue || ce.Retryable() {
					t.Fatalf("id %q: %v", attack, err)
				}
			}
		}
		mustCall(t, c, "add", map[string]any{"customer": "evil", "amount": 1, "status": "open", "note": "'); DROP TABLE " + inv + "; --"})
		rows := rowsOf(t, mustCall(t, c, "invoicesOf", map[string]any{"customer": "evil", "status": "open"}))
		if len(rows) != 1 || rows[0]["note"] != "'); DROP TABLE "+inv+"; --" {
			t.Fatalf("stored attack text: %v", rows)
		}
		if n := rowsOf(t, mustCall(t, c, "count", nil))[0]["n"]; n != float64(5) {
			t.Fatalf("table holds %v rows after the attempts, want 5", n)
		}
	})
	t.Run("types round trip", func(t *testing.T) {
		mustCall(t, c, "insertTypes", map[string]any{"i": float64(42), "r": 2.5, "t": "héllo 'quoted'",
			"d": "2026-01-02", "ts": "2026-01-02T03:04:05Z", "flag": true, "n": nil})
		rows := rowsOf(t, mustCall(t, c, "selectTypes", nil))
		if len(rows) != 1 {
			t.Fatalf("rows %v", rows)
		}
		for col, want := range d.want {
			if got := rows[0][col]; !reflect.DeepEqual(got, want) {
				t.Errorf("column %s: %#v, want %#v", col, got, want)
			}
		}
	})
	t.Run("maxRows", func(t *testing.T) {
		_, err := call(t, c, "limited", nil)
		if ce := wantKind(t, err, connectors.KindBadResponse); !errors.Is(ce, sqlconn.ErrTooManyRows) || !strings.Contains(ce.Message, "maxRows") {
			t.Fatalf("limited: %v", err)
		}
		resp := mustCall(t, c, "truncated", nil)
		if rows := rowsOf(t, resp); len(rows) != 2 || resp.Header.Get(sqlconn.TruncatedHeader) != "true" {
			t.Fatalf("truncated: %v %v", rows, resp.Header)
		}
		resp = mustCall(t, c, "byID", map[string]any{"id": 1})
		if resp.Header.Get(sqlconn.TruncatedHeader) != "" {
			t.Fatal("a complete answer is marked truncated")
		}
	})
	t.Run("exec rowsAffected", func(t *testing.T) {
		body := mustCall(t, c, "markPaid", map[string]any{"customer": "c1"}).Body.(map[string]any)
		if body["rowsAffected"] != float64(3) {
			t.Fatalf("markPaid: %v", body)
		}
		if !c.Idempotent("markPaid") || c.Idempotent("add") || !c.Idempotent("count") || c.Idempotent("nope") {
			t.Fatal("Idempotent")
		}
	})
	t.Run("refused calls", func(t *testing.T) {
		tests := []struct {
			name   string
			op     string
			args   map[string]any
			kind   connectors.ErrorKind
			status int
			text   string
		}{
			{"missing argument", "invoicesOf", map[string]any{"customer": "c1"}, connectors.KindInvalid, 0, `"status"`},
			{"list argument", "invoicesOf", map[string]any{"customer": []any{"c1", "c2"}, "status": "open"}, connectors.KindInvalid, 0, "list"},
			{"mapping argument", "invoicesOf", map[string]any{"customer": map[string]any{"$gt": ""}, "status": "open"}, connectors.KindInvalid, 0, "mapping"},
			{"unknown operation", "nope", nil, connectors.KindInvalid, 0, "unknown operation"},
			{"unique violation", "add", map[string]any{"customer": "c2", "amount": 1, "status": "open", "note": "other"}, connectors.KindStatus, sqlconn.StatusConflict, ""},
			{"not null violation", "add", map[string]any{"customer": nil, "amount": 1, "status": "open", "note": "x"}, connectors.KindStatus, sqlconn.StatusConflict, ""},
			{"syntax error", "badSQL", nil, connectors.KindStatus, sqlconn.StatusBadStatement, ""},
			{"unknown table", "noTable", nil, connectors.KindStatus, sqlconn.StatusBadStatement, ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				_, err := call(t, c, tc.op, tc.args)
				ce := wantKind(t, err, tc.kind)
				if ce.Status != tc.status || !strings.Contains(ce.Message, tc.text) {
					t.Fatalf("status %d message %q, want %d and %q", ce.Status, ce.Message, tc.status, tc.text)
				}
				if ce.Retryable() {
					t.Fatalf("%v is retryable", err)
				}
				if tc.kind == connectors.KindStatus {
					if body, _ := ce.Body.(map[string]any); body["code"] == "" || body["message"] == "" {
						t.Fatalf("body %v", ce.Body)
					}
				}
			})
		}
	})
}
