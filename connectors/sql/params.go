package sql

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// dialect is how a driver spells SQL where the rewriter cares: its
// placeholders, string escapes, quoting and comments.
type dialect uint8

const (
	// dialectPostgres: $1, $2 …; E'…' backslash strings, $tag$…$tag$
	// dollar quoting, nested /* */ comments, `?` is an operator.
	dialectPostgres dialect = iota + 1
	// dialectMySQL: ?; backslash escapes in '…' and "…", `…`
	// identifiers, # and "-- " comments.
	dialectMySQL
	// dialectSQLite: ?; "…", `…` and […] identifiers.
	dialectSQLite
)

// Errors of the named-parameter rewriter.
var (
	// ErrPositional: the text uses the driver's own placeholders.
	ErrPositional = errors.New("positional placeholders are not allowed; use :name parameters")
	// ErrUnterminated: a literal, quoted identifier or comment never ends.
	ErrUnterminated = errors.New("unterminated literal, quoted identifier or comment")
	// ErrAdjacent: a parameter is followed by `:name` (or `$x`, `@x`)
	// with nothing between, which would read as another parameter once
	// rewritten.
	ErrAdjacent = errors.New("a :name parameter is directly followed by another name; separate them")
)

// statement is an operation's SQL text rewritten for its driver.
type statement struct {
	// text is the SQL with the driver's placeholders.
	text string
	// binds names the argument bound to each placeholder, in order: one
	// entry per distinct name for $n dialects, one per occurrence for ?.
	binds []string
	// params are the distinct parameter names, in order of appearance.
	params []string
}

// tokenKind classifies a piece of SQL text.
type tokenKind uint8

const (
	tokText        tokenKind = iota // code outside literals and comments
	tokQuoted                       // a string literal or quoted identifier
	tokComment                      // a comment
	tokParam                        // :name (name in token.name)
	tokPlaceholder                  // the driver's own placeholder ($1, ?)
)

// token is one piece of SQL text; the pieces concatenated are the text.
type token struct {
	kind tokenKind
	text string
	name string // tokParam only
}

// rewrite turns the `:name` parameters of text into d's placeholders.
// Parameters are recognised only in code: never inside string literals,
// quoted identifiers or comments, and never in `::` casts or `:=`.
func rewrite(text string, d dialect) (statement, error) {
	toks, err := scan(text, d)
	if err != nil {
		return statement{}, err
	}
	var b strings.Builder
	b.Grow(len(text) + 8)
	st := statement{}
	index := map[string]int{} // name → its $n (postgres)
	for _, t := range toks {
		switch t.kind {
		case tokPlaceholder:
			return statement{}, fmt.Errorf("%w (found %q)", ErrPositional, t.text)
		case tokParam:
			n, seen := index[t.name]
			if !seen {
				st.params = append(st.params, t.name)
			}
			if d == dialectPostgres {
				if !seen {
					st.binds = append(st.binds, t.name)
					n = len(st.binds)
					index[t.name] = n
				}
				b.WriteByte('$')
				b.WriteString(strconv.Itoa(n))
			} else {
				index[t.name] = 0
				st.binds = append(st.binds, t.name)
				b.WriteByte('?')
			}
		default:
			b.WriteString(t.text)
		}
	}
	st.text = b.String()
	if strings.TrimSpace(st.text) == "" {
		return statement{}, errors.New("is empty")
	}
	return st, nil
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80
}

