package sql

import (
	"database/sql/driver"
	"errors"
	"net/url"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
)

// errEmptyDSN: a sqlite DSN must name a database file.
var errEmptyDSN = errors.New("names no database")

// checkDSN parses dsn for driver without connecting.
func checkDSN(driverName, dsn string) error {
	_, _, err := connector(driverName, dsn)
	return err
}

// connector parses dsn and returns a driver.Connector for it (no I/O) and
// the secrets the DSN holds, which errors and logs must never show.
func connector(driverName, dsn string) (driver.Connector, []string, error) {
	switch driverName {
	case DriverPostgres:
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			// Its text quotes the DSN (with the password masked, in most
			// spellings); say only that it did not parse.
			return nil, nil, errors.New("it does not parse as a PostgreSQL URL or key=value connection string")
		}
		var secrets []string
		if cfg.Password != "" {
			secrets = append(secrets, cfg.Password)
		}
		return stdlib.GetConnector(*cfg), secrets, nil
	case DriverMySQL:
		// The driver's parse errors quote parts of the DSN, which may be
		// the password: say only that it did not parse.
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			return nil, nil, errors.New("it does not parse as user:password@protocol(address)/dbname?param=value")
		}
		c, err := mysql.NewConnector(cfg)
		if err != nil {
			return nil, nil, errors.New("the driver refuses its parameters")
		}
		var secrets []string
		if cfg.Passwd != "" {
			secrets = append(secrets, cfg.Passwd)
		}
		return c, secrets, nil
	case DriverSQLite:
		if strings.TrimSpace(dsn) == "" {
			return nil, nil, errEmptyDSN
		}
		c, err := sqlite.NewConnector(dsn)
		if err != nil {
			return nil, nil, errors.New("its query string does not parse")
		}
		return c, nil, nil
	}
	return nil, nil, errors.New("unknown driver")
}

// newRedactor returns a replacer of the DSN and its secrets (also in their
// URL-escaped spellings) by "[redacted]".
func newRedactor(dsn string, secrets []string) *strings.Replacer {
	var pairs []string
	add := func(s string) {
		if len(s) >= 3 { // shorter strings would mangle ordinary text
			pairs = append(pairs, s, "[redacted]")
		}
	}
	add(dsn)
	for _, s := range secrets {
		add(s)
		if esc := url.QueryEscape(s); esc != s {
			add(esc)
		}
		if esc := url.PathEscape(s); esc != s {
			add(esc)
		}
	}
	return strings.NewReplacer(pairs...)
}

// redactDSN removes dsn from s.
func redactDSN(s, dsn string) string {
	if dsn == "" {
		return s
	}
	return strings.ReplaceAll(s, dsn, "[redacted]")
}
