package sql

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// plainParam finds :name parameters in text that has no quotes, comments
// or driver placeholders at all: the independent oracle for such inputs.
var plainParam = regexp.MustCompile(`(^|[^:A-Za-z0-9_$]):([A-Za-z_][A-Za-z0-9_]*)`)

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// FuzzNamedParams: the rewriter never panics; its tokens rebuild the
// input exactly; every parameter it binds is a :name in code of the input
// and the output has exactly one placeholder per bound value; turning the
// placeholders back into :names gives the input again (nothing dropped or
// invented); and on inputs without quotes or comments it finds exactly
// the parameters a plain pattern does.
func FuzzNamedParams(f *testing.F) {
	for _, s := range []string{
		"SELECT id, amount FROM invoices WHERE customer_id = :customer AND status = :status",
		"UPDATE t SET a = :a WHERE id = :id AND a <> :a",
		"SELECT ':no', \":no\", `:no`, [:no] -- :no\n /* :no /* :no */ */ :yes",
		"SELECT :v::int, a::text, f(x := :x), E'\\' :no', $$ :no $$, $t$ :no $t$",
		"SELECT a[1:2], '12:30'::time, doc ? 'k', :a_1",
		"SELECT 1--:a\n# :b\n", "SELECT $1, ?, ?2, @x, $x", "SELECT 'unterminated :x",
		":a:b::c:::d", ":", "", "::", "'", "/*", "$", "$$", "$a", "E'", "\\'",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		for _, d := range []dialect{dialectPostgres, dialectMySQL, dialectSQLite} {
			toks, scanErr := scan(in, d)
			st, err := rewrite(in, d)
			if scanErr != nil {
				if err == nil {
					t.Fatalf("dialect %d: scan failed (%v) but rewrite did not", d, scanErr)
				}
				continue
			}
			var whole strings.Builder
			var names []string
			for _, tk := range toks {
				whole.WriteString(tk.text)
				if tk.kind == tokParam {
					if tk.text != ":"+tk.name || tk.name == "" {
						t.Fatalf("param token %q name %q", tk.text, tk.name)
					}
					names = append(names, tk.name)
				}
			}
			if whole.String() != in {
				t.Fatalf("dialect %d: tokens rebuild %q, not %q", d, whole.String(), in)
			}
			if err != nil {
				continue // positional placeholder or empty text
			}
			// Placeholders in the output, found by scanning it.
			out, err := scan(st.text, d)
			if err != nil {
				t.Fatalf("dialect %d: output %q does not scan: %v", d, st.text, err)
			}
			var back strings.Builder
			count := 0
			for _, tk := range out {
				switch tk.kind {
				case tokParam:
					t.Fatalf("dialect %d: output %q keeps :%s", d, st.text, tk.name)
				case tokPlaceholder:
					count++
					name := ""
					if d == dialectPostgres {
						n, _ := strconv.Atoi(tk.text[1:])
						if n < 1 || n > len(st.binds) {
							t.Fatalf("placeholder %s out of range of %d binds", tk.text, len(st.binds))
						}
						name = st.binds[n-1]
					} else {
						if count > len(st.binds) {
							t.Fatalf("more placeholders than binds in %q", st.text)
						}
						name = st.binds[count-1]
					}
					back.WriteString(":" + name)
				default:
					back.WriteString(tk.text)
				}
			}
			if d != dialectPostgres && count != len(st.binds) {
				t.Fatalf("dialect %d: %d placeholders, %d binds", d, count, len(st.binds))
			}
			if d == dialectPostgres && count != len(names) {
				t.Fatalf("postgres: %d placeholders for %d parameters", count, len(names))
			}
			if back.String() != in {
				t.Fatalf("dialect %d: placeholders back to names give %q, not %q", d, back.String(), in)
			}
			if !strings.ContainsAny(in, "'\"`[-/#$?@\\") && isASCII(in) {
				var want []string
				for _, m := range plainParam.FindAllStringSubmatch(in, -1) {
					want = append(want, m[2])
				}
				if strings.Join(want, ",") != strings.Join(names, ",") {
					t.Fatalf("dialect %d: %q: parameters %v, plain pattern %v", d, in, names, want)
				}
			}
		}
	})
}
