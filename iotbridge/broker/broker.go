// Package broker is Skybridge's embedded MQTT broker: a thin owner of a
// mochi-mqtt/server/v2 instance that fixes its options so the broker's acks
// follow MQTT 3.1.1 and 5.0 exactly, gives it the New/Start/Addr/Shutdown
// lifecycle of the rest of the node, and lets the iotbridge plug behaviour in
// as mochi hooks (device policy, shadows, commands, telemetry).
//
// The broker has no policy of its own: without an auth hook mochi refuses
// every connection, so whoever embeds the broker must add one (iotbridge adds
// the device policy). Options set on mochi, and why:
//
//   - Capabilities.Compatibilities are all left at their spec-conforming value:
//     ObscureNotAuthorized off (a refused subscribe gets 0x87 Not authorized,
//     not 0x80), PassiveClientDisconnect off (the server closes the network
//     connection after it sends DISCONNECT, [MQTT-3.14.4-1]),
//     AlwaysReturnResponseInfo off (Response Information only when the client
//     asked for it, [MQTT-3.1.2-28]), RestoreSysInfoOnRestart off (no persistent
//     $SYS counters). NoInheritedPropertiesOnAck is on: without it mochi copies the
//     PUBLISH's user properties into the PUBACK/PUBREC, which the spec does not
//     ask for and which makes acks grow with each publish.
//   - MaximumSessionExpiryInterval caps what a client may ask for
//     (Config.MaxSessionExpiry); it is also the lifetime of an MQTT 3.1.1
//     clean-session=0 session after its client disconnects.
//   - MaximumInflight bounds the QoS 1/2 messages kept per session, which is
//     the offline queue of a persistent session (Config.MaxOfflineQueue).
//   - MaximumMessageExpiryInterval (Config.MaxMessageExpiry) is the longest a
//     message waits in a queue; mochi also drops retained messages older than
//     it, so it is long by default (see the README's known exceptions).
//   - ReceiveMaximum, TopicAliasMaximum and MaximumPacketSize are the limits
//     the server accepts from a client; mochi sends only ReceiveMaximum in
//     CONNACK, so the broker's own conformance hook (conformance.go)
//     advertises the other two as MQTT 5 requires. The same hook corrects
//     the other departures from the specs no option fixes.
//   - MaximumClientWritesPending bounds the outbound queue of one connection;
//     a slow consumer loses QoS 0 messages beyond it rather than growing the
//     node's memory without bound. mochi allocates the queue in full for
//     every connection (8 bytes a slot), so it is also the largest fixed
//     cost of an idle device: 1024 slots are 8 KiB where mochi's 8192 were
//     64 KiB (BenchmarkMQTTIdleDevices).
//   - $SYS topics: mochi republishes about twenty retained $SYS/broker/...
//     topics every SysTopicResendInterval. Nothing in Skybridge reads them
//     (metrics come from Server().Info) and devices may not subscribe to
//     them, so the interval is a day: they are published once at start and
//     then stay out of the way of the message path.
//   - The inline client is on: Publish is how the node (shadows, commands)
//     publishes to devices.
//   - Left at mochi's defaults: MaximumClients (unbounded; the device policy
//     decides who connects), MaximumQos 2, retained, wildcard, shared and
//     subscription-identifier subscriptions available, MinimumProtocolVersion
//     3 (MQTT 3.1 clients are served too). mochi v2.7.9 has no in-flight TTL
//     option; queued messages live until MaxMessageExpiry.
package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Sentinel errors of the broker.
var (
	// ErrNotStarted is returned by Ping and Publish before Start.
	ErrNotStarted = errors.New("broker: not started")
	// ErrClosed is returned after Shutdown.
	ErrClosed = errors.New("broker: closed")
	// ErrStarted is returned by AddHook and Start once the broker runs.
	ErrStarted = errors.New("broker: already started")
)

// Ids of the broker's listeners inside mochi: plain TCP, TLS (ListenTLS)
// and MQTT over WebSocket (WebSocket).
const (
	listenerID    = "skybridge-tcp"
	tlsListenerID = "skybridge-tls"
	wsListenerID  = "skybridge-ws"
)

// sysTopicInterval is how often mochi republishes $SYS topics (see the
// package doc: effectively once at start).
const sysTopicInterval = 24 * time.Hour

