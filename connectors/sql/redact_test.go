package sql_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/connectors"
	sqlconn "github.com/skybridgehq/skybridge/connectors/sql"
)

// TestRedaction fails calls with DSNs holding a password in every way the
// drivers can fail here (a closed port, a refused password on the real
// PostgreSQL when there is one, a DSN that does not parse) and greps the
// errors (with their whole cause chain) and the debug logs for the
// password and the DSN.
func TestRedaction(t *testing.T) {
	t.Parallel()
	const secret = "pw-SECRET-7x"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()
	cases := map[string]backend{
		"postgres closed port":     {"postgres", "postgres://app:" + secret + "@" + closed + "/billing?connect_timeout=5"},
		"postgres key=value":       {"postgres", "host=127.0.0.1 port=" + strings.Split(closed, ":")[1] + " user=app password=" + secret + " dbname=billing"},
		"mysql closed port":        {"mysql", "app:" + secret + "@tcp(" + closed + ")/billing?timeout=5s"},
		"postgres bad dsn":         {"postgres", "postgres://app:" + secret + "@db:notaport/x"},
		"postgres bad dsn kv":      {"postgres", "host=db password='" + secret},
		"mysql bad dsn":            {"mysql", "app:" + secret + "@db/x"},
		"mysql bad dsn param":      {"mysql", "app:" + secret + "@tcp(db)/x?timeout=" + secret},
		"sqlite bad dsn":           {"sqlite", "file:x.db?%zz" + secret},
		"sqlite unopenable secret": {"sqlite", "file:/nonexistent-dir/" + secret + ".db?mode=ro"},
	}
	if dsn := os.Getenv("SKYBRIDGE_TEST_POSTGRES_DSN"); dsn != "" {
		if u, err := url.Parse(dsn); err == nil && u.User != nil {
			u.User = url.UserPassword(u.User.Username(), secret)
			cases["postgres refused password"] = backend{"postgres", u.String()}
		}
	} else {
		t.Log("SKYBRIDGE_TEST_POSTGRES_DSN is not set: the refused-password case against a real PostgreSQL does not run")
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			logs := &logBuffer{}
			opts := connectors.Options{Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
			spec := connectors.Spec{Name: "billing", Type: "sql", Config: map[string]any{"driver": b.driver, "dsn": b.dsn, "timeout": "5s"},
				Operations: ops(map[string]map[string]any{"get": {"query": "SELECT 1 WHERE 1 = :x"}})}
			var texts []string
			for _, fe := range sqlconn.Validate(spec) {
				texts = append(texts, fe.Error())
			}
			c, err := sqlconn.NewConnector(spec, opts)
			if err != nil {
				texts = append(texts, err.Error())
			} else {
				t.Cleanup(func() { _ = c.Close() })
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := c.Call(ctx, connectors.Request{Operation: "get", Args: map[string]any{"x": 1}})
				cancel()
				if err == nil {
					t.Fatal("call succeeded")
				}
				var ce *connectors.Error
				if !errors.As(err, &ce) {
					t.Fatalf("%T %v", err, err)
				}
				t.Logf("%s: %v", ce.Kind, err)
				if ce.Kind != connectors.KindUnavailable && ce.Kind != connectors.KindStatus {
					t.Errorf("kind %s (%v)", ce.Kind, err)
				}
				texts = append(texts, fmt.Sprintf("%v | %+v | %s | %v", err, *ce, ce.Message, ce.Body))
				for e := ce.Err; e != nil; e = errors.Unwrap(e) {
					texts = append(texts, e.Error())
				}
			}
			if len(texts) == 0 {
				t.Fatal("nothing failed")
			}
			texts = append(texts, logs.String())
			all := strings.Join(texts, "\n")
			if strings.Contains(all, secret) || strings.Contains(all, b.dsn) {
				t.Fatalf("secret leaked:\n%s", all)
			}
		})
	}
}
