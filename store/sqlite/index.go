package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/skybridgehq/skybridge/store"
)

// EnsureIndex creates a declared index as an expression index over
// json_extract of its fields, the expressions the filter compiler writes.
// A unique index exempts documents lacking its fields because SQLite
// never counts NULL keys as equal (a JSON null is exempt too). The
// declaration is kept in _sb_indexes for Indexes.
func (c *Collection) EnsureIndex(ctx context.Context, idx store.Index) error {
	if err := c.usable(); err != nil {
		return err
	}
	if err := idx.Validate(); err != nil {
		return err
	}
	name := idx.IndexName()
	decl := store.Index{Name: name, Fields: slices.Clone(idx.Fields), Unique: idx.Unique}
	def, err := json.Marshal(decl)
	if err != nil {
		return fmt.Errorf("sqlite: encode index: %w", err)
	}
	return c.db.w.do(ctx, true, func(w *wtx) error {
		if err := c.db.ensureTable(w, c.name); err != nil {
			return err
		}
		row, err := w.queryRow("SELECT def FROM _sb_indexes WHERE coll = ?1 AND name = ?2", c.name, name)
		if err != nil {
			return c.db.wrap(err)
		}
		var existing string
		switch err := row.Scan(&existing); {
		case err == nil:
			var old store.Index
			if err := json.Unmarshal([]byte(existing), &old); err != nil {
				return fmt.Errorf("sqlite: corrupt index record %q: %w", name, err)
			}
			if slices.Equal(old.Fields, decl.Fields) && old.Unique == decl.Unique {
				return nil
			}
			return fmt.Errorf("%w: index %q exists with another definition", store.ErrInvalid, name)
		case !errors.Is(err, sql.ErrNoRows):
			return c.db.wrap(err)
		}
		exprs := make([]string, len(idx.Fields))
		for i, f := range idx.Fields {
			v, _ := valueExprs(strings.TrimPrefix(f, "-"))
			if strings.HasPrefix(f, "-") {
				v += " DESC"
			}
			exprs[i] = v
		}
		kind := "INDEX"
		if idx.Unique {
			kind = "UNIQUE INDEX"
		}
		q := fmt.Sprintf("CREATE %s %s ON %s (%s)", kind, indexName(c.name, name), c.table, strings.Join(exprs, ", "))
		if err := w.execScript(q); err != nil {
			return c.db.wrap(err)
		}
		if err := w.execScript("INSERT INTO _sb_indexes (coll, name, def) VALUES (?, ?, ?)", c.name, name, string(def)); err != nil {
			return c.db.wrap(err)
		}
		return nil
	})
}

// Indexes lists the declared indexes, sorted by name.
func (c *Collection) Indexes(ctx context.Context) ([]store.Index, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	rows, err := c.db.r.QueryContext(ctx, "SELECT def FROM _sb_indexes WHERE coll = ? ORDER BY name", c.name)
	if err != nil {
		return nil, c.db.wrap(err)
	}
	defer rows.Close()
	out := []store.Index{}
	for rows.Next() {
		var def string
		if err := rows.Scan(&def); err != nil {
			return nil, c.db.wrap(err)
		}
		var idx store.Index
		if err := json.Unmarshal([]byte(def), &idx); err != nil {
			return nil, fmt.Errorf("sqlite: corrupt index record: %w", err)
		}
		out = append(out, idx)
	}
	return out, c.db.wrap(rows.Err())
}
