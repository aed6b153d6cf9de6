package iotbridge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/autopaho/queue/memory"
	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/mochi-mqtt/server/v2"
)

// DefaultExternalGroup is the shared subscription group of the nodes of
// one Skybridge cluster on an external broker.
const DefaultExternalGroup = "skybridge"

// ExternalConfig tunes External.
type ExternalConfig struct {
	// URL is the broker's address: mqtt://[user:password@]host:port (or
	// mqtts://, ws://, wss://). The user is the Skybridge service account:
	// it must be allowed to subscribe to and publish on every device's
	// $aws/things/ and skybridge/devices/ topics. Required.
	URL string
	// ClientID is the node's MQTT client id. Default: "skybridge-" + the
	// host name + a random suffix (unique per node, as brokers require).
	ClientID string
	// Group is the shared subscription group every node of a cluster
	// joins, so that each device message reaches one node. Default:
	// "skybridge".
	Group string
	// HandleTimeout bounds the handling of one received message.
	// Default: 10s.
	HandleTimeout time.Duration
	// ShadowLeaseTTL is how long the lease on the shadow request topics
	// lasts unless renewed (a third of it apart): how long shadow
	// requests go unanswered after its holder dies. Default: 15s.
	ShadowLeaseTTL time.Duration
	// Logger receives connection changes. Default: slog.Default().
	Logger *slog.Logger
}

var groupRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (c ExternalConfig) withDefaults() ExternalConfig {
	if c.ClientID == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:])
		c.ClientID = fmt.Sprintf("skybridge-%s-%s", host, hex.EncodeToString(b[:]))
		if len(c.ClientID) > 64 {
			c.ClientID = c.ClientID[len(c.ClientID)-64:]
		}
	}
	if c.Group == "" {
		c.Group = DefaultExternalGroup
	}
	if c.HandleTimeout <= 0 {
		c.HandleTimeout = DefaultHookTimeout
	}
	if c.ShadowLeaseTTL <= 0 {
		c.ShadowLeaseTTL = DefaultShadowTTL
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// ParseExternalURL checks an external broker URL (SKYBRIDGE_MQTT_EXTERNAL)
// and splits off its credentials.
func ParseExternalURL(raw string) (u *url.URL, user string, password []byte, err error) {
	u, err = url.Parse(raw)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return nil, "", nil, errors.New("must be a URL mqtt://[user:password@]host:port")
	}
	switch u.Scheme {
	case "mqtt", "mqtts", "tcp", "ssl", "tls", "ws", "wss":
	default:
		return nil, "", nil, errors.New("scheme must be mqtt, mqtts, ws or wss")
	}
	if u.Port() == "" {
		return nil, "", nil, errors.New("must name a port")
	}
	if u.User != nil {
		user = u.User.Username()
		if p, ok := u.User.Password(); ok {
			password = []byte(p)
		}
	}
	clean := *u
	clean.User = nil
	return &clean, user, password, nil
}

// ExternalFilters are the shared subscriptions every node holds on the
// external broker: the device-originated topics under skybridge/devices/
// the bridge handles (command replies, telemetry). A "/#" filter also
// matches its parent, so .../telemetry needs no filter of its own. The
// shadow requests, under $aws/things/, are ExternalFiltersExclusive.
func ExternalFilters(group string) []string {
	p := "$share/" + group + "/"
	return []string{
		p + devicesPrefix + "+/commands/+/reply",
		p + devicesPrefix + "+/telemetry/#",
	}
}

// ShadowLeaser holds the lease on ExternalFiltersExclusive; Service
// implements it over the store.
type ShadowLeaser interface {
	ClaimShadowLease(ctx context.Context, holder string, ttl time.Duration) (bool, error)
	ReleaseShadowLease(ctx context.Context, holder string) error
}

