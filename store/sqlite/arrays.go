package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/skybridgehq/skybridge/store"
)

// A filter condition matches an array's elements as well as the value at
// its path (store.Filter's rule), which in SQL takes a json_each subquery
// that no expression index can serve. The adapter therefore remembers, per
// collection, the paths at which any document ever stored an array, and
// compiles the element branch only for those. The record is written in
// the same transaction as the document and noted in memory before commit,
// so it over-approximates, never under.

// maxArrayPaths bounds the paths remembered per collection; past it every
// path is treated as possibly holding an array (the "*" row).
const maxArrayPaths = 4096

const allArrayPaths = "*"

type arrayPaths struct {
	all   bool
	paths map[string]bool
}

func (db *DB) loadArrays(ctx context.Context) error {
	rows, err := db.w.conn.QueryContext(ctx, "SELECT coll, path FROM _sb_arrays")
	if err != nil {
		return fmt.Errorf("sqlite: read array paths of %s: %w", db.name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var coll, path string
		if err := rows.Scan(&coll, &path); err != nil {
			return fmt.Errorf("sqlite: read array paths of %s: %w", db.name, err)
		}
		set := db.arraySet(coll)
		if path == allArrayPaths {
			set.all = true
		}
		set.paths[path] = true
	}
	return rows.Err()
}

// arraySet returns coll's record, creating it; the caller holds db.mu or
// owns db exclusively.
func (db *DB) arraySet(coll string) *arrayPaths {
	set := db.arrays[coll]
	if set == nil {
		set = &arrayPaths{paths: map[string]bool{}}
		db.arrays[coll] = set
	}
	return set
}

// mayHoldArray returns a function telling whether a path of coll may hold
// an array.
func (db *DB) mayHoldArray(coll string) func(path string) bool {
	return func(path string) bool {
		db.mu.RLock()
		defer db.mu.RUnlock()
		set := db.arrays[coll]
		return set != nil && (set.all || set.paths[path])
	}
}

// noteArrays records, inside w, the array paths (from collectArrayPaths)
// not yet known.
func (db *DB) noteArrays(w *wtx, coll string, found []string) error {
	if len(found) == 0 {
		return nil
	}
	db.mu.Lock()
	set := db.arraySet(coll)
	var fresh []string
	if !set.all {
		for _, p := range found {
			if !set.paths[p] {
				set.paths[p] = true
				fresh = append(fresh, p)
			}
		}
		if len(set.paths) > maxArrayPaths {
			set.all = true
			fresh = []string{allArrayPaths}
		}
	}
	db.mu.Unlock()
	for _, p := range fresh {
		if _, err := w.exec("INSERT OR IGNORE INTO _sb_arrays (coll, path) VALUES (?1, ?2)", coll, p); err != nil {
			return db.wrap(err)
		}
	}
	return nil
}

// collectArrayPaths returns the dotted paths of doc whose values are
// arrays, walking nested objects (not arrays) as filters do, and skipping
// paths no filter can name.
func collectArrayPaths(doc map[string]any) []string {
	var out []string
	var walk func(m map[string]any, prefix string, depth int)
	walk = func(m map[string]any, prefix string, depth int) {
		if depth >= store.MaxPathDepth {
			return
		}
		for k, v := range m {
			if !pathSegmentOK(k) {
				continue
			}
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			switch x := v.(type) {
			case []any:
				out = append(out, p)
			case map[string]any:
				walk(x, p, depth+1)
			}
		}
	}
	walk(doc, "", 0)
	return out
}

// pathSegmentOK mirrors store.ValidPath for one segment.
func pathSegmentOK(s string) bool {
	if s == "" || len(s) > 128 || s[0] == '$' || strings.ContainsAny(s, ".\"\\") {
		return false
	}
	digits := true
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return false
		}
		if s[i] < '0' || s[i] > '9' {
			digits = false
		}
	}
	return !digits
}