// Config configures the broker. A zero value means "use the default".
type Config struct {
	// Addr is the TCP listen address. Default: ":1883".
	Addr string
	// MaxOfflineQueue is the number of QoS 1 and 2 messages kept per
	// session, in flight or queued while a persistent session's client is
	// offline; messages beyond it are dropped for that session. At most
	// 65535. Default: 1000.
	MaxOfflineQueue int
	// MaxPacketSize is the largest packet, in bytes, the broker accepts
	// (advertised in the MQTT 5 CONNACK; a larger packet ends the
	// connection). Default: 256 KiB.
	MaxPacketSize int
	// ReceiveMaximum is the number of QoS 1 and 2 publishes a client may
	// have unacknowledged towards the broker. Default: 1024.
	ReceiveMaximum int
	// TopicAliasMaximum is the highest topic alias an MQTT 5 client may use
	// towards the broker. Default: 64.
	TopicAliasMaximum int
	// MaxSessionExpiry caps the session expiry interval a client asks for,
	// and is the expiry of MQTT 3.1.1 persistent sessions. Default: 1h.
	MaxSessionExpiry time.Duration
	// MaxMessageExpiry caps how long a queued or retained message lives.
	// Default: 30 days.
	MaxMessageExpiry time.Duration
	// MaxClientWritesPending is the number of packets queued for writing
	// to one connection before QoS 0 messages to it are dropped; the queue
	// is allocated in full per connection. Default: 1024.
	MaxClientWritesPending int
	// Logger receives the broker's logs. Default: slog.Default().
	Logger *slog.Logger
}

// withDefaults returns cfg with every zero field set to its default.
func (cfg Config) withDefaults() Config {
	if cfg.Addr == "" {
		cfg.Addr = ":1883"
	}
	if cfg.MaxOfflineQueue <= 0 {
		cfg.MaxOfflineQueue = 1000
	}
	if cfg.MaxOfflineQueue > 65535 {
		cfg.MaxOfflineQueue = 65535
	}
	if cfg.MaxPacketSize <= 0 {
		cfg.MaxPacketSize = 256 << 10
	}
	if cfg.ReceiveMaximum <= 0 {
		cfg.ReceiveMaximum = 1024
	}
	if cfg.ReceiveMaximum > 65535 {
		cfg.ReceiveMaximum = 65535
	}
	if cfg.TopicAliasMaximum <= 0 {
		cfg.TopicAliasMaximum = 64
	}
	if cfg.TopicAliasMaximum > 65535 {
		cfg.TopicAliasMaximum = 65535
	}
	if cfg.MaxSessionExpiry <= 0 {
		cfg.MaxSessionExpiry = time.Hour
	}
	if cfg.MaxMessageExpiry <= 0 {
		cfg.MaxMessageExpiry = 30 * 24 * time.Hour
	}
	if cfg.MaxClientWritesPending <= 0 {
		cfg.MaxClientWritesPending = 1024
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg
}

// capabilities turns the config into mochi's capabilities.
func (cfg Config) capabilities() *mqtt.Capabilities {
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumInflight = uint16(cfg.MaxOfflineQueue)
	caps.MaximumPacketSize = uint32(cfg.MaxPacketSize)
	caps.ReceiveMaximum = uint16(cfg.ReceiveMaximum)
	caps.TopicAliasMaximum = uint16(cfg.TopicAliasMaximum)
	caps.MaximumSessionExpiryInterval = uint32(min(cfg.MaxSessionExpiry/time.Second, 1<<32-1))
	caps.MaximumMessageExpiryInterval = int64(cfg.MaxMessageExpiry / time.Second)
	caps.MaximumClientWritesPending = int32(cfg.MaxClientWritesPending)
	caps.Compatibilities = mqtt.Compatibilities{
		ObscureNotAuthorized:       false,
		PassiveClientDisconnect:    false,
		AlwaysReturnResponseInfo:   false,
		RestoreSysInfoOnRestart:    false,
		NoInheritedPropertiesOnAck: true,
	}
	return caps
}

// Broker is the embedded MQTT broker. Build it with New, add hooks, Start it,
// and Shutdown it; it listens on one TCP (or TLS) address.
type Broker struct {
	cfg Config
	srv *mqtt.Server
	log *slog.Logger

	mu       sync.Mutex
	started  bool
	closed   bool
	listener *listeners.TCP
	stopOnce sync.Once

	// tlsAddr and tlsConf configure the TLS listener (ListenTLS);
	// tlsListener is it once started.
	tlsAddr     string
	tlsConf     *tls.Config
	tlsListener *listeners.TCP
	// ws feeds WebSocket connections to mochi (WebSocket).
	ws *wsListener
	// persist is the durable state (Persist); nil without.
	persist *persistHook
}

// New builds a broker from cfg. It does not listen until Start.
func New(cfg Config) (*Broker, error) {
	cfg = cfg.withDefaults()
	log := cfg.Logger.With(slog.String("component", "mqtt"))
	srv := mqtt.New(&mqtt.Options{
		Capabilities:           cfg.capabilities(),
		Logger:                 log,
		SysTopicResendInterval: int64(sysTopicInterval / time.Second),
		InlineClient:           true,
	})
	b := &Broker{cfg: cfg, srv: srv, log: log}
	b.ws = newWSListener(wsListenerID, cfg.MaxPacketSize, log)
	if err := srv.AddHook(&conformanceHook{cfg: cfg}, nil); err != nil {
		return nil, fmt.Errorf("broker: add conformance hook: %w", err)
	}
	return b, nil
}

// AddHook attaches a mochi hook (auth, ACL, publish handling) with its
// config. Hooks run in the order they were added; call it before Start.
func (b *Broker) AddHook(h mqtt.Hook, config any) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.started || b.closed {
		return ErrStarted
	}
	if err := b.srv.AddHook(h, config); err != nil {
		return fmt.Errorf("broker: add hook %q: %w", h.ID(), err)
	}
	return nil
}

