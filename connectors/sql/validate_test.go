package sql_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/skybridgehq/skybridge/connectors"
	sqlconn "github.com/skybridgehq/skybridge/connectors/sql"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	const pgDSN = "postgres://app:pw-SECRET@db.example:5432/billing"
	base := func(edit func(cfg map[string]any)) map[string]any {
		cfg := map[string]any{"driver": "postgres", "dsn": pgDSN}
		if edit != nil {
			edit(cfg)
		}
		return cfg
	}
	q := map[string]map[string]any{"get": {"query": "SELECT * FROM invoices WHERE id = :id"}}
	tests := []struct {
		name   string
		config map[string]any
		ops    map[string]map[string]any
		dyn    map[string]connectors.Template
		fields []string // want exactly these fields, in order; nil for valid
	}{
		{"valid", base(nil), q, nil, nil},
		{"full", base(func(c map[string]any) {
			c["timeout"], c["maxRows"], c["maxOpenConns"], c["maxIdleConns"] = "5s", 100, 10, 2
			c["connMaxLifetime"], c["connMaxIdleTime"], c["concurrency"] = "1h", "1m", 8
			c["circuitBreaker"] = map[string]any{"failures": 2}
		}), map[string]map[string]any{
			"q": {"query": "SELECT 1", "maxRows": 5, "truncate": true, "timeout": "1s", "idempotent": false},
			"e": {"exec": "DELETE FROM t WHERE id = :id", "idempotent": true},
		}, nil, nil},
		{"mysql", map[string]any{"driver": "mysql", "dsn": "app:pw@tcp(db:3306)/billing?parseTime=true"}, q, nil, nil},
		{"sqlite", map[string]any{"driver": "sqlite", "dsn": "file:/tmp/x.db?_pragma=busy_timeout(5000)"}, q, nil, nil},
		{"placeholders not judged", map[string]any{"driver": "${env.DRIVER}", "dsn": "${secret.DSN}", "timeout": "${env.T}"},
			map[string]map[string]any{"get": {"query": "SELECT * FROM ${env.SCHEMA}.t"}}, nil, nil},
		{"missing driver and dsn", map[string]any{}, q, nil, []string{"config.driver", "config.dsn"}},
		{"unknown driver", base(func(c map[string]any) { c["driver"] = "oracle" }), q, nil, []string{"config.driver"}},
		{"bad postgres dsn", base(func(c map[string]any) { c["dsn"] = "postgres://app:pw-SECRET@db:notaport/x" }), q, nil, []string{"config.dsn"}},
		{"bad mysql dsn", map[string]any{"driver": "mysql", "dsn": "app:pw-SECRET@db/x"}, q, nil, []string{"config.dsn"}},
		{"empty sqlite dsn", map[string]any{"driver": "sqlite", "dsn": " "}, q, nil, []string{"config.dsn"}},
		{"bad numbers", base(func(c map[string]any) { c["maxRows"], c["maxOpenConns"], c["timeout"] = 0, "x", "-1s" }), q, nil,
			[]string{"config.timeout", "config.maxRows", "config.maxOpenConns"}},
		{"unknown fields", base(func(c map[string]any) { c["dns"] = "x" }), map[string]map[string]any{"get": {"query": "SELECT 1", "params": []any{"a"}}}, nil,
			[]string{"config.dns", "operations.get.params"}},
		{"no operations", base(nil), nil, nil, []string{"operations"}},
		{"neither query nor exec", base(nil), map[string]map[string]any{"get": {"maxRows": 1}}, nil, []string{"operations.get.query"}},
		{"both query and exec", base(nil), map[string]map[string]any{"get": {"query": "SELECT 1", "exec": "SELECT 1"}}, nil, []string{"operations.get.exec"}},
		{"positional placeholder", base(nil), map[string]map[string]any{"get": {"query": "SELECT * FROM t WHERE id = $1"}}, nil, []string{"operations.get.query"}},
		{"unterminated literal", base(nil), map[string]map[string]any{"get": {"query": "SELECT 'x"}}, nil, []string{"operations.get.query"}},
		{"maxRows on exec", base(nil), map[string]map[string]any{"get": {"exec": "DELETE FROM t", "maxRows": 1, "truncate": true}}, nil,
			[]string{"operations.get.maxRows", "operations.get.truncate"}},
		{"dynamic query", base(nil), map[string]map[string]any{"get": {}}, map[string]connectors.Template{"query": connectors.Const("SELECT 1")},
			[]string{"operations.get.query"}},
		{"dynamic other field", base(nil), q, map[string]connectors.Template{"maxRows": connectors.Const(1)}, []string{"operations.get.maxRows"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			spec := connectors.Spec{Name: "billing", Type: "sql", Config: tc.config, Operations: ops(tc.ops)}
			for name, op := range spec.Operations {
				op.Dynamic = tc.dyn
				spec.Operations[name] = op
			}
			errs := sqlconn.Validate(spec)
			var got []string
			for _, e := range errs {
				got = append(got, e.Field)
				if strings.Contains(e.Message, "SECRET") {
					t.Errorf("%s quotes the DSN: %s", e.Field, e.Message)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.fields, ",") {
				t.Fatalf("fields %v, want %v (%v)", got, tc.fields, errs)
			}
		})
	}
}

// TestNewJudgesPlaceholders: what Validate lets pass unresolved, New
// refuses, since by then every value must be resolved. New opens no
// connection: a DSN naming an unreachable host still builds.
func TestNewJudgesPlaceholders(t *testing.T) {
	t.Parallel()
	spec := connectors.Spec{Name: "billing", Type: "sql", Config: map[string]any{"driver": "postgres", "dsn": "${secret.DSN}"},
		Operations: ops(map[string]map[string]any{"get": {"query": "SELECT 1"}})}
	if errs := sqlconn.Validate(spec); len(errs) != 0 {
		t.Fatalf("Validate: %v", errs)
	}
	if _, err := sqlconn.Type.New(spec, connectors.Options{}); !errors.Is(err, sqlconn.ErrInvalidSpec) {
		t.Fatalf("New: %v", err)
	}
	spec.Config["dsn"] = "postgres://u:p@192.0.2.1:1/x?connect_timeout=1"
	c, err := sqlconn.Type.New(spec, connectors.Options{})
	if err != nil {
		t.Fatalf("New with an unreachable host: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}
