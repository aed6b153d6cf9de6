package soap

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/skybridgehq/skybridge/connectors/internal/confmap"
)

// errTemplate is the cause of every body or header template problem.
var errTemplate = errors.New("template")

// part is one piece of a compiled template: literal XML, or a `{name}`
// placeholder filled with an argument's XML-escaped text.
type part struct {
	lit string
	arg string // placeholder name; lit is empty then
}

// xmlTemplate is an operation's `body` or `header`: inner XML with
// `{name}` placeholders, split at New so a call only appends and escapes.
type xmlTemplate struct {
	parts []part
	args  []string // placeholder names, in order of first use
}

// where a template scanner is in the XML text.
type xmlContext uint8

const (
	inText xmlContext = iota
	inTag
	inAttrValue
	inComment
	inCDATA
	inPI
	inDecl
)

// compileTemplate splits s into literals and placeholders. A placeholder
// is `{name}` (letters, digits, _ and -) and may stand only in character
// data or in a quoted attribute value, where escaped text stays text;
// `{{` is a literal `{`. The template, with its placeholders filled, must
// be well-formed XML content whose prefixes are declared in namespaces
// (prefix → URI) or in the template itself.
func compileTemplate(s string, namespaces map[string]string) (*xmlTemplate, error) {
	t := &xmlTemplate{}
	var lit strings.Builder
	ctx, quote := inText, byte(0)
	flush := func() {
		if lit.Len() > 0 {
			t.parts = append(t.parts, part{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '{' {
			if strings.HasPrefix(s[i:], "{{") {
				lit.WriteByte('{')
				i++
				continue
			}
			end := strings.IndexByte(s[i:], '}')
			if end < 0 || !validArgName(s[i+1:i+end]) {
				return nil, fmt.Errorf("%w: { must start a placeholder such as {id} (letters, digits, _ and -); write {{ for a literal {", errTemplate)
			}
			name := s[i+1 : i+end]
			if ctx != inText && ctx != inAttrValue {
				return nil, fmt.Errorf("%w: placeholder {%s} may stand only in element text or a quoted attribute value", errTemplate, name)
			}
			flush()
			t.parts = append(t.parts, part{arg: name})
			if !contains(t.args, name) {
				t.args = append(t.args, name)
			}
			i += end
			continue
		}
		lit.WriteByte(c)
		rest := s[i:]
		switch ctx {
		case inText:
			if c == '<' {
				switch {
				case strings.HasPrefix(rest, "<!--"):
					ctx = inComment
				case strings.HasPrefix(rest, "<![CDATA["):
					ctx = inCDATA
				case strings.HasPrefix(rest, "<?"):
					ctx = inPI
				case strings.HasPrefix(rest, "<!"):
					ctx = inDecl
				default:
					ctx = inTag
				}
			}
		case inTag:
			switch c {
			case '"', '\'':
				ctx, quote = inAttrValue, c
			case '>':
				ctx = inText
			}
		case inAttrValue:
			if c == quote {
				ctx = inTag
			}
		case inComment:
			if strings.HasSuffix(s[:i+1], "-->") && !strings.HasSuffix(s[:i+1], "<!-->") {
				ctx = inText
			}
		case inCDATA:
			if strings.HasSuffix(s[:i+1], "]]>") {
				ctx = inText
			}
		case inPI:
			if strings.HasSuffix(s[:i+1], "?>") {
				ctx = inText
			}
		case inDecl:
			if c == '>' {
				ctx = inText
			}
		}
	}
	flush()
	probe := make(map[string]any, len(t.args))
	for _, a := range t.args {
		probe[a] = "x"
	}
	var buf bytes.Buffer
	if err := t.render(&buf, probe, nil); err != nil {
		return nil, err
	}
	if err := checkContent(buf.Bytes(), namespaces); err != nil {
		return nil, fmt.Errorf("%w: %w", errTemplate, err)
	}
	return t, nil
}

// argError is a missing or unusable argument; Call turns it into
// KindInvalid naming the argument.
type argError struct {
	name string
	why  string
}

func (e *argError) Error() string { return fmt.Sprintf("argument %q %s", e.name, e.why) }

// render appends the filled template to dst. A placeholder takes its value
// from params first, then from args; the value must be a string, number or
// boolean and is written with XML escaping (&, <, >, quotes and line
// breaks become references; characters XML cannot hold become U+FFFD), so
// it stays the text it was.
func (t *xmlTemplate) render(dst *bytes.Buffer, args, params map[string]any) error {
	for _, p := range t.parts {
		if p.arg == "" {
			dst.WriteString(p.lit)
			continue
		}
		v, ok := params[p.arg]
		if !ok {
			v, ok = args[p.arg]
		}
		if !ok || v == nil {
			return &argError{p.arg, "is missing"}
		}
		s, ok := confmap.Scalar(v)
		if !ok {
			return &argError{p.arg, "must be a string, number or boolean (lists and mappings have no single XML text)"}
		}
		if err := xml.EscapeText(dst, []byte(s)); err != nil {
			return err
		}
	}
	return nil
}

// checkContent checks that data is well-formed XML content (any number of
// elements and text, no XML declaration) whose element and attribute
// prefixes are declared in namespaces or by the content itself.
func checkContent(data []byte, namespaces map[string]string) error {
	d := xml.NewDecoder(io.MultiReader(strings.NewReader("<r>"), bytes.NewReader(data), strings.NewReader("</r>")))
	d.Strict = true
	type scope struct {
		name     xml.Name
		prefixes []string
	}
	var stack []scope
	closed := false // the wrapper element ended: nothing may follow
	declared := func(prefix string) bool {
		if prefix == "" || prefix == "xml" || prefix == "xmlns" {
			return true
		}
		if _, ok := namespaces[prefix]; ok {
			return true
		}
		for _, s := range stack {
			if contains(s.prefixes, prefix) {
				return true
			}
		}
		return false
	}
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("not well-formed XML: %w", err)
		}
		if closed {
			return fmt.Errorf("not well-formed XML: content closes its enclosing element")
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			sc := scope{name: tk.Name}
			for _, a := range tk.Attr {
				if a.Name.Space == "xmlns" {
					sc.prefixes = append(sc.prefixes, a.Name.Local)
				}
			}
			stack = append(stack, sc)
			if !declared(tk.Name.Space) {
				return fmt.Errorf("element %s:%s: prefix %q is not declared in config.namespaces", tk.Name.Space, tk.Name.Local, tk.Name.Space)
			}
			for _, a := range tk.Attr {
				if !declared(a.Name.Space) {
					return fmt.Errorf("attribute %s:%s: prefix %q is not declared in config.namespaces", a.Name.Space, a.Name.Local, a.Name.Space)
				}
			}
		case xml.EndElement:
			if len(stack) == 0 || stack[len(stack)-1].name != tk.Name {
				return fmt.Errorf("not well-formed XML: unexpected end element %s", qname(tk.Name))
			}
			stack = stack[:len(stack)-1]
			closed = len(stack) == 0
		case xml.ProcInst:
			return fmt.Errorf("processing instructions (<?%s ...?>) are not allowed", tk.Target)
		case xml.Directive:
			return fmt.Errorf("directives (<!...>) are not allowed")
		}
	}
	if len(stack) != 0 {
		return fmt.Errorf("not well-formed XML: unclosed element %s", qname(stack[len(stack)-1].name))
	}
	return nil
}

func qname(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
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

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
