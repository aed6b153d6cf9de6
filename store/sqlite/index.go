package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"sync"

	"github.com/skybridgehq/skybridge/store"
	msqlite "modernc.org/sqlite"
)

// EnsureIndex creates a declared index as an expression index.
func (c *Collection) EnsureIndex(ctx context.Context, idx store.Index) error {
	if err := idx.Validate(); err != nil {
		return err
	}
	def, _ := json.Marshal(store.Index{Name: idx.IndexName(), Fields: idx.Fields, Unique: idx.Unique})
	return c.write(ctx, func(tx *sql.Tx) error {
		var existing string
		err := tx.QueryRowContext(ctx, "SELECT def FROM _sb_indexes WHERE coll = ? AND name = ?", c.name, idx.IndexName()).Scan(&existing)
		switch {
		case err == nil:
			var old store.Index
			_ = json.Unmarshal([]byte(existing), &old)
			if reflect.DeepEqual(old.Fields, idx.Fields) && old.Unique == idx.Unique {
				return nil
			}
			return fmt.Errorf("%w: index %q exists with another definition", store.ErrInvalid, idx.IndexName())
		case !errors.Is(err, sql.ErrNoRows):
			return wrap(err)
		}
		exprs := make([]string, len(idx.Fields))
		for i, f := range idx.Fields {
			desc := strings.HasPrefix(f, "-")
			v, _ := columnExprs(strings.TrimPrefix(f, "-"))
			if desc {
				v += " DESC"
			}
			exprs[i] = v
		}
		kind := "INDEX"
		if idx.Unique {
			kind = "UNIQUE INDEX"
		}
		q := fmt.Sprintf("CREATE %s %s ON %s (%s)", kind, quoteIdent("ix_"+c.name+"_"+idx.IndexName()), c.table, strings.Join(exprs, ", "))
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return wrap(err)
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO _sb_indexes (coll, name, def) VALUES (?, ?, ?)", c.name, idx.IndexName(), string(def))
		return wrap(err)
	})
}

// Indexes lists the declared indexes.
func (c *Collection) Indexes(ctx context.Context) ([]store.Index, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	rows, err := c.db.r.QueryContext(ctx, "SELECT def FROM _sb_indexes WHERE coll = ? ORDER BY name", c.name)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	out := []store.Index{}
	for rows.Next() {
		var def string
		if err := rows.Scan(&def); err != nil {
			return nil, wrap(err)
		}
		var idx store.Index
		if err := json.Unmarshal([]byte(def), &idx); err != nil {
			return nil, fmt.Errorf("sqlite: corrupt index record: %w", err)
		}
		out = append(out, idx)
	}
	return out, wrap(rows.Err())
}

var registerOnce sync.Once

// registerFunctions adds sb_regexp(pattern, value) to every connection the
// driver opens: Go's RE2, so matching time is linear in the input.
func registerFunctions() {
	registerOnce.Do(func() {
		var (
			mu    sync.Mutex
			cache = map[string]*regexp.Regexp{}
		)
		msqlite.MustRegisterDeterministicScalarFunction("sb_regexp", 2, func(_ *msqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			pat, ok1 := args[0].(string)
			s, ok2 := args[1].(string)
			if !ok1 || !ok2 {
				return int64(0), nil
			}
			mu.Lock()
			re, ok := cache[pat]
			mu.Unlock()
			if !ok {
				var err error
				if re, err = regexp.Compile(pat); err != nil {
					return nil, err
				}
				mu.Lock()
				if len(cache) >= 1024 { // patterns are bounded in length, not in number
					clear(cache)
				}
				cache[pat] = re
				mu.Unlock()
			}
			if re.MatchString(s) {
				return int64(1), nil
			}
			return int64(0), nil
		})
	})
}