// External is the bridge's transport in cluster mode: an MQTT 5 client
// (eclipse/paho.golang autopaho, reconnecting) of an external broker
// cluster. It joins the shared subscriptions of ExternalFilters — and,
// while it holds the shadow lease, subscribes to ExternalFiltersExclusive
// — hands each message to the handler Start got, and publishes the
// bridge's answers, deltas and commands through an in-memory queue (a
// publish never waits for the broker, so handlers never block on it).
//
// What the embedded broker's hook did and an external broker must do
// instead — device authentication, the topic policy, dropping a disabled
// device's connections — is described in decision 0014.
type External struct {
	cfg      ExternalConfig
	url      *url.URL
	user     string
	password []byte

	mu     sync.Mutex
	cm     *autopaho.ConnectionManager
	cancel context.CancelFunc
	// leader: this node holds the shadow lease and subscribes to the
	// exclusive filters.
	leader bool
	leaser ShadowLeaser
	log    *slog.Logger
	// stopLease stops the lease loop; leaseDone is closed when it ended.
	stopLease chan struct{}
	leaseDone chan struct{}
}

var _ Broker = (*External)(nil)

// NewExternal checks cfg; it connects nothing until Start.
func NewExternal(cfg ExternalConfig) (*External, error) {
	cfg = cfg.withDefaults()
	u, user, pw, err := ParseExternalURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("iotbridge: external broker URL: %w", err)
	}
	if !groupRe.MatchString(cfg.Group) {
		return nil, errors.New("iotbridge: external broker: the group must be 1 to 64 letters, digits, '_' or '-'")
	}
	return &External{cfg: cfg, url: u, user: user, password: pw}, nil
}

// Start claims the shadow lease through leaser, connects to the broker,
// subscribes (again after every reconnect) and hands every message
// received to handle, one at a time. It returns once the first
// connection is up and subscribed, or ctx ends; after that the client
// keeps reconnecting, and renewing or claiming the lease, until Shutdown.
func (e *External) Start(ctx context.Context, handle func(ctx context.Context, topic string, payload []byte), leaser ShadowLeaser) error {
	e.log = e.cfg.Logger.With("component", "mqtt-external", "broker", e.url.Host)
	e.leaser = leaser
	e.leader = e.claim(ctx)
	runCtx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	var readyOnce sync.Once
	cc := autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{e.url},
		KeepAlive:                     30,
		CleanStartOnInitialConnection: true,
		ConnectUsername:               e.user,
		ConnectPassword:               e.password,
		ReconnectBackoff:              autopaho.NewExponentialBackoff(100*time.Millisecond, 10*time.Second, time.Second, 2),
		ConnectTimeout:                10 * time.Second,
		Queue:                         memory.New(),
		OnConnectionUp: func(cm *autopaho.ConnectionManager, _ *paho.Connack) {
			go func() { // must not block the connection manager
				filters := ExternalFilters(e.cfg.Group)
				e.mu.Lock()
				if e.leader {
					filters = append(filters, ExternalFiltersExclusive()...)
				}
				e.mu.Unlock()
				if err := e.subscribe(runCtx, cm, filters); err != nil {
					e.log.Error("subscribe to the device topics on the external broker", "err", err)
					return
				}
				e.log.Info("connected to the external MQTT broker", "clientId", e.cfg.ClientID)
				readyOnce.Do(func() { close(ready) })
			}()
		},
		OnConnectError: func(err error) { e.log.Warn("connect to the external MQTT broker", "err", err) },
		ClientConfig: paho.ClientConfig{
			ClientID: e.cfg.ClientID,
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
				hctx, hcancel := context.WithTimeout(runCtx, e.cfg.HandleTimeout)
				defer hcancel()
				handle(hctx, pr.Packet.Topic, pr.Packet.Payload)
				return true, nil
			}},
			OnClientError: func(err error) { e.log.Warn("external MQTT broker connection", "err", err) },
		},
	}
	cm, err := autopaho.NewConnection(runCtx, cc)
	if err != nil {
		cancel()
		return fmt.Errorf("iotbridge: external broker: %w", err)
	}
	e.mu.Lock()
	e.cm, e.cancel = cm, cancel
	e.stopLease, e.leaseDone = make(chan struct{}), make(chan struct{})
	e.mu.Unlock()
	go e.leaseLoop(runCtx)
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("iotbridge: external broker %s not reachable or refused the subscriptions: %w", e.url.Host, ctx.Err())
	}
}

