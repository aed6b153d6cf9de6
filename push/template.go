package push

import (
	"fmt"
	"strings"
)

// Template holds a notification's text per locale ("en", "pt-BR", or
// "default"): the installation's locale picks one (exact match, then its
// language, then "default"); without a match the notification's own title
// and body are used. {{name}} in a text is replaced by vars.name.
type Template map[string]Content

// Content is one locale's text.
type Content struct {
	Title string `json:"title,omitempty"`
	Body  string `json:"body,omitempty"`
}

func (t Template) validate() error {
	if len(t) > 200 {
		return invalid("template", "at most 200 locales")
	}
	for loc, c := range t {
		if loc != "default" && !localeRe.MatchString(loc) {
			return invalid("template."+loc, "is not a locale such as en or pt-BR, nor default")
		}
		if len(c.Title) > maxTextLen || len(c.Body) > maxTextLen {
			return invalid("template."+loc, fmt.Sprintf("title and body are at most %d bytes", maxTextLen))
		}
	}
	return nil
}

// pick returns the content for locale.
func (t Template) pick(locale string) (Content, bool) {
	if len(t) == 0 {
		return Content{}, false
	}
	norm := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, "_", "-")) }
	want := norm(locale)
	if want != "" {
		for k, c := range t {
			if norm(k) == want {
				return c, true
			}
		}
		lang, _, _ := strings.Cut(want, "-")
		for k, c := range t {
			if norm(k) == lang {
				return c, true
			}
		}
	}
	c, ok := t["default"]
	return c, ok
}

// render replaces each {{name}} in s by the text of vars[name] ("" when
// missing). Other text, including a lone "{{", is kept as is.
func render(s string, vars map[string]any) string {
	if !strings.Contains(s, "{{") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.Index(s[i+2:], "}}")
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		name := strings.TrimSpace(s[i+2 : i+2+j])
		b.WriteString(textOf(vars[name]))
		s = s[i+2+j+2:]
	}
}

// text returns the title and body one installation sees.
func (r *SendRequest) text(locale string) (title, body string) {
	title, body = r.Notification.Title, r.Notification.Body
	if c, ok := r.Template.pick(locale); ok {
		if c.Title != "" {
			title = c.Title
		}
		if c.Body != "" {
			body = c.Body
		}
	}
	return render(title, r.Vars), render(body, r.Vars)
}