func isIdentChar(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') || c == '$' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// scan splits text into tokens; the tokens' texts concatenated are text.
func scan(text string, d dialect) ([]token, error) {
	var toks []token
	start := 0 // start of the pending tokText
	flush := func(end int) {
		if end > start {
			toks = append(toks, token{kind: tokText, text: text[start:end]})
		}
	}
	emit := func(i, end int, kind tokenKind, name string) int {
		flush(i)
		toks = append(toks, token{kind: kind, text: text[i:end], name: name})
		start = end
		return end
	}
	for i := 0; i < len(text); {
		c := text[i]
		switch {
		case c == '\'':
			backslash := d == dialectMySQL || (d == dialectPostgres && i > 0 && (text[i-1] == 'E' || text[i-1] == 'e') &&
				(i < 2 || !isIdentChar(text[i-2])))
			end, ok := quoted(text, i, '\'', backslash)
			if !ok {
				return nil, ErrUnterminated
			}
			i = emit(i, end, tokQuoted, "")
		case c == '"' || (c == '`' && d != dialectPostgres):
			end, ok := quoted(text, i, c, c == '"' && d == dialectMySQL)
			if !ok {
				return nil, ErrUnterminated
			}
			i = emit(i, end, tokQuoted, "")
		case c == '[' && d == dialectSQLite:
			end := strings.IndexByte(text[i+1:], ']')
			if end < 0 {
				return nil, ErrUnterminated
			}
			i = emit(i, i+end+2, tokQuoted, "")
		case c == '-' && strings.HasPrefix(text[i:], "--") &&
			(d != dialectMySQL || i+2 == len(text) || text[i+2] <= ' '):
			i = emit(i, lineEnd(text, i), tokComment, "")
		case c == '#' && d == dialectMySQL:
			i = emit(i, lineEnd(text, i), tokComment, "")
		case c == '/' && strings.HasPrefix(text[i:], "/*"):
			end, ok := blockComment(text, i, d == dialectPostgres)
			if !ok {
				return nil, ErrUnterminated
			}
			i = emit(i, end, tokComment, "")
		case c == '$' && d == dialectPostgres:
			if i+1 < len(text) && isDigit(text[i+1]) && (i == 0 || !isIdentChar(text[i-1])) {
				end := i + 1
				for end < len(text) && isDigit(text[end]) {
					end++
				}
				i = emit(i, end, tokPlaceholder, "")
				continue
			}
			if end, ok, isTag := dollarQuoted(text, i); isTag {
				if !ok {
					return nil, ErrUnterminated
				}
				i = emit(i, end, tokQuoted, "")
				continue
			}
			i++
		case c == '?' && d != dialectPostgres:
			end := i + 1
			for end < len(text) && isDigit(text[end]) {
				end++
			}
			i = emit(i, end, tokPlaceholder, "")
		case (c == '$' || c == '@') && d == dialectSQLite && i+1 < len(text) && isIdentStart(text[i+1]) &&
			(i == 0 || !isIdentChar(text[i-1])):
			// SQLite's own named parameter forms, which would bind
			// nothing here.
			end := i + 1
			for end < len(text) && isIdentChar(text[end]) {
				end++
			}
			i = emit(i, end, tokPlaceholder, "")
		case c == ':':
			if i+1 < len(text) && (text[i+1] == ':' || text[i+1] == '=') {
				i += 2 // a cast or an assignment
				continue
			}
			// After an identifier or number (`a[lo:hi]`) a colon is a
			// slice bound, not a parameter.
			if i+1 < len(text) && isIdentStart(text[i+1]) && (i == 0 || (text[i-1] != ':' && !isIdentChar(text[i-1]))) {
				end := i + 2
				for end < len(text) && isIdentChar(text[end]) && text[end] != '$' {
					end++
				}
				if end+1 < len(text) && strings.IndexByte(":$@", text[end]) >= 0 && isIdentChar(text[end+1]) {
					return nil, ErrAdjacent
				}
				i = emit(i, end, tokParam, text[i+1:end])
				continue
			}
			i++
		default:
			i++
		}
	}
	flush(len(text))
	return toks, nil
}

// quoted returns the end of the literal opened by q at text[i]; a doubled
// q stands for itself, and with backslash a backslash escapes any byte.
func quoted(text string, i int, q byte, backslash bool) (int, bool) {
	for j := i + 1; j < len(text); j++ {
		switch text[j] {
		case '\\':
			if backslash {
				j++
			}
		case q:
			if j+1 < len(text) && text[j+1] == q {
				j++
				continue
			}
			return j + 1, true
		}
	}
	return 0, false
}

// lineEnd returns the end of the line comment at text[i] (its newline
// stays code).
func lineEnd(text string, i int) int {
	if n := strings.IndexByte(text[i:], '\n'); n >= 0 {
		return i + n
	}
	return len(text)
}

// blockComment returns the end of the /* comment at text[i]; PostgreSQL
// nests them.
func blockComment(text string, i int, nested bool) (int, bool) {
	depth := 0
	for j := i; j+1 < len(text); j++ {
		switch {
		case text[j] == '/' && text[j+1] == '*':
			if depth == 0 || nested {
				depth++
			}
			j++
		case text[j] == '*' && text[j+1] == '/':
			depth--
			j++
			if depth == 0 {
				return j + 1, true
			}
		}
	}
	return 0, false
}

// dollarQuoted reads a PostgreSQL $tag$…$tag$ string at text[i]. isTag
// is false when text[i] opens no tag (a $ inside an identifier, say).
func dollarQuoted(text string, i int) (end int, ok, isTag bool) {
	if i > 0 && isIdentChar(text[i-1]) {
		return 0, false, false
	}
	j := i + 1
	if j < len(text) && isIdentStart(text[j]) {
		for j < len(text) && isIdentChar(text[j]) && text[j] != '$' {
			j++
		}
	}
	if j >= len(text) || text[j] != '$' {
		return 0, false, false
	}
	tag := text[i : j+1]
	n := strings.Index(text[j+1:], tag)
	if n < 0 {
		return 0, false, true
	}
	return j + 1 + n + len(tag), true, true
}
