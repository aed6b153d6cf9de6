package soap

import (
	"bytes"
	"encoding/xml"
	"sort"
	"strings"
)

// version is a SOAP version.
type version uint8

const (
	soap11 version = iota + 1
	soap12
)

// Envelope namespaces.
const (
	// NamespaceSOAP11 is the SOAP 1.1 envelope namespace.
	NamespaceSOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
	// NamespaceSOAP12 is the SOAP 1.2 envelope namespace.
	NamespaceSOAP12 = "http://www.w3.org/2003/05/soap-envelope"
)

// reservedPrefixes are the prefixes the connector declares itself.
var reservedPrefixes = []string{"soap", "wsse", "wsu", "xml", "xmlns"}

func (v version) namespace() string {
	if v == soap12 {
		return NamespaceSOAP12
	}
	return NamespaceSOAP11
}

func (v version) String() string {
	if v == soap12 {
		return "1.2"
	}
	return "1.1"
}

// contentType is the request's Content-Type: SOAP 1.1 text/xml (the
// action goes in SOAPAction), SOAP 1.2 application/soap+xml with the
// action as a parameter.
func (v version) contentType(action string) string {
	if v == soap11 {
		return "text/xml; charset=utf-8"
	}
	if action == "" {
		return "application/soap+xml; charset=utf-8"
	}
	return `application/soap+xml; charset=utf-8; action="` + action + `"`
}

// envelopeParts are the fixed texts around an operation's header and body,
// built once at New.
type envelopeParts struct {
	open       string // XML declaration and <soap:Envelope ...> with the namespaces
	bodyOpen   string // "<soap:Body>"
	closeTexts string // "</soap:Body></soap:Envelope>"
}

func newEnvelopeParts(v version, namespaces map[string]string) envelopeParts {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>`)
	b.WriteString(`<soap:Envelope xmlns:soap="`)
	b.WriteString(v.namespace())
	b.WriteByte('"')
	prefixes := make([]string, 0, len(namespaces))
	for p := range namespaces {
		prefixes = append(prefixes, p)
	}
	sort.Strings(prefixes)
	for _, p := range prefixes {
		b.WriteString(" xmlns:")
		b.WriteString(p)
		b.WriteString(`="`)
		b.WriteString(escapeAttr(namespaces[p]))
		b.WriteByte('"')
	}
	b.WriteByte('>')
	return envelopeParts{open: b.String(), bodyOpen: "<soap:Body>", closeTexts: "</soap:Body></soap:Envelope>"}
}

// write assembles one envelope into dst: the header block (security and
// the operation's header, either may be empty) and the body.
func (p envelopeParts) write(dst *bytes.Buffer, security, header, body []byte) {
	dst.WriteString(p.open)
	if len(security) > 0 || len(header) > 0 {
		dst.WriteString("<soap:Header>")
		dst.Write(security)
		dst.Write(header)
		dst.WriteString("</soap:Header>")
	}
	dst.WriteString(p.bodyOpen)
	dst.Write(body)
	dst.WriteString(p.closeTexts)
}

func escapeAttr(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
