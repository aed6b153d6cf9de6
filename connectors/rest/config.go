package rest

import (
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/skybridgehq/skybridge/connectors"
	"github.com/skybridgehq/skybridge/connectors/internal/confmap"
	"github.com/skybridgehq/skybridge/connectors/internal/conncore"
)

// Defaults of the config fields (see the package doc).
const (
	// DefaultTimeout bounds one call when config.timeout is not set.
	DefaultTimeout = 10 * time.Second
	// DefaultMaxResponseBytes bounds a response body when
	// config.maxResponseBytes is not set.
	DefaultMaxResponseBytes = 8 << 20
	// MaxIdleConnsPerHost is how many idle connections the connector's
	// transport keeps to its host, so that many concurrent calls reuse
	// connections instead of dialing.
	MaxIdleConnsPerHost = conncore.MaxIdleConnsPerHost
)

// settings is a connector's config, read and checked.
type settings struct {
	base             *url.URL // scheme and host of baseURL
	prefix           string   // scheme://host/basePath, no trailing '/'
	timeout          time.Duration
	maxResponseBytes int64
	headers          map[string]string
	statuses         []statusRule
	auth             authSettings
	tls              tlsSettings
	guard            connectors.GuardConfig
}

func (s settings) withDefaults() settings {
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	if s.maxResponseBytes <= 0 {
		s.maxResponseBytes = DefaultMaxResponseBytes
	}
	return s
}

// operationSpec is one operation, read and checked.
type operationSpec struct {
	name       string
	method     string
	path       *pathTemplate
	pathText   string
	query      []queryParam
	headers    map[string]string
	body       any
	hasBody    bool
	form       bool
	idempotent bool
	statuses   []statusRule
	// Dynamic parts, sorted by key.
	dynBody    connectors.Template
	dynFields  []dynField // body.<dotted path>
	dynHeaders []dynField
	dynQuery   []dynField
}

// queryParam is a static `query:` entry; its value may hold {name}.
type queryParam struct {
	key   string // query-escaped
	value []part
}

// dynField is a Dynamic template with the name or path it fills.
type dynField struct {
	name string
	path []string // body fields only
	tmpl connectors.Template
}

// spec is everything New needs, read from a connectors.Spec.
type spec struct {
	name string
	settings
	ops map[string]*operationSpec
}

var methods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

// readSpec reads and checks s. With strict false (Validate) placeholder
// values are not judged and the result is only good for its errors.
func readSpec(s connectors.Spec, strict bool) (*spec, []connectors.FieldError) {
	r := &confmap.Reader{Strict: strict}
	out := &spec{name: s.Name, ops: make(map[string]*operationSpec, len(s.Operations))}
	cfg := r.Map("config", s.Config)
	out.settings = readSettings(cfg)
	cfg.Done()
	if len(s.Operations) == 0 {
		r.Errorf("operations", "at least one operation is required")
	}
	names := make([]string, 0, len(s.Operations))
	for name := range s.Operations {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		out.ops[name] = readOperation(r, name, s.Operations[name])
	}
	return out, r.Errs
}

func readSettings(cfg confmap.Map) settings {
	var s settings
	r := cfg.Reader()
	if raw, ok := cfg.Required("baseURL"); ok {
		s.base, s.prefix = readBaseURL(r, cfg.Field("baseURL"), raw)
	}
	if d, ok := cfg.Duration("timeout"); ok {
		s.timeout = d
	}
	if n, ok := cfg.Int("maxResponseBytes", 1); ok {
		s.maxResponseBytes = int64(n)
	}
	s.headers = cfg.StringMap("headers")
	checkHeaders(r, cfg.Field("headers"), s.headers)
	s.statuses = readStatuses(cfg.Sub("statuses"))
	s.auth = readAuth(cfg.Sub("auth"))
	s.tls = readTLS(cfg.Sub("tls"))
	s.guard = confmap.Guard(cfg)
	return s
}

// readBaseURL checks an absolute http(s) URL without credentials, query
// or fragment. Messages never quote the URL: it may hold a secret.
func readBaseURL(r *confmap.Reader, field, raw string) (*url.URL, string) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		r.Errorf(field, "is not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		r.Errorf(field, "must be an http or https URL")
	case u.Host == "" || u.Hostname() == "":
		r.Errorf(field, "must name a host")
	case u.User != nil:
		r.Errorf(field, "must not hold credentials; use config.auth")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		r.Errorf(field, "must not have a query or fragment; use an operation's query")
	default:
		base := &url.URL{Scheme: u.Scheme, Host: u.Host}
		return base, base.String() + strings.TrimRight(u.EscapedPath(), "/")
	}
	return nil, ""
}

