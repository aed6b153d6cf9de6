// Package smtpserver is a real SMTP server for tests, built on
// github.com/emersion/go-smtp's server: it listens on 127.0.0.1:0, may
// require AUTH PLAIN with given credentials and may offer STARTTLS with a
// self-signed certificate, and records every message it accepts so that a
// test can wait for the next one.
package smtpserver

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Options shape a Server.
type Options struct {
	// Username and Password, when Username is set, make the server offer
	// AUTH PLAIN (also without TLS) and refuse MAIL before a successful
	// login with exactly these credentials.
	Username, Password string
	// StartTLS makes the server offer STARTTLS with a self-signed
	// certificate for 127.0.0.1 and localhost; RootCAs trusts it.
	StartTLS bool
	// ImplicitTLS makes the server speak TLS from the first byte, with the
	// same certificate.
	ImplicitTLS bool
}

// Message is one accepted message.
type Message struct {
	From string   // MAIL FROM
	To   []string // RCPT TO
	Data []byte   // the message as sent, headers and body
	// TLS reports whether the message came over TLS; Authed whether the
	// client had logged in.
	TLS, Authed bool
}

// Server is a running test SMTP server.
type Server struct {
	srv   *smtp.Server
	ln    net.Listener
	roots *x509.CertPool
	opts  Options

	mu       sync.Mutex
	messages []Message
	next     int           // index of the next message Next returns
	arrived  chan struct{} // closed and replaced on every new message
	authFail int
}

// Start starts a server with opts and stops it when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{opts: opts, arrived: make(chan struct{})}
	be := smtp.NewServer(smtp.BackendFunc(s.newSession))
	be.Domain = "localhost"
	be.AllowInsecureAuth = true
	be.ReadTimeout, be.WriteTimeout = 30*time.Second, 30*time.Second
	be.MaxMessageBytes = 1 << 20
	be.MaxRecipients = 10
	be.ErrorLog = log.New(io.Discard, "", 0)
	var tlsCfg *tls.Config
	if opts.StartTLS || opts.ImplicitTLS {
		cert, roots, err := selfSigned()
		if err != nil {
			t.Fatal(err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		s.roots = roots
		be.TLSConfig = tlsCfg
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if opts.ImplicitTLS {
		ln = tls.NewListener(ln, tlsCfg)
	}
	s.srv, s.ln = be, ln
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = be.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = be.Close()
		// Close may run before Serve registered the listener.
		_ = ln.Close()
		<-done
	})
	return s
}

// Host is the address the server listens on, "127.0.0.1".
func (s *Server) Host() string { return s.ln.Addr().(*net.TCPAddr).IP.String() }

// Port is the port the server listens on.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host(), strconv.Itoa(s.Port())) }

// RootCAs trusts the server's self-signed certificate (nil without TLS).
func (s *Server) RootCAs() *x509.CertPool { return s.roots }

// Messages returns every message accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// AuthFailures is the number of refused logins.
func (s *Server) AuthFailures() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authFail
}

// Next returns the oldest message that Next has not returned yet, waiting
// until one arrives or the timeout passes (ok false).
func (s *Server) Next(timeout time.Duration) (Message, bool) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		if s.next < len(s.messages) {
			m := s.messages[s.next]
			s.next++
			s.mu.Unlock()
			return m, true
		}
		arrived := s.arrived
		s.mu.Unlock()
		select {
		case <-arrived:
		case <-deadline.C:
			return Message{}, false
		}
	}
}

func (s *Server) record(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages = append(s.messages, m)
	close(s.arrived)
	s.arrived = make(chan struct{})
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	sess := &session{s: s, tls: isTLS}
	if s.opts.Username == "" {
		return sess, nil
	}
	return &authSession{session: sess}, nil
}

// session is one SMTP connection's transaction state.
type session struct {
	s      *Server
	tls    bool
	authed bool
	from   string
	to     []string
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.opts.Username != "" && !ss.authed {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.record(Message{From: ss.from, To: append([]string(nil), ss.to...), Data: data, TLS: ss.tls, Authed: ss.authed})
	return nil
}

// authSession adds AUTH PLAIN with the server's credentials.
type authSession struct{ *session }

func (as *authSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (as *authSession) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if identity != "" && identity != username || username != as.s.opts.Username || password != as.s.opts.Password {
			as.s.mu.Lock()
			as.s.authFail++
			as.s.mu.Unlock()
			return smtp.ErrAuthFailed
		}
		as.authed = true
		return nil
	}), nil
}

// selfSigned makes a certificate for 127.0.0.1, ::1 and localhost, and a
// pool that trusts it.
func selfSigned() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "skybridge test smtp"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}

// Parse splits the message into its header and its body, decoding a
// quoted-printable body.
func (m Message) Parse() (netmail.Header, string, error) {
	msg, err := netmail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		return nil, "", err
	}
	var body io.Reader = msg.Body
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, "", err
	}
	return msg.Header, string(b), nil
}