// subscribe subscribes to filters at QoS 1; a refused filter is an error.
func (e *External) subscribe(ctx context.Context, cm *autopaho.ConnectionManager, filters []string) error {
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	sub := &paho.Subscribe{}
	for _, f := range filters {
		sub.Subscriptions = append(sub.Subscriptions, paho.SubscribeOptions{Topic: f, QoS: 1})
	}
	ack, err := cm.Subscribe(sctx, sub)
	if err != nil {
		return err
	}
	for i, code := range ack.Reasons {
		if code >= 0x80 && i < len(filters) {
			return fmt.Errorf("subscription %s refused with reason %#x", filters[i], code)
		}
	}
	return nil
}

// claim takes or renews the shadow lease; an error counts as not held.
func (e *External) claim(ctx context.Context) bool {
	if e.leaser == nil {
		return false
	}
	cctx, cancel := context.WithTimeout(ctx, e.cfg.ShadowLeaseTTL/shadowLeaseRenews)
	defer cancel()
	ok, err := e.leaser.ClaimShadowLease(cctx, e.cfg.ClientID, e.cfg.ShadowLeaseTTL)
	if err != nil {
		e.log.Warn("claim the shadow lease", "err", err)
	}
	return ok && err == nil
}

// leaseLoop renews or claims the shadow lease a few times per TTL and
// subscribes to or unsubscribes from the shadow requests when it is won
// or lost.
func (e *External) leaseLoop(ctx context.Context) {
	defer close(e.leaseDone)
	t := time.NewTicker(e.cfg.ShadowLeaseTTL / shadowLeaseRenews)
	defer t.Stop()
	for {
		select {
		case <-e.stopLease:
			return
		case <-t.C:
		}
		held := e.claim(ctx)
		e.mu.Lock()
		changed := held != e.leader
		e.leader = held
		cm := e.cm
		e.mu.Unlock()
		if !changed || cm == nil {
			continue
		}
		var err error
		if held {
			e.log.Info("took over the shadow requests")
			err = e.subscribe(ctx, cm, ExternalFiltersExclusive())
		} else {
			e.log.Info("lost the shadow lease: another node answers shadow requests")
			uctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, err = cm.Unsubscribe(uctx, &paho.Unsubscribe{Topics: ExternalFiltersExclusive()})
			cancel()
		}
		if err != nil {
			// The next connection subscribes as the lease says.
			e.log.Warn("follow the shadow lease", "held", held, "err", err)
		}
	}
}

func (e *External) manager() *autopaho.ConnectionManager {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cm
}

// Publish queues a message for the broker; it does not wait for it.
func (e *External) Publish(topic string, payload []byte, retain bool, qos byte) error {
	cm := e.manager()
	if cm == nil {
		return errors.New("iotbridge: external broker not started")
	}
	return cm.PublishViaQueue(context.Background(), &autopaho.QueuePublish{Publish: &paho.Publish{Topic: topic, Payload: payload, Retain: retain, QoS: qos}})
}

// Disconnect cannot drop a device's connections on an external broker:
// the broker's own credential store must refuse a disabled or deleted
// device (decision 0014). It logs what it could not do.
func (e *External) Disconnect(clientIDPrefix string) {
	e.cfg.Logger.Info("cluster mode: the external broker must drop the device's connections itself", "device", clientIDPrefix)
}

// Server is nil: the bridge cannot see who subscribes on an external
// broker.
func (e *External) Server() *mqtt.Server { return nil }

// Ping reports whether the connection is up (for /readyz).
func (e *External) Ping(ctx context.Context) error {
	cm := e.manager()
	if cm == nil {
		return errors.New("iotbridge: external broker not started")
	}
	return cm.AwaitConnection(ctx)
}

// Shutdown releases the shadow lease, disconnects from the broker and
// stops reconnecting; queued publishes not sent by then are lost.
func (e *External) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	cm, cancel := e.cm, e.cancel
	e.cm = nil // publishes from now on fail; a second Shutdown does nothing
	e.mu.Unlock()
	if cm == nil {
		return nil
	}
	close(e.stopLease)
	<-e.leaseDone
	if e.leaser != nil {
		if err := e.leaser.ReleaseShadowLease(ctx, e.cfg.ClientID); err != nil {
			e.log.Warn("release the shadow lease", "err", err)
		}
	}
	err := cm.Disconnect(ctx)
	cancel()
	return err
}

// Addr is the broker's host:port.
func (e *External) Addr() string { return e.url.Host }
