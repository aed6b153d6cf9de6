package soap_test

import (
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/connectors/soap"
)

// soapServer is a local SOAP 1.1 or 1.2 service over HTTP: it checks the
// Content-Type and the action the way its version binds them, parses the
// envelope, verifies a WS-Security UsernameToken when users are set, and
// answers with what handle returns.
type soapServer struct {
	*httptest.Server
	version string
	// users maps usernames to passwords; nil accepts calls without a
	// Security header.
	users map[string]string
	// now is the server's clock for wsu:Created freshness.
	now    func() time.Time
	handle func(r *received) (status int, body string)

	mu       sync.Mutex
	nonces   map[string]bool
	requests []*received
}

// received is one parsed request.
type received struct {
	action      string
	contentType string
	raw         []byte
	env         envelope
	username    string
	header      http.Header
}

// envelope is how the service decodes a request envelope.
type envelope struct {
	XMLName xml.Name
	Header  *struct {
		XMLName  xml.Name
		Security *wsSecurity `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd Security"`
		Inner    string      `xml:",innerxml"`
	} `xml:"Header"`
	Body struct {
		XMLName xml.Name
		Inner   string `xml:",innerxml"`
	} `xml:"Body"`
}

type wsSecurity struct {
	MustUnderstand string `xml:"mustUnderstand,attr"`
	Token          struct {
		Username string `xml:"Username"`
		Password struct {
			Type  string `xml:"Type,attr"`
			Value string `xml:",chardata"`
		} `xml:"Password"`
		Nonce struct {
			EncodingType string `xml:"EncodingType,attr"`
			Value        string `xml:",chardata"`
		} `xml:"Nonce"`
		Created string `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd Created"`
	} `xml:"UsernameToken"`
}

