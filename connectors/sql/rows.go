package sql

import (
	dbsql "database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// columnClass says how a column's values become JSON.
type columnClass uint8

const (
	colOther   columnClass = iota
	colNumeric             // text of a number (NUMERIC, DECIMAL, MySQL text protocol) → number
	colBinary              // bytes → base64 text
	colJSON                // JSON text → decoded value
	colDate                // time.Time → "2006-01-02"
)

// classify maps a column's database type name to its class.
func classify(typeName string) columnClass {
	t := strings.ToUpper(typeName)
	if i := strings.IndexAny(t, "( "); i >= 0 {
		t = t[:i] // "DECIMAL(10,2)", "UNSIGNED BIGINT"
	}
	switch t {
	case "INT", "INTEGER", "BIGINT", "SMALLINT", "TINYINT", "MEDIUMINT", "INT2", "INT4", "INT8",
		"NUMERIC", "DECIMAL", "REAL", "FLOAT", "FLOAT4", "FLOAT8", "DOUBLE", "UNSIGNED":
		return colNumeric
	case "BYTEA", "BLOB", "TINYBLOB", "MEDIUMBLOB", "LONGBLOB", "BINARY", "VARBINARY":
		return colBinary
	case "JSON", "JSONB":
		return colJSON
	case "DATE":
		return colDate
	}
	return colOther
}

// readRows reads at most limit rows into row objects; more reports
// whether another row followed the last one read.
func readRows(rows *dbsql.Rows, limit int) (out []any, more bool, err error) {
	names, err := rows.Columns()
	if err != nil {
		return nil, false, err
	}
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if seen[n] {
			return nil, false, &duplicateColumnError{name: n}
		}
		seen[n] = true
	}
	classes := make([]columnClass, len(names))
	if types, err := rows.ColumnTypes(); err == nil {
		for i, ct := range types {
			classes[i] = classify(ct.DatabaseTypeName())
		}
	}
	vals := make([]any, len(names))
	ptrs := make([]any, len(names))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	out = make([]any, 0, min(limit, 64))
	for rows.Next() {
		if len(out) == limit {
			return out, true, rows.Err()
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, false, err
		}
		row := make(map[string]any, len(names))
		for i, n := range names {
			row[n] = jsonValue(vals[i], classes[i])
		}
		out = append(out, row)
	}
	return out, false, rows.Err()
}

// duplicateColumnError: two result columns share a name, so a row object
// cannot hold both.
type duplicateColumnError struct{ name string }

func (e *duplicateColumnError) Error() string {
	return fmt.Sprintf("two result columns are named %q; give them distinct aliases", e.name)
}

// jsonValue converts a scanned driver value to what encoding/json would
// decode: numbers become float64 (integers beyond 2^53, and decimals that
// float64 cannot hold exactly, stay their decimal text so nothing is lost),
// times RFC 3339 text (a DATE column "2006-01-02"), bytes text (base64 for
// binary columns, decoded for JSON columns), NULL nil.
func jsonValue(v any, class columnClass) any {
	switch t := v.(type) {
	case nil, bool:
		return t
	case int64:
		if t > maxExactInt || t < -maxExactInt {
			return strconv.FormatInt(t, 10)
		}
		return float64(t)
	case float64:
		return finite(t)
	case float32:
		return finite(float64(t))
	case time.Time:
		if class == colDate {
			return t.Format(time.DateOnly)
		}
		return t.Format(time.RFC3339Nano)
	case []byte:
		switch class {
		case colBinary:
			return base64.StdEncoding.EncodeToString(t)
		case colJSON:
			return decodeJSON(t)
		case colNumeric:
			return number(string(t))
		}
		if !utf8.Valid(t) {
			return base64.StdEncoding.EncodeToString(t)
		}
		return string(t)
	case string:
		switch class {
		case colJSON:
			return decodeJSON([]byte(t))
		case colNumeric:
			return number(t)
		}
		return t
	}
	// Driver-specific types (rare: database/sql hands *any the driver's
	// own values) are given as their text.
	return fmt.Sprint(v)
}

// finite keeps NaN and infinities, which JSON cannot hold, as text.
func finite(f float64) any {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return f
}

// number parses decimal text as a float64 when that is exact (its
// shortest form reads back as the same decimal), else keeps the text.
func number(s string) any {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return s
	}
	if sameDecimal(strconv.FormatFloat(f, 'f', -1, 64), s) {
		return f
	}
	return s
}

// sameDecimal compares two plain decimal texts, ignoring a leading '+',
// leading zeros and trailing fractional zeros.
func sameDecimal(a, b string) bool { return canonical(a) == canonical(b) }

func canonical(s string) string {
	s = strings.TrimPrefix(s, "+")
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	s = strings.TrimLeft(s, "0")
	if s == "" || s == "." {
		return "0"
	}
	if neg {
		return "-" + s
	}
	return s
}

func decodeJSON(b []byte) any {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return string(b)
	}
	return v
}
