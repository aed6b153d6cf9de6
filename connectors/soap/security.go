package soap

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // the OASIS UsernameToken Profile 1.0 defines PasswordDigest with SHA-1
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"time"

	"github.com/skybridgehq/skybridge/connectors/internal/confmap"
)

// Security types of config.security.type.
const (
	SecurityNone          = "none"
	SecurityUsernameToken = "usernameToken"
)

// Password types of config.security.passwordType.
const (
	PasswordDigest = "digest"
	PasswordText   = "text"
)

// WS-Security namespaces and URIs (OASIS WSS 1.0, UsernameToken Profile
// 1.0).
const (
	NamespaceWSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	NamespaceWSU  = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
	// PasswordTextURI and PasswordDigestURI are wsse:Password's Type.
	PasswordTextURI   = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText"
	PasswordDigestURI = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
	// Base64BinaryURI is wsse:Nonce's EncodingType.
	Base64BinaryURI = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)

// nonceBytes is the size of a UsernameToken nonce.
const nonceBytes = 16

// createdLayout is wsu:Created's format: UTC with milliseconds.
const createdLayout = "2006-01-02T15:04:05.000Z"

// securitySettings is config.security, read and checked.
type securitySettings struct {
	kind           string
	username       string
	password       string
	digest         bool
	mustUnderstand bool
}

func readSecurity(m confmap.Map) securitySettings {
	r := m.Reader()
	s := securitySettings{kind: SecurityNone, digest: true, mustUnderstand: true}
	defer m.Done()
	if m.Len() == 0 {
		return s
	}
	raw, _ := m.Raw("type")
	if r.Skip(raw) {
		for _, k := range m.Keys() {
			m.Raw(k)
		}
		return s
	}
	kind, ok := m.String("type")
	if !ok {
		r.Errorf(m.Field("type"), "is required: none or usernameToken")
		return s
	}
	s.kind = kind
	switch kind {
	case SecurityNone:
	case SecurityUsernameToken:
		s.username, _ = m.Required("username")
		s.password, _ = m.Required("password")
		if t, ok := m.String("passwordType"); ok {
			switch t {
			case PasswordDigest:
			case PasswordText:
				s.digest = false
			default:
				r.Errorf(m.Field("passwordType"), "must be digest or text")
			}
		}
		if b, ok := m.Bool("mustUnderstand"); ok {
			s.mustUnderstand = b
		}
	default:
		r.Errorf(m.Field("type"), "must be none or usernameToken")
	}
	return s
}

// secrets lists the values that must never appear in messages or logs.
func (s securitySettings) secrets() []string {
	if s.password == "" {
		return nil
	}
	out := []string{s.password}
	if esc := escapeAttr(s.password); esc != s.password {
		out = append(out, esc)
	}
	return out
}

// passwordDigest returns a UsernameToken PasswordDigest:
// Base64(SHA-1(nonce + created + password)), nonce as raw bytes and
// created as the exact text of wsu:Created.
func passwordDigest(nonce []byte, created, password string) string {
	h := sha1.New() //nolint:gosec // defined by the profile
	h.Write(nonce)
	h.Write([]byte(created))
	h.Write([]byte(password))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// usernameToken appends a wsse:Security header block with a fresh nonce
// and the time now to dst.
func (s securitySettings) usernameToken(dst *bytes.Buffer, now time.Time) error {
	nonce := make([]byte, nonceBytes)
	if _, err := rand.Read(nonce); err != nil {
		return fmt.Errorf("security nonce: %w", err)
	}
	created := now.UTC().Format(createdLayout)
	dst.WriteString(`<wsse:Security xmlns:wsse="` + NamespaceWSSE + `" xmlns:wsu="` + NamespaceWSU + `"`)
	if s.mustUnderstand {
		dst.WriteString(` soap:mustUnderstand="1"`)
	}
	dst.WriteString(`><wsse:UsernameToken><wsse:Username>`)
	_ = xml.EscapeText(dst, []byte(s.username))
	dst.WriteString(`</wsse:Username>`)
	if s.digest {
		dst.WriteString(`<wsse:Password Type="` + PasswordDigestURI + `">`)
		dst.WriteString(passwordDigest(nonce, created, s.password))
	} else {
		dst.WriteString(`<wsse:Password Type="` + PasswordTextURI + `">`)
		_ = xml.EscapeText(dst, []byte(s.password))
	}
	dst.WriteString(`</wsse:Password><wsse:Nonce EncodingType="` + Base64BinaryURI + `">`)
	dst.WriteString(base64.StdEncoding.EncodeToString(nonce))
	dst.WriteString(`</wsse:Nonce><wsu:Created>`)
	dst.WriteString(created)
	dst.WriteString(`</wsu:Created></wsse:UsernameToken></wsse:Security>`)
	return nil
}