func newSOAPServer(t testing.TB, version string, handle func(r *received) (int, string)) *soapServer {
	t.Helper()
	s := &soapServer{version: version, handle: handle, now: time.Now, nonces: map[string]bool{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *soapServer) ns() string {
	if s.version == "1.2" {
		return soap.NamespaceSOAP12
	}
	return soap.NamespaceSOAP11
}

func (s *soapServer) serve(w http.ResponseWriter, r *http.Request) {
	status, body := s.accept(r)
	ct := "text/xml; charset=utf-8"
	if s.version == "1.2" {
		ct = "application/soap+xml; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func (s *soapServer) accept(r *http.Request) (int, string) {
	if r.Method != http.MethodPost {
		return http.StatusMethodNotAllowed, ""
	}
	rec := &received{contentType: r.Header.Get("Content-Type"), header: r.Header}
	mt, params, err := mime.ParseMediaType(rec.contentType)
	switch {
	case err != nil:
		return http.StatusUnsupportedMediaType, ""
	case s.version == "1.1" && mt != "text/xml":
		return http.StatusUnsupportedMediaType, ""
	case s.version == "1.1":
		sa, ok := r.Header["Soapaction"]
		if !ok || len(sa) != 1 || !strings.HasPrefix(sa[0], `"`) || !strings.HasSuffix(sa[0], `"`) {
			return http.StatusBadRequest, s.fault("Client", "", "SOAPAction header missing or not quoted", "")
		}
		rec.action = strings.Trim(sa[0], `"`)
	case mt != "application/soap+xml":
		return http.StatusUnsupportedMediaType, ""
	default:
		if _, has := r.Header["Soapaction"]; has {
			return http.StatusBadRequest, s.fault("Sender", "", "SOAP 1.2 carries the action in Content-Type", "")
		}
		rec.action = params["action"]
	}
	rec.raw, _ = io.ReadAll(r.Body)
	if err := xml.Unmarshal(rec.raw, &rec.env); err != nil {
		return http.StatusBadRequest, s.fault(s.senderCode(), "", "malformed envelope: "+err.Error(), "")
	}
	if rec.env.XMLName.Space != s.ns() || rec.env.XMLName.Local != "Envelope" || rec.env.Body.XMLName.Space != s.ns() {
		return http.StatusInternalServerError, s.fault("VersionMismatch", "", "wrong envelope namespace", "")
	}
	if s.users != nil {
		if msg := s.authenticate(rec); msg != "" {
			return http.StatusInternalServerError, s.authFault(msg)
		}
	}
	s.mu.Lock()
	s.requests = append(s.requests, rec)
	s.mu.Unlock()
	return s.handle(rec)
}

// authenticate verifies the UsernameToken as a WS-Security server does:
// known user, password or recomputed digest, fresh Created, unseen nonce.
func (s *soapServer) authenticate(rec *received) string {
	if rec.env.Header == nil || rec.env.Header.Security == nil {
		return "no wsse:Security header"
	}
	sec := rec.env.Header.Security
	tok := sec.Token
	if sec.MustUnderstand != "1" {
		return "Security header not marked mustUnderstand"
	}
	password, known := s.users[tok.Username]
	if !known {
		return "unknown user"
	}
	if tok.Nonce.EncodingType != soap.Base64BinaryURI {
		return "nonce encoding"
	}
	nonce, err := base64.StdEncoding.DecodeString(tok.Nonce.Value)
	if err != nil || len(nonce) < 8 {
		return "bad nonce"
	}
	created, err := time.Parse(time.RFC3339Nano, tok.Created)
	if err != nil || created.Sub(s.now()).Abs() > 5*time.Minute {
		return "Created missing or stale"
	}
	var want string
	switch tok.Password.Type {
	case soap.PasswordDigestURI:
		h := sha1.Sum(append(append(nonce, tok.Created...), password...))
		want = base64.StdEncoding.EncodeToString(h[:])
	case soap.PasswordTextURI:
		want = password
	default:
		return "password type"
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(tok.Password.Value)) != 1 {
		return "wrong password"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nonces[tok.Nonce.Value] {
		return "replayed nonce"
	}
	s.nonces[tok.Nonce.Value] = true
	rec.username = tok.Username
	return ""
}

func (s *soapServer) received() []*received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*received(nil), s.requests...)
}

func (s *soapServer) senderCode() string {
	if s.version == "1.2" {
		return "Sender"
	}
	return "Client"
}

// reply wraps body in an envelope of the server's version.
func (s *soapServer) reply(body string) string {
	return `<?xml version="1.0" encoding="utf-8"?><env:Envelope xmlns:env="` + s.ns() +
		`" xmlns:c="` + customersNS + `" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><env:Body>` + body + `</env:Body></env:Envelope>`
}

// fault is a fault envelope of the server's version; code is a local
// name in the envelope namespace, subcode (1.2) a c: QName.
func (s *soapServer) fault(code, subcode, reason, detail string) string {
	if s.version == "1.1" {
		return s.reply(fmt.Sprintf(`<env:Fault><faultcode>env:%s</faultcode><faultstring>%s</faultstring>%s</env:Fault>`,
			code, xmlText(reason), detail))
	}
	sub := ""
	if subcode != "" {
		sub = "<env:Subcode><env:Value>" + subcode + "</env:Value></env:Subcode>"
	}
	if detail != "" {
		detail = strings.ReplaceAll(strings.ReplaceAll(detail, "<detail>", "<env:Detail>"), "</detail>", "</env:Detail>")
	}
	return s.reply(fmt.Sprintf(`<env:Fault><env:Code><env:Value>env:%s</env:Value>%s</env:Code><env:Reason><env:Text xml:lang="en">%s</env:Text></env:Reason>%s</env:Fault>`,
		code, sub, xmlText(reason), detail))
}

// authFault is the WS-Security failure fault: SOAP 1.1 faultcode
// wsse:FailedAuthentication, SOAP 1.2 Sender with that subcode.
func (s *soapServer) authFault(reason string) string {
	if s.version == "1.1" {
		return s.reply(`<env:Fault xmlns:wsse="` + soap.NamespaceWSSE + `"><faultcode>wsse:FailedAuthentication</faultcode><faultstring>` +
			xmlText(reason) + `</faultstring></env:Fault>`)
	}
	return s.reply(`<env:Fault xmlns:wsse="` + soap.NamespaceWSSE + `"><env:Code><env:Value>env:Sender</env:Value><env:Subcode><env:Value>wsse:FailedAuthentication</env:Value></env:Subcode></env:Code><env:Reason><env:Text xml:lang="en">` +
		xmlText(reason) + `</env:Text></env:Reason></env:Fault>`)
}

func xmlText(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// decodeBody decodes the first element inside the request's Body into v,
// with the envelope's namespace declarations in scope.
func (r *received) decodeBody(v any) error {
	d := xml.NewDecoder(strings.NewReader(string(r.raw)))
	inBody := false
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		if se, ok := tok.(xml.StartElement); ok {
			if inBody {
				return d.DecodeElement(v, &se)
			}
			inBody = se.Name.Local == "Body"
		}
	}
}