// Start opens the listener and starts serving; the broker accepts
// connections when it returns.
func (b *Broker) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if b.started {
		return ErrStarted
	}
	l := listeners.NewTCP(listeners.Config{
		Type:    listeners.TypeTCP,
		ID:      listenerID,
		Address: b.cfg.Addr,
	})
	if err := b.srv.AddListener(l); err != nil {
		return fmt.Errorf("broker: listen on %s: %w", b.cfg.Addr, err)
	}
	var tl *listeners.TCP
	if b.tlsConf != nil {
		tl = listeners.NewTCP(listeners.Config{
			Type:      listeners.TypeTCP,
			ID:        tlsListenerID,
			Address:   b.tlsAddr,
			TLSConfig: b.tlsConf,
		})
		if err := b.srv.AddListener(tl); err != nil {
			b.srv.Listeners.CloseAll(func(string) {})
			return fmt.Errorf("broker: listen with TLS on %s: %w", b.tlsAddr, err)
		}
	}
	if err := b.srv.AddListener(b.ws); err != nil {
		b.srv.Listeners.CloseAll(func(string) {})
		return fmt.Errorf("broker: add the WebSocket listener: %w", err)
	}
	if err := b.srv.Serve(); err != nil {
		b.srv.Listeners.CloseAll(func(string) {})
		return fmt.Errorf("broker: serve: %w", err)
	}
	b.ws.ready(b.srv.EstablishConnection)
	b.listener = l
	b.tlsListener = tl
	b.started = true
	return nil
}