func readOperation(r *confmap.Reader, name string, op connectors.Operation) *operationSpec {
	m := r.Map("operations."+name, op.Static)
	o := &operationSpec{name: name, method: http.MethodGet}
	if method, ok := m.String("method"); ok {
		if up := strings.ToUpper(method); methods[up] {
			o.method = up
		} else {
			r.Errorf(m.Field("method"), "must be one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
		}
	}
	if _, dyn := op.Dynamic["path"]; dyn {
		// readDynamic says why this cannot be.
	} else if p, ok := m.Required("path"); ok {
		t, err := compilePath(p)
		if err != nil {
			r.Errorf(m.Field("path"), "%v", err)
		}
		o.path, o.pathText = t, p
	}
	o.idempotent = o.method != http.MethodPost && o.method != http.MethodPatch
	if b, ok := m.Bool("idempotent"); ok {
		o.idempotent = b
	}
	query := m.StringMap("query")
	for _, k := range sortedKeys(query) {
		parts, err := compileParts(query[k], false)
		if err != nil && !r.Skip(query[k]) {
			r.Errorf(m.Field("query."+k), "%v", err)
		}
		o.query = append(o.query, queryParam{key: url.QueryEscape(k), value: escapeLiterals(parts, query[k], err)})
	}
	o.headers = m.StringMap("headers")
	checkHeaders(r, m.Field("headers"), o.headers)
	o.body, o.hasBody = m.Raw("body")
	if bt, ok := m.String("bodyType"); ok {
		switch bt {
		case "json":
		case "form":
			o.form = true
		default:
			r.Errorf(m.Field("bodyType"), "must be json or form")
		}
	}
	if o.form && o.hasBody {
		if _, isMap := o.body.(map[string]any); !isMap && !r.Skip(o.body) {
			r.Errorf(m.Field("body"), "a form body must be a mapping")
		}
	}
	o.statuses = readStatuses(m.Sub("statuses"))
	m.Done()
	readDynamic(r, m, o, op.Dynamic)
	return o
}

// escapeLiterals keeps a query value usable even when it did not compile
// (a placeholder in Validate): its text is taken literally.
func escapeLiterals(parts []part, raw string, err error) []part {
	if err == nil {
		return parts
	}
	return []part{{lit: url.QueryEscape(raw)}}
}

func readDynamic(r *confmap.Reader, m confmap.Map, o *operationSpec, dyn map[string]connectors.Template) {
	for _, key := range sortedKeys(dyn) {
		t := dyn[key]
		field := m.Field(key)
		if t == nil {
			r.Errorf(field, "has no compiled expression")
			continue
		}
		head, rest, _ := strings.Cut(key, ".")
		switch {
		case key == "body":
			o.dynBody = t
		case head == "body" && rest != "":
			o.dynFields = append(o.dynFields, dynField{path: strings.Split(rest, "."), tmpl: t})
		case head == "headers" && rest != "":
			if !validHeaderName(rest) {
				r.Errorf(field, "is not a valid header name")
			}
			o.dynHeaders = append(o.dynHeaders, dynField{name: rest, tmpl: t})
		case head == "query" && rest != "":
			o.dynQuery = append(o.dynQuery, dynField{name: url.QueryEscape(rest), tmpl: t})
		case key == "path":
			r.Errorf(field, "cannot be an expression; fill it from arguments with {name}")
		default:
			r.Errorf(field, "cannot be an expression")
		}
	}
	if (o.dynBody != nil || len(o.dynFields) > 0) && !o.hasBody {
		o.hasBody = true
	}
}

func checkHeaders(r *confmap.Reader, field string, h map[string]string) {
	for _, k := range sortedKeys(h) {
		if !validHeaderName(k) {
			r.Errorf(field+"."+k, "is not a valid header name")
		}
		if strings.ContainsAny(h[k], "\r\n\x00") {
			r.Errorf(field+"."+k, "must not contain line breaks")
		}
	}
}

// validHeaderName: an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
