// Package mail sends short plain-text messages over SMTP: the mails that
// Skybridge itself writes (email verification, password reset, a test
// message from the admin portal). It is one concept — outgoing mail — with
// one adapter, github.com/emersion/go-smtp's client, so that any domain
// package that must mail someone uses the same sender and the same header
// rules.
//
// The SMTP server is given per call (Server), since every app environment
// configures its own; the Sender holds what is the same for every server:
// timeouts, the trusted roots and the name Skybridge greets with.
package mail

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Sentinel errors. Test with errors.Is.
var (
	// ErrInvalid: a server setting or message field the sender refuses
	// before any connection (a malformed address, CR or LF in a header
	// value, an unknown security mode ...).
	ErrInvalid = errors.New("mail: invalid argument")
	// ErrDelivery: the SMTP server could not be reached or refused the
	// message; the wrapped error says what it answered.
	ErrDelivery = errors.New("mail: delivery failed")
)

// Security is how the connection to the SMTP server is protected.
type Security string

// Security modes.
const (
	// StartTLS connects in plain text and upgrades with STARTTLS before
	// anything else is said; a server that does not offer it is an error,
	// never a silent downgrade. Usually port 587.
	StartTLS Security = "starttls"
	// ImplicitTLS speaks TLS from the first byte. Usually port 465.
	ImplicitTLS Security = "tls"
	// NoTLS speaks plain text. Credentials are only sent this way to a
	// loopback host (see Server.Validate).
	NoTLS Security = "none"
)

// Server is one SMTP submission server and the credentials to use there.
type Server struct {
	// Host is the server's host name or IP address; with TLS it is also the
	// name its certificate must carry.
	Host string
	// Port is the TCP port, 1 to 65535.
	Port int
	// Username, when set, makes the sender authenticate with AUTH PLAIN.
	Username string
	// Password goes with Username.
	Password string
	// Security is how the connection is protected.
	Security Security
}

// Config tunes a Sender. The zero value means every default.
type Config struct {
	// Timeout bounds one whole send: connecting, TLS, authentication and
	// the message. Default: 30s.
	Timeout time.Duration
	// RootCAs are the certificate authorities trusted for the servers'
	// TLS certificates. Default: nil, the system roots. Set it for a
	// private CA (and, in tests, for a test server's self-signed
	// certificate); certificate verification is never turned off.
	RootCAs *x509.CertPool
	// HelloName is the host name sent with EHLO. Default: "localhost".
	HelloName string
	// Now is the clock for the Date header. Default: time.Now.
	Now func() time.Time
}

// DefaultTimeout is the default of Config.Timeout.
const DefaultTimeout = 30 * time.Second

func (c Config) withDefaults() Config {
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.HelloName == "" {
		c.HelloName = "localhost"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Sender sends messages over SMTP. It is safe for concurrent use; each
// Send opens its own connection.
type Sender struct {
	cfg Config
}

// NewSender returns a Sender with cfg.
func NewSender(cfg Config) *Sender {
	return &Sender{cfg: cfg.withDefaults()}
}

// maxHostLen bounds Server.Host (the DNS limit).
const maxHostLen = 253

// Validate checks the server settings; errors wrap ErrInvalid and say
// which setting is wrong.
func (srv Server) Validate() error {
	if srv.Host == "" || len(srv.Host) > maxHostLen || strings.ContainsAny(srv.Host, " \t\r\n/:@[]") && net.ParseIP(srv.Host) == nil {
		return fmt.Errorf("%w: host must be a host name or IP address", ErrInvalid)
	}
	for _, c := range srv.Host {
		if c < 0x21 || c > 0x7e {
			return fmt.Errorf("%w: host must be a host name or IP address", ErrInvalid)
		}
	}
	if srv.Port < 1 || srv.Port > 65535 {
		return fmt.Errorf("%w: port must be 1 to 65535", ErrInvalid)
	}
	if hasControl(srv.Username) || len(srv.Username) > 256 {
		return fmt.Errorf("%w: username must be at most 256 characters without control characters", ErrInvalid)
	}
	if hasControl(srv.Password) || len(srv.Password) > 1024 {
		return fmt.Errorf("%w: password must be at most 1024 characters without control characters", ErrInvalid)
	}
	switch srv.Security {
	case StartTLS, ImplicitTLS:
	case NoTLS:
		if srv.Username != "" && !isLoopback(srv.Host) {
			return fmt.Errorf("%w: security %q would send the password in clear text; use %q or %q", ErrInvalid, NoTLS, StartTLS, ImplicitTLS)
		}
	default:
		return fmt.Errorf("%w: security must be %q, %q or %q", ErrInvalid, StartTLS, ImplicitTLS, NoTLS)
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Send delivers msg through srv. It honours ctx and Config.Timeout: a
// cancelled or late send closes the connection. Invalid settings or
// message fields are ErrInvalid (nothing is sent); anything the network or
// the server refused is ErrDelivery.
func (s *Sender) Send(ctx context.Context, srv Server, msg Message) error {
	if err := srv.Validate(); err != nil {
		return err
	}
	env, data, err := msg.render(s.cfg.Now())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	if err := s.send(ctx, srv, env, data); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("%w: %s:%d: %w (%v)", ErrDelivery, srv.Host, srv.Port, ctxErr, err)
		}
		return fmt.Errorf("%w: %s:%d: %w", ErrDelivery, srv.Host, srv.Port, err)
	}
	return nil
}

func (s *Sender) send(ctx context.Context, srv Server, env envelope, data []byte) error {
	addr := net.JoinHostPort(srv.Host, strconv.Itoa(srv.Port))
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	// Closing the connection is what interrupts a blocked read or write
	// when ctx ends; go-smtp's own deadlines are per command.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	tlsCfg := &tls.Config{ServerName: srv.Host, RootCAs: s.cfg.RootCAs, MinVersion: tls.VersionTLS12}

	var c *smtp.Client
	switch srv.Security {
	case ImplicitTLS:
		tc := tls.Client(conn, tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return fmt.Errorf("TLS: %w", err)
		}
		c = smtp.NewClient(tc)
	case StartTLS:
		// NewClientStartTLS refuses a server that does not offer
		// STARTTLS: no silent downgrade to plain text.
		if c, err = smtp.NewClientStartTLS(conn, tlsCfg); err != nil {
			conn.Close()
			return fmt.Errorf("STARTTLS: %w", err)
		}
	default:
		c = smtp.NewClient(conn)
	}
	defer c.Close()
	c.CommandTimeout, c.SubmissionTimeout = s.cfg.Timeout, s.cfg.Timeout
	// After STARTTLS the client greets again; the name goes there.
	if err := c.Hello(s.cfg.HelloName); err != nil {
		return err
	}
	if srv.Username != "" {
		if !c.SupportsAuth(sasl.Plain) {
			return errors.New("the server does not offer AUTH PLAIN")
		}
		if err := c.Auth(sasl.NewPlainClient("", srv.Username, srv.Password)); err != nil {
			return fmt.Errorf("AUTH: %w", err)
		}
	}
	if err := c.SendMail(env.from, []string{env.to}, bytes.NewReader(data)); err != nil {
		return err
	}
	return c.Quit()
}
