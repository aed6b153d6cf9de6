package soap

import (
	"crypto/tls"
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
	// DefaultMaxResponseBytes bounds an answer when config.maxResponseBytes
	// is not set.
	DefaultMaxResponseBytes = 8 << 20
	// MaxIdleConnsPerHost is how many idle connections the connector's
	// transport keeps to its endpoint's host.
	MaxIdleConnsPerHost = conncore.MaxIdleConnsPerHost
)

// settings is a connector's config, read and checked.
type settings struct {
	endpoint         string
	host             string // for logs
	version          version
	timeout          time.Duration
	maxResponseBytes int64
	headers          map[string]string
	namespaces       map[string]string
	security         securitySettings
	tls              *tls.Config
	insecure         bool
	guard            connectors.GuardConfig
}

// withDefaults fills the zero fields with their defaults.
func (s settings) withDefaults() settings {
	if s.version == 0 {
		s.version = soap11
	}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	if s.maxResponseBytes <= 0 {
		s.maxResponseBytes = DefaultMaxResponseBytes
	}
	if s.tls == nil {
		s.tls = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return s
}

// operationSpec is one operation, read and checked.
type operationSpec struct {
	name       string
	action     string
	body       *xmlTemplate
	soapHeader *xmlTemplate // nil without one
	params     map[string]any
	dynParams  connectors.Template
	headers    map[string]string
	dynHeaders []dynHeader
	result     []*field // nil: generic conversion
	idempotent bool
}

// dynHeader is a Dynamic `headers.<Name>` template.
type dynHeader struct {
	name string
	tmpl connectors.Template
}

// spec is everything New needs, read from a connectors.Spec.
type spec struct {
	settings
	ops map[string]*operationSpec
}

// readSpec reads and checks s. With strict false (Validate) placeholder
// values are not judged and the result is only good for its errors.
func readSpec(s connectors.Spec, strict bool) (*spec, []connectors.FieldError) {
	r := &confmap.Reader{Strict: strict}
	out := &spec{ops: make(map[string]*operationSpec, len(s.Operations))}
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
		out.ops[name] = readOperation(r, name, s.Operations[name], out.namespaces)
	}
	return out, r.Errs
}

func readSettings(cfg confmap.Map) settings {
	var s settings
	r := cfg.Reader()
	if raw, ok := cfg.Required("endpoint"); ok {
		s.endpoint, s.host = readEndpoint(r, cfg.Field("endpoint"), raw)
	}
	if v, ok := cfg.String("version"); ok {
		switch strings.TrimSpace(v) {
		case "1.1":
			s.version = soap11
		case "1.2":
			s.version = soap12
		default:
			r.Errorf(cfg.Field("version"), `must be "1.1" or "1.2"`)
		}
	}
	if d, ok := cfg.Duration("timeout"); ok {
		s.timeout = d
	}
	if n, ok := cfg.Int("maxResponseBytes", 1); ok {
		s.maxResponseBytes = int64(n)
	}
	s.headers = cfg.StringMap("headers")
	checkHeaders(r, cfg.Field("headers"), s.headers)
	s.namespaces = readNamespaces(cfg.Sub("namespaces"))
	s.security = readSecurity(cfg.Sub("security"))
	s.tls, s.insecure = confmap.TLS(cfg.Sub("tls"))
	s.guard = confmap.Guard(cfg)
	return s
}

// readEndpoint checks an absolute http(s) URL without credentials or
// fragment. Messages never quote the URL: it may hold a secret.
func readEndpoint(r *confmap.Reader, field, raw string) (endpoint, host string) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		r.Errorf(field, "is not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		r.Errorf(field, "must be an http or https URL")
	case u.Host == "" || u.Hostname() == "":
		r.Errorf(field, "must name a host")
	case u.User != nil:
		r.Errorf(field, "must not hold credentials; use config.security")
	case u.Fragment != "":
		r.Errorf(field, "must not have a fragment")
	default:
		return u.String(), u.Host
	}
	return "", ""
}

func readNamespaces(m confmap.Map) map[string]string {
	r := m.Reader()
	out := map[string]string{}
	for _, p := range m.Keys() {
		uri, ok := m.String(p)
		switch {
		case !isNCName(p):
			r.Errorf(m.Field(p), "is not a valid namespace prefix")
		case contains(reservedPrefixes, p) || strings.HasPrefix(strings.ToLower(p), "xml"):
			r.Errorf(m.Field(p), "is reserved (the connector declares soap, wsse and wsu itself)")
		case ok && strings.TrimSpace(uri) == "":
			r.Errorf(m.Field(p), "must be a namespace URI")
		case ok:
			out[p] = uri
		default:
			if raw, _ := m.Raw(p); r.Skip(raw) {
				out[p] = "urn:unresolved" // a placeholder URI: the prefix is still known
			}
		}
	}
	return out
}

func readOperation(r *confmap.Reader, name string, op connectors.Operation, namespaces map[string]string) *operationSpec {
	m := r.Map("operations."+name, op.Static)
	o := &operationSpec{name: name}
	if a, ok := m.String("action"); ok {
		if !validAction(a) {
			r.Errorf(m.Field("action"), `must be a single-line URI without '"'`)
		}
		o.action = a
	}
	if _, dyn := op.Dynamic["body"]; !dyn {
		if raw, ok := m.Required("body"); ok {
			t, err := compileTemplate(raw, namespaces)
			if err != nil {
				r.Errorf(m.Field("body"), "%v", err)
			}
			o.body = t
		}
	}
	if raw, ok := m.String("soapHeader"); ok {
		t, err := compileTemplate(raw, namespaces)
		if err != nil {
			r.Errorf(m.Field("soapHeader"), "%v", err)
		}
		o.soapHeader = t
	}
	if v, ok := m.Raw("params"); ok && v != nil {
		params := m.Sub("params")
		o.params = make(map[string]any, params.Len())
		for _, k := range params.Keys() {
			o.params[k], _ = params.Raw(k)
		}
	}
	o.headers = m.StringMap("headers")
	checkHeaders(r, m.Field("headers"), o.headers)
	if m.Has("result") {
		o.result = readResult(m.Sub("result"), namespaces)
		if o.result == nil {
			o.result = []*field{}
		}
	}
	o.idempotent, _ = m.Bool("idempotent")
	m.Done()
	for _, key := range sortedKeys(op.Dynamic) {
		t := op.Dynamic[key]
		field := m.Field(key)
		if t == nil {
			r.Errorf(field, "has no compiled expression")
			continue
		}
		head, rest, _ := strings.Cut(key, ".")
		switch {
		case key == "params":
			o.dynParams = t
		case head == "headers" && rest != "":
			if !validHeaderName(rest) {
				r.Errorf(field, "is not a valid header name")
			}
			o.dynHeaders = append(o.dynHeaders, dynHeader{name: rest, tmpl: t})
		case key == "body" || key == "soapHeader":
			r.Errorf(field, "cannot be an expression: ${...} would put raw text into the XML; write {name} placeholders, which are XML-escaped, and compute values in params")
		default:
			r.Errorf(field, "cannot be an expression")
		}
	}
	return o
}

// validAction: SOAPAction is sent quoted, and as the action parameter of
// SOAP 1.2's Content-Type.
func validAction(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c == 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func checkHeaders(r *confmap.Reader, field string, h map[string]string) {
	for _, k := range sortedKeys(h) {
		if !validHeaderName(k) {
			r.Errorf(field+"."+k, "is not a valid header name")
		}
		if !validHeaderValue(h[k]) {
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

func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
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