// ListenTLS adds a second listener speaking MQTT over TLS on addr
// (":8883" when empty) with tc, which holds the server certificate and,
// for mTLS, how client certificates are asked for and verified. Call it
// before Start.
func (b *Broker) ListenTLS(addr string, tc *tls.Config) error {
	if tc == nil {
		return errors.New("broker: ListenTLS needs a TLS configuration")
	}
	if addr == "" {
		addr = ":8883"
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.started || b.closed {
		return ErrStarted
	}
	b.tlsAddr, b.tlsConf = addr, tc
	return nil
}

// TLSAddr returns the address the TLS listener listens on, or nil
// without one or before Start.
func (b *Broker) TLSAddr() net.Addr {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tlsListener == nil {
		return nil
	}
	addr, err := net.ResolveTCPAddr("tcp", b.tlsListener.Address())
	if err != nil {
		return nil
	}
	return addr
}

// Persist makes the broker's state durable in the bbolt file at path
// (created with its directory when missing): persistent sessions, their
// subscriptions and in-flight QoS 1 and 2 messages, and retained
// messages survive a restart (see persist.go). Call it before Start;
// Shutdown closes the file.
func (b *Broker) Persist(path string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.started || b.closed {
		return ErrStarted
	}
	if b.persist != nil {
		return errors.New("broker: Persist called twice")
	}
	h, err := openPersistence(path)
	if err != nil {
		return err
	}
	if err := b.srv.AddHook(h, nil); err != nil {
		_ = h.close()
		return fmt.Errorf("broker: add the persistence hook: %w", err)
	}
	b.persist = h
	return nil
}

// Addr returns the address the broker listens on, or nil before Start.
func (b *Broker) Addr() net.Addr {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.listener == nil {
		return nil
	}
	addr, err := net.ResolveTCPAddr("tcp", b.listener.Address())
	if err != nil {
		return nil
	}
	return addr
}

// Publish publishes a message from the server itself (mochi's inline
// client) to every matching subscriber, bypassing ACL checks; qos is the
// highest QoS it is delivered with. The topic must be a valid topic name
// outside $SYS. It fails before Start and after Shutdown.
func (b *Broker) Publish(topic string, payload []byte, retain bool, qos byte) error {
	if err := b.running(); err != nil {
		return err
	}
	if qos > 2 {
		return fmt.Errorf("broker: publish %q: qos %d out of range", topic, qos)
	}
	if !ValidTopic(topic) || isSysTopic(topic) {
		return fmt.Errorf("broker: publish: invalid topic name %q", topic)
	}
	if err := b.srv.Publish(topic, payload, retain, qos); err != nil {
		return fmt.Errorf("broker: publish %q: %w", topic, err)
	}
	return nil
}

// Disconnect drops the live connections of a device: every client whose id
// is clientIDPrefix or starts with clientIDPrefix+":". MQTT 5 clients get a
// DISCONNECT with 0x98 Administrative action first. Their sessions are kept.
func (b *Broker) Disconnect(clientIDPrefix string) {
	if clientIDPrefix == "" || b.running() != nil {
		return
	}
	for id, cl := range b.srv.Clients.GetAll() {
		if cl.Net.Inline || cl.Closed() || !OwnsClientID(clientIDPrefix, id) {
			continue
		}
		_ = b.srv.DisconnectClient(cl, packets.ErrAdministrativeAction)
		b.log.Info("mqtt client disconnected by the server", slog.String("client", id))
	}
}

// OwnsClientID reports whether the MQTT client id belongs to the device:
// it is the device id itself or starts with the device id and a colon.
func OwnsClientID(deviceID, clientID string) bool {
	if deviceID == "" {
		return false
	}
	rest, ok := strings.CutPrefix(clientID, deviceID)
	return ok && (rest == "" || rest[0] == ':')
}

// Ping reports whether the broker is serving: started, not shut down, and
// its listener open. It is what /readyz asks.
func (b *Broker) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := b.running(); err != nil {
		return err
	}
	if _, ok := b.srv.Listeners.Get(listenerID); !ok {
		return fmt.Errorf("broker: listener %s: %w", listenerID, ErrClosed)
	}
	return nil
}

// Shutdown stops accepting connections, sends MQTT 5 clients a DISCONNECT
// with 0x8B Server shutting down, closes every connection and waits for the
// connection goroutines until ctx ends. It is safe to call more than once.
func (b *Broker) Shutdown(ctx context.Context) error {
	b.mu.Lock()
	started := b.started
	b.closed = true
	b.mu.Unlock()
	if !started {
		b.closeState()
		return nil
	}
	b.stopOnce.Do(func() { _ = b.srv.Close() })
	done := make(chan struct{})
	go func() {
		b.srv.Listeners.ClientsWg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("broker: shutdown: %w", ctx.Err())
	}
	// Once the connections ended (or the wait gave up), everything they
	// stored is in the state file.
	b.closeState()
	return err
}

// closeState closes the durable state file, if any, once.
func (b *Broker) closeState() {
	b.mu.Lock()
	h := b.persist
	b.persist = nil
	b.mu.Unlock()
	if h == nil {
		return
	}
	if err := h.close(); err != nil {
		b.log.Error("close the broker state file", "err", err)
	}
}

// Server returns the mochi server, for hooks that need it (client lookup,
// info counters). Do not call its Serve or Close.
func (b *Broker) Server() *mqtt.Server {
	return b.srv
}

// running returns nil when the broker serves, else why not.
func (b *Broker) running() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed:
		return ErrClosed
	case !b.started:
		return ErrNotStarted
	}
	return nil
}

// DiscardLogger is a logger that drops everything, for tests and benches
// that do not want the broker's connection logs.
func DiscardLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
