package sql

import (
	"errors"
	"reflect"
	"testing"
)

func TestRewrite(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		d       dialect
		out     string
		binds   []string
		wantErr error
	}{
		{"postgres", "SELECT * FROM t WHERE a = :a AND b = :b", dialectPostgres, "SELECT * FROM t WHERE a = $1 AND b = $2", []string{"a", "b"}, nil},
		{"mysql", "SELECT * FROM t WHERE a = :a AND b = :b", dialectMySQL, "SELECT * FROM t WHERE a = ? AND b = ?", []string{"a", "b"}, nil},
		{"sqlite", "SELECT * FROM t WHERE a = :a AND b = :b", dialectSQLite, "SELECT * FROM t WHERE a = ? AND b = ?", []string{"a", "b"}, nil},
		{"repeated postgres", "SELECT :x, :y, :x", dialectPostgres, "SELECT $1, $2, $1", []string{"x", "y"}, nil},
		{"repeated sqlite", "SELECT :x, :y, :x", dialectSQLite, "SELECT ?, ?, ?", []string{"x", "y", "x"}, nil},
		{"string literal", "SELECT ':no', 'it''s :no' , :yes", dialectPostgres, "SELECT ':no', 'it''s :no' , $1", []string{"yes"}, nil},
		{"quoted identifier", `SELECT ":no", ":no"":no" FROM t WHERE x = :yes`, dialectPostgres, `SELECT ":no", ":no"":no" FROM t WHERE x = $1`, []string{"yes"}, nil},
		{"cast", "SELECT :v::int, a::text FROM t", dialectPostgres, "SELECT $1::int, a::text FROM t", []string{"v"}, nil},
		{"cast of a literal", "SELECT '1'::int + :n", dialectPostgres, "SELECT '1'::int + $1", []string{"n"}, nil},
		{"assignment", "SELECT f(a := :v)", dialectPostgres, "SELECT f(a := $1)", []string{"v"}, nil},
		{"line comment", "SELECT :a -- :no\n, :b", dialectPostgres, "SELECT $1 -- :no\n, $2", []string{"a", "b"}, nil},
		{"block comment", "SELECT /* :no */ :a", dialectSQLite, "SELECT /* :no */ ?", []string{"a"}, nil},
		{"nested comment postgres", "SELECT /* a /* :no */ :no */ :a", dialectPostgres, "SELECT /* a /* :no */ :no */ $1", []string{"a"}, nil},
		{"comments do not nest in mysql", "SELECT /* a /* x */ :a", dialectMySQL, "SELECT /* a /* x */ ?", []string{"a"}, nil},
		{"mysql hash comment", "SELECT :a # :no\n", dialectMySQL, "SELECT ? # :no\n", []string{"a"}, nil},
		{"mysql double dash needs a space", "SELECT 1--:a\n", dialectMySQL, "SELECT 1--?\n", []string{"a"}, nil},
		{"mysql backslash escape", `SELECT 'it\'s :no', "a\":no", :a`, dialectMySQL, `SELECT 'it\'s :no', "a\":no", ?`, []string{"a"}, nil},
		{"mysql backtick", "SELECT `:no` FROM t WHERE x = :a", dialectMySQL, "SELECT `:no` FROM t WHERE x = ?", []string{"a"}, nil},
		{"postgres E string", `SELECT E'it\'s :no', :a`, dialectPostgres, `SELECT E'it\'s :no', $1`, []string{"a"}, nil},
		{"postgres dollar quoting", "SELECT $$ :no $$, $tag$ :no $$ $tag$, :a", dialectPostgres, "SELECT $$ :no $$, $tag$ :no $$ $tag$, $1", []string{"a"}, nil},
		{"postgres question operator", "SELECT doc ? 'k' FROM t WHERE id = :id", dialectPostgres, "SELECT doc ? 'k' FROM t WHERE id = $1", []string{"id"}, nil},
		{"sqlite brackets", "SELECT [:no] FROM t WHERE x = :a", dialectSQLite, "SELECT [:no] FROM t WHERE x = ?", []string{"a"}, nil},
		{"array slice", "SELECT a[1:2], a[lo:hi], a[:n] FROM t", dialectPostgres, "SELECT a[1:2], a[lo:hi], a[$1] FROM t", []string{"n"}, nil},
		{"names with digits and underscores", "SELECT :a_1, :_b2", dialectPostgres, "SELECT $1, $2", []string{"a_1", "_b2"}, nil},
		{"time literal", "SELECT '12:30:00'::time, :t", dialectPostgres, "SELECT '12:30:00'::time, $1", []string{"t"}, nil},
		{"adjacent parameters", "SELECT :a:b", dialectSQLite, "", nil, ErrAdjacent},
		{"no parameters", "SELECT 1", dialectSQLite, "SELECT 1", nil, nil},
		{"positional postgres", "SELECT $1", dialectPostgres, "", nil, ErrPositional},
		{"positional sqlite", "SELECT ?", dialectSQLite, "", nil, ErrPositional},
		{"numbered sqlite", "SELECT ?1", dialectSQLite, "", nil, ErrPositional},
		{"sqlite dollar name", "SELECT $x", dialectSQLite, "", nil, ErrPositional},
		{"sqlite at name", "SELECT @x", dialectSQLite, "", nil, ErrPositional},
		{"mysql question", "SELECT ?", dialectMySQL, "", nil, ErrPositional},
		{"unterminated string", "SELECT 'abc", dialectPostgres, "", nil, ErrUnterminated},
		{"unterminated identifier", `SELECT "abc`, dialectSQLite, "", nil, ErrUnterminated},
		{"unterminated comment", "SELECT /* abc", dialectMySQL, "", nil, ErrUnterminated},
		{"unterminated dollar", "SELECT $q$ abc", dialectPostgres, "", nil, ErrUnterminated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st, err := rewrite(tc.in, tc.d)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if st.text != tc.out || !reflect.DeepEqual(st.binds, tc.binds) {
				t.Fatalf("got %q %v, want %q %v", st.text, st.binds, tc.out, tc.binds)
			}
		})
	}
}

func TestRewriteEmpty(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "  \n"} {
		if _, err := rewrite(in, dialectSQLite); err == nil {
			t.Fatalf("%q accepted", in)
		}
	}
}
