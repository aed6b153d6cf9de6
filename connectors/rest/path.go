package rest

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/skybridgehq/skybridge/connectors/internal/confmap"
)

// errPath is the cause of every path template problem.
var errPath = errors.New("path template")

// part is one piece of a compiled template: literal text, or a `{name}`
// placeholder filled from the call's arguments.
type part struct {
	lit string
	arg string // placeholder name; lit is empty then
}

// pathTemplate is an operation's `path`, split at New into literal
// pieces and placeholders, so that a call only appends and escapes.
type pathTemplate struct {
	path  []part
	query []part // after '?'; nil without one
	// argSegs lists, per '/'-separated segment of the path, whether it
	// holds a placeholder (index 0 is the empty text before the leading
	// '/').
	argSegs []bool
}

// compilePath compiles a path template such as
// "/customers/{id}/orders?status={status}&limit=10".
func compilePath(s string) (*pathTemplate, error) {
	if !strings.HasPrefix(s, "/") {
		return nil, fmt.Errorf("%w: must start with /", errPath)
	}
	p, q, hasQuery := strings.Cut(s, "?")
	t := &pathTemplate{}
	var err error
	if t.path, err = compileParts(p, true); err != nil {
		return nil, err
	}
	if hasQuery {
		if t.query, err = compileParts(q, false); err != nil {
			return nil, err
		}
		if t.query == nil {
			t.query = []part{}
		}
	}
	// Literal segments are judged here, once; segments with placeholders
	// after each fill.
	segs := splitSegments(t.path)
	for i, seg := range segs {
		t.argSegs = append(t.argSegs, seg.hasArg)
		if seg.hasArg || i == 0 {
			continue
		}
		if seg.text == "" && i != len(segs)-1 {
			return nil, fmt.Errorf("%w: empty segment (//)", errPath)
		}
		if isDotSegment(seg.text) {
			return nil, fmt.Errorf("%w: . and .. segments are not allowed", errPath)
		}
	}
	return t, nil
}

type segment struct {
	text   string // literal text (placeholders left out)
	hasArg bool
}

func splitSegments(parts []part) []segment {
	segs := []segment{{}}
	for _, p := range parts {
		if p.arg != "" {
			segs[len(segs)-1].hasArg = true
			continue
		}
		pieces := strings.Split(p.lit, "/")
		segs[len(segs)-1].text += pieces[0]
		for _, piece := range pieces[1:] {
			segs = append(segs, segment{text: piece})
		}
	}
	return segs
}

func isDotSegment(escaped string) bool {
	u, err := url.PathUnescape(escaped)
	return err != nil || u == "." || u == ".."
}

// compileParts splits s into literals and placeholders, checking that
// literals are already valid URL text.
func compileParts(s string, inPath bool) ([]part, error) {
	var parts []part
	lit := strings.Builder{}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("%w: unclosed {", errPath)
			}
			name := s[i+1 : i+end]
			if !validArgName(name) {
				return nil, fmt.Errorf("%w: placeholder {%s}: a name is letters, digits, _ and -", errPath, name)
			}
			if lit.Len() > 0 {
				parts = append(parts, part{lit: lit.String()})
				lit.Reset()
			}
			parts = append(parts, part{arg: name})
			i += end
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return nil, fmt.Errorf("%w: %% must start an escape such as %%20", errPath)
			}
			lit.WriteString(s[i : i+3])
			i += 2
		case allowedLiteral(c, inPath):
			lit.WriteByte(c)
		default:
			return nil, fmt.Errorf("%w: character %q must be escaped", errPath, c)
		}
	}
	if lit.Len() > 0 {
		parts = append(parts, part{lit: lit.String()})
	}
	return parts, nil
}

func validArgName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// allowedLiteral: RFC 3986 pchar (unreserved, sub-delims, ':' '@') and
// '/'; a query also takes '?'.
func allowedLiteral(c byte, inPath bool) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '-', '.', '_', '~', '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', ':', '@', '/':
		return true
	case '?':
		return !inPath
	}
	return false
}

// argError is a missing or unusable argument; Call turns it into
// KindInvalid naming the argument.
type argError struct {
	name string
	why  string
}

func (e *argError) Error() string { return fmt.Sprintf("argument %q %s", e.name, e.why) }

// argString returns args[name] as text for a URL.
func argString(args map[string]any, name string) (string, error) {
	v, ok := args[name]
	if !ok || v == nil {
		return "", &argError{name, "is missing"}
	}
	s, ok := confmap.Scalar(v)
	if !ok {
		return "", &argError{name, "must be a string, number or boolean"}
	}
	return s, nil
}

// appendPath appends the filled path to dst. Arguments are path-segment
// escaped (a '/' in a value becomes %2F), and a filled segment that is
// empty, "." or ".." is refused, so a value can neither add segments nor
// climb out of the base path.
func (t *pathTemplate) appendPath(dst []byte, args map[string]any) ([]byte, error) {
	start := len(dst)
	for _, p := range t.path {
		if p.arg == "" {
			dst = append(dst, p.lit...)
			continue
		}
		s, err := argString(args, p.arg)
		if err != nil {
			return dst, err
		}
		dst = append(dst, url.PathEscape(s)...)
	}
	seg, segStart := 0, start
	for i := start; i <= len(dst); i++ {
		if i < len(dst) && dst[i] != '/' {
			continue
		}
		if seg < len(t.argSegs) && t.argSegs[seg] {
			text := string(dst[segStart:i])
			if text == "" || isDotSegment(text) {
				return dst, &argError{t.segmentArg(seg), "makes an empty, . or .. path segment"}
			}
		}
		seg++
		segStart = i + 1
	}
	return dst, nil
}

// segmentArg names the first placeholder of segment n, for errors.
func (t *pathTemplate) segmentArg(n int) string {
	seg := 0
	for _, p := range t.path {
		if p.arg != "" && seg == n {
			return p.arg
		}
		seg += strings.Count(p.lit, "/")
	}
	return "?"
}

// appendQuery appends the template's query text (without '?'), its
// arguments query-escaped.
func (t *pathTemplate) appendQuery(dst []byte, args map[string]any) ([]byte, error) {
	return appendParts(dst, t.query, args)
}

func appendParts(dst []byte, parts []part, args map[string]any) ([]byte, error) {
	for _, p := range parts {
		if p.arg == "" {
			dst = append(dst, p.lit...)
			continue
		}
		s, err := argString(args, p.arg)
		if err != nil {
			return dst, err
		}
		dst = append(dst, url.QueryEscape(s)...)
	}
	return dst, nil
}
