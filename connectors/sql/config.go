package sql

import (
	"sort"
	"time"

	"github.com/skybridgehq/skybridge/connectors"
	"github.com/skybridgehq/skybridge/connectors/internal/confmap"
)

// Defaults of the config fields (see the package doc).
const (
	// DefaultTimeout bounds one call when neither config.timeout nor the
	// operation's timeout is set.
	DefaultTimeout = 10 * time.Second
	// DefaultMaxRows is the row limit of a query when neither
	// config.maxRows nor the operation's maxRows is set.
	DefaultMaxRows = 1000
	// DefaultMaxOpenConns is the pool's size when config.maxOpenConns is
	// not set.
	DefaultMaxOpenConns = 10
	// DefaultConnMaxLifetime is how long a pooled connection lives when
	// config.connMaxLifetime is not set.
	DefaultConnMaxLifetime = 30 * time.Minute
	// DefaultConnMaxIdleTime is how long an idle pooled connection is
	// kept when config.connMaxIdleTime is not set.
	DefaultConnMaxIdleTime = 5 * time.Minute
)

// Driver names, the values of config.driver.
const (
	DriverPostgres = "postgres"
	DriverMySQL    = "mysql"
	DriverSQLite   = "sqlite"
)

// settings is a connector's config, read and checked.
type settings struct {
	driver          string
	dialect         dialect
	dsn             string
	timeout         time.Duration
	maxRows         int
	maxOpenConns    int
	maxIdleConns    int // 0: as many as maxOpenConns
	connMaxLifetime time.Duration
	connMaxIdleTime time.Duration
	guard           connectors.GuardConfig
}

// withDefaults fills the zero fields with the package defaults.
func (s settings) withDefaults() settings {
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	if s.maxRows <= 0 {
		s.maxRows = DefaultMaxRows
	}
	if s.maxOpenConns <= 0 {
		s.maxOpenConns = DefaultMaxOpenConns
	}
	if s.maxIdleConns <= 0 || s.maxIdleConns > s.maxOpenConns {
		s.maxIdleConns = s.maxOpenConns
	}
	if s.connMaxLifetime <= 0 {
		s.connMaxLifetime = DefaultConnMaxLifetime
	}
	if s.connMaxIdleTime <= 0 {
		s.connMaxIdleTime = DefaultConnMaxIdleTime
	}
	return s
}

var dialects = map[string]dialect{DriverPostgres: dialectPostgres, DriverMySQL: dialectMySQL, DriverSQLite: dialectSQLite}

// operationSpec is one operation, read and checked.
type operationSpec struct {
	name       string
	exec       bool // exec: (rows affected) rather than query: (rows)
	stmt       statement
	maxRows    int // 0: the connector's
	truncate   bool
	timeout    time.Duration // 0: the connector's
	idempotent bool
}

// spec is everything New needs, read from a connectors.Spec.
type spec struct {
	name string
	settings
	ops map[string]*operationSpec
}

// readSpec reads and checks s. With strict false (Validate) placeholder
// values are not judged and the result is only good for its errors.
func readSpec(s connectors.Spec, strict bool) (*spec, []connectors.FieldError) {
	r := &confmap.Reader{Strict: strict}
	out := &spec{name: s.Name, ops: make(map[string]*operationSpec, len(s.Operations))}
	cfg := r.Map("config", s.Config)
	out.settings = readSettings(cfg)
	cfg.Done()
	if len(s.Operations) == 0 {
		r.Errorf("operations", "at least one operation is required")
	}
	names := make([]string, 0, len(s.Operations))
	for name := range s.Operations {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		out.ops[name] = readOperation(r, name, s.Operations[name], out.dialect)
	}
	return out, r.Errs
}

func readSettings(cfg confmap.Map) settings {
	var s settings
	r := cfg.Reader()
	if d, ok := cfg.Required("driver"); ok {
		if s.dialect = dialects[d]; s.dialect == 0 {
			r.Errorf(cfg.Field("driver"), "must be postgres, mysql or sqlite")
		} else {
			s.driver = d
		}
	}
	if dsn, ok := cfg.Required("dsn"); ok {
		s.dsn = dsn
		if s.dialect != 0 {
			if err := checkDSN(s.driver, dsn); err != nil {
				// Never quote the DSN: it holds the password.
				r.Errorf(cfg.Field("dsn"), "is not a valid %s data source name: %s", s.driver, redactDSN(err.Error(), dsn))
			}
		}
	}
	if d, ok := cfg.Duration("timeout"); ok {
		s.timeout = d
	}
	if n, ok := cfg.Int("maxRows", 1); ok {
		s.maxRows = n
	}
	if n, ok := cfg.Int("maxOpenConns", 1); ok {
		s.maxOpenConns = n
	}
	if n, ok := cfg.Int("maxIdleConns", 1); ok {
		s.maxIdleConns = n
	}
	if d, ok := cfg.Duration("connMaxLifetime"); ok {
		s.connMaxLifetime = d
	}
	if d, ok := cfg.Duration("connMaxIdleTime"); ok {
		s.connMaxIdleTime = d
	}
	s.guard = confmap.Guard(cfg)
	return s
}

func readOperation(r *confmap.Reader, name string, op connectors.Operation, d dialect) *operationSpec {
	m := r.Map("operations."+name, op.Static)
	o := &operationSpec{name: name}
	for _, key := range sortedTemplates(op.Dynamic) {
		r.Errorf(m.Field(key), "must not use args: SQL is never built from call values; use :name parameters in the query, bound from the step's `with`")
	}
	_, dynQuery := op.Dynamic["query"]
	_, dynExec := op.Dynamic["exec"]
	hasQuery, hasExec := m.Has("query") || dynQuery, m.Has("exec") || dynExec
	var field, text string
	var ok bool
	switch {
	case hasQuery && hasExec:
		r.Errorf(m.Field("exec"), "an operation has either query (rows) or exec (rows affected), not both")
	case hasExec:
		o.exec = true
		field = "exec"
		text, ok = m.String("exec")
	case hasQuery:
		field = "query"
		text, ok = m.String("query")
	default:
		r.Errorf(m.Field("query"), "is required (or exec, for statements that return no rows)")
	}
	if ok && !dynQuery && !dynExec && d != 0 {
		st, err := rewrite(text, d)
		if err != nil {
			r.Errorf(m.Field(field), "%v", err)
		}
		o.stmt = st
	}
	o.idempotent = !o.exec
	if b, ok := m.Bool("idempotent"); ok {
		o.idempotent = b
	}
	if n, ok := m.Int("maxRows", 1); ok {
		if o.exec {
			r.Errorf(m.Field("maxRows"), "applies to query operations only")
		}
		o.maxRows = n
	}
	if b, ok := m.Bool("truncate"); ok {
		if o.exec {
			r.Errorf(m.Field("truncate"), "applies to query operations only")
		}
		o.truncate = b
	}
	if dur, ok := m.Duration("timeout"); ok {
		o.timeout = dur
	}
	m.Done()
	return o
}

func sortedTemplates(m map[string]connectors.Template) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
