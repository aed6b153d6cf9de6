package sql_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/skybridgehq/skybridge/connectors"
)

// BenchmarkQuery measures one parameterised query through the connector
// (guard, binding, pooled SQLite connection, rows to JSON).
func BenchmarkQuery(b *testing.B) {
	c, _ := connect(b, sqliteBackend(b), nil, map[string]map[string]any{
		"create": {"exec": "CREATE TABLE t (id INTEGER PRIMARY KEY, customer TEXT, amount REAL, note TEXT)"},
		"fill": {"exec": "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 1000) " +
			"INSERT INTO t (customer, amount, note) SELECT 'c' || (n % 10), n * 1.5, 'note ' || n FROM s"},
		"rows": {"query": "SELECT id, amount, note FROM t WHERE customer = :customer ORDER BY id LIMIT :limit"},
	})
	mustCall(b, c, "create", nil)
	mustCall(b, c, "fill", nil)
	for _, limit := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("rows=%d", limit), func(b *testing.B) {
			req := connectors.Request{Operation: "rows", Args: map[string]any{"customer": "c3", "limit": float64(limit)}}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Call(context.Background(), req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
