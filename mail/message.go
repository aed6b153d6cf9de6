package mail

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/quotedprintable"
	netmail "net/mail"
	"strings"
	"time"
	"unicode/utf8"
)

// Message is one plain-text mail to one recipient.
type Message struct {
	// From is the sender: "no-reply@example.com" or
	// "Todo App <no-reply@example.com>".
	From string
	// To is the recipient, in the same forms.
	To string
	// Subject is one line of text.
	Subject string
	// Body is the plain text (UTF-8); lines may end in "\n" or "\r\n".
	Body string
}

// Limits of a Message.
const (
	// MaxSubjectLen bounds Subject, in bytes.
	MaxSubjectLen = 200
	// MaxBodyLen bounds Body, in bytes.
	MaxBodyLen = 64 << 10
	// maxLineLen is the longest line SMTP allows without encoding (RFC
	// 5322 says 998 characters).
	maxLineLen = 998
)

// envelope is the SMTP envelope: MAIL FROM and RCPT TO.
type envelope struct{ from, to string }

// ParseAddress checks one mailbox ("a@example.com" or "Name <a@example.com>")
// and returns it parsed. CR, LF and other control characters are refused
// before parsing: they are how header injection starts. Errors wrap
// ErrInvalid.
func ParseAddress(s string) (*netmail.Address, error) {
	if s == "" {
		return nil, fmt.Errorf("%w: the address is empty", ErrInvalid)
	}
	if hasControl(s) {
		return nil, fmt.Errorf("%w: the address holds a control character (CR or LF)", ErrInvalid)
	}
	if len(s) > 320 {
		return nil, fmt.Errorf("%w: the address is longer than 320 bytes", ErrInvalid)
	}
	a, err := netmail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %q is not a mail address: %v", ErrInvalid, s, err)
	}
	if strings.ContainsAny(a.Address, "<> ") || !strings.Contains(a.Address, "@") {
		return nil, fmt.Errorf("%w: %q is not a mail address", ErrInvalid, s)
	}
	return a, nil
}

// hasControl reports whether s holds an ASCII control character or DEL.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return true
		}
	}
	return false
}

// Validate checks the message: both addresses (see ParseAddress), a
// subject of one line, a UTF-8 body within MaxBodyLen. Errors wrap
// ErrInvalid and name the field.
func (m Message) Validate() error {
	_, _, err := m.render(time.Unix(0, 0))
	return err
}

// render checks m and returns its envelope and its RFC 5322 text with
// Date, Message-ID, From, To, Subject, MIME-Version and Content-Type
// headers.
func (m Message) render(now time.Time) (envelope, []byte, error) {
	from, err := ParseAddress(m.From)
	if err != nil {
		return envelope{}, nil, fmt.Errorf("from: %w", err)
	}
	to, err := ParseAddress(m.To)
	if err != nil {
		return envelope{}, nil, fmt.Errorf("to: %w", err)
	}
	switch {
	case m.Subject == "" || len(m.Subject) > MaxSubjectLen:
		return envelope{}, nil, fmt.Errorf("subject: %w: must be 1 to %d bytes", ErrInvalid, MaxSubjectLen)
	case hasControl(m.Subject):
		return envelope{}, nil, fmt.Errorf("subject: %w: holds a control character (CR or LF)", ErrInvalid)
	case !utf8.ValidString(m.Subject):
		return envelope{}, nil, fmt.Errorf("subject: %w: is not UTF-8", ErrInvalid)
	case len(m.Body) > MaxBodyLen || !utf8.ValidString(m.Body):
		return envelope{}, nil, fmt.Errorf("body: %w: must be UTF-8 of at most %d bytes", ErrInvalid, MaxBodyLen)
	}

	var b bytes.Buffer
	header := func(name, value string) { b.WriteString(name + ": " + value + "\r\n") }
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", messageID(from.Address))
	header("From", from.String())
	header("To", to.String())
	header("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	body := strings.ReplaceAll(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\r", "\n")
	if plain7bit(body) {
		header("Content-Transfer-Encoding", "7bit")
		b.WriteString("\r\n")
		b.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))
	} else {
		header("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		qp := quotedprintable.NewWriter(&b)
		// Text mode: the writer turns "\n" into CRLF line breaks.
		if _, err := qp.Write([]byte(body)); err != nil {
			return envelope{}, nil, fmt.Errorf("body: %w", err)
		}
		if err := qp.Close(); err != nil {
			return envelope{}, nil, fmt.Errorf("body: %w", err)
		}
	}
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	return envelope{from: from.Address, to: to.Address}, b.Bytes(), nil
}

// plain7bit reports whether body can travel as is: ASCII, short lines.
func plain7bit(body string) bool {
	for _, line := range strings.Split(body, "\n") {
		if len(line) > maxLineLen {
			return false
		}
		for i := 0; i < len(line); i++ {
			if c := line[i]; c >= 0x80 || c < 0x20 && c != '\t' {
				return false
			}
		}
	}
	return true
}

// messageID is a new, unique Message-ID at the sender's domain.
func messageID(from string) string {
	var r [16]byte
	_, _ = rand.Read(r[:]) // crypto/rand.Read never fails
	domain := from[strings.LastIndexByte(from, '@')+1:]
	if domain == "" || strings.ContainsAny(domain, "<>[] ") {
		domain = "skybridge.invalid"
	}
	return "<" + hex.EncodeToString(r[:]) + "@" + domain + ">"
}
