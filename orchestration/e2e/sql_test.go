package e2e

import (
	"context"
	dbsql "database/sql"
	"net/http"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"
)

// TestSQLConnectorOverHTTP: a flow reads invoices from a SQLite file
// through the sql connector with a named parameter; a value that tries
// to break out of it stays a value; the DSN (a secret) never shows.
func TestSQLConnectorOverHTTP(t *testing.T) {
	path := filepath.Join(t.TempDir(), "billing.db")
	db, err := dbsql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"CREATE TABLE invoices (id TEXT PRIMARY KEY, customer TEXT, amount REAL)",
		"INSERT INTO invoices VALUES ('i1', 'c1', 12.5), ('i2', 'c1', 99), ('i3', 'c2', 7)",
	} {
		if _, err := db.ExecContext(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	e := start(t)
	e.secret("dev", "BILLING_DSN", "file:"+path)
	e.deploy("dev", map[string]string{"billing.yaml": `apiVersion: skybridge/v1
kind: Connector
name: billing
type: sql
config: {driver: sqlite, dsn: "${secret.BILLING_DSN}"}
operations:
  invoicesOf: {query: "SELECT id, amount FROM invoices WHERE customer = :customer ORDER BY id"}
---
apiVersion: skybridge/v1
kind: Flow
name: invoices
auth: public
input: {customer: {type: string, required: true}}
steps:
  - {id: rows, call: billing.invoicesOf, with: {customer: "${input.customer}"}}
output: {count: "${len(steps.rows)}", total: "${sum(map(steps.rows, #.amount))}"}
`})
	st, out, _ := e.flow("dev", "invoices", "customer=c1", nil)
	if st != 200 || out["count"] != 2.0 || out["total"] != 111.5 {
		t.Fatalf("invoices of c1: %d %v", st, out)
	}
	for _, attack := range []string{"c1' OR '1'='1", "'; DROP TABLE invoices; --"} {
		st, out, _ := e.flow("dev", "invoices", "customer="+urlEscape(attack), nil)
		if st != 200 || out["count"] != 0.0 {
			t.Fatalf("injection %q: %d %v", attack, st, out)
		}
	}
	if st, out, _ := e.flow("dev", "invoices", "customer=c2", nil); st != 200 || out["count"] != 1.0 {
		t.Fatalf("after the attempts: %d %v", st, out)
	}
	if st, _ := e.adminDo(http.MethodGet, "dev", "/secrets", nil); st != 200 {
		t.Fatal("secrets list")
	}
	e.assertNoSecret("file:" + path)
}
