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

// ExternalFilters are the shared subscriptions a node holds on the
// external broker: the device-originated topics the bridge handles
// (shadow requests, command replies, telemetry). A "/#" filter also
// matches its parent, so .../telemetry needs no filter of its own.
func ExternalFilters(group string) []string {
	p := "$share/" + group + "/"
	return []string{
		p + awsThingsPrefix + "+/shadow/+",
		p + awsThingsPrefix + "+/shadow/name/+/+",
		p + devicesPrefix + "+/commands/+/reply",
		p + devicesPrefix + "+/telemetry/#",
	}
}

// External is the bridge's transport in cluster mode: an MQTT 5 client
// (eclipse/paho.golang autopaho, reconnecting) of an external broker
// cluster. It joins the shared subscriptions of ExternalFilters, hands
// each message to the handler Start got, and publishes the bridge's
// answers, deltas and commands through an in-memory queue (a publish
// never waits for the broker, so handlers never block on it).
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

// Start connects to the broker, subscribes (again after every reconnect)
// and hands every message received to handle, one at a time. It returns
// once the first connection is up, or ctx ends; after that the client
// keeps reconnecting until Shutdown.
func (e *External) Start(ctx context.Context, handle func(ctx context.Context, topic string, payload []byte)) error {
	log := e.cfg.Logger.With("component", "mqtt-external", "broker", e.url.Host)
	runCtx, cancel := context.WithCancel(context.Background())
	filters := ExternalFilters(e.cfg.Group)
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
				sctx, scancel := context.WithTimeout(runCtx, 10*time.Second)
				defer scancel()
				sub := &paho.Subscribe{}
				for _, f := range filters {
					sub.Subscriptions = append(sub.Subscriptions, paho.SubscribeOptions{Topic: f, QoS: 1})
				}
				ack, err := cm.Subscribe(sctx, sub)
				if err == nil && ack != nil {
					for i, code := range ack.Reasons {
						if code >= 0x80 && i < len(filters) {
							err = fmt.Errorf("subscription %s refused with reason %#x", filters[i], code)
						}
					}
				}
				if err != nil {
					log.Error("subscribe to the device topics on the external broker", "err", err)
					return
				}
				log.Info("connected to the external MQTT broker", "clientId", e.cfg.ClientID)
			}()
		},
		OnConnectError: func(err error) { log.Warn("connect to the external MQTT broker", "err", err) },
		ClientConfig: paho.ClientConfig{
			ClientID: e.cfg.ClientID,
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
				hctx, hcancel := context.WithTimeout(runCtx, e.cfg.HandleTimeout)
				defer hcancel()
				handle(hctx, pr.Packet.Topic, pr.Packet.Payload)
				return true, nil
			}},
			OnClientError: func(err error) { log.Warn("external MQTT broker connection", "err", err) },
		},
	}
	cm, err := autopaho.NewConnection(runCtx, cc)
	if err != nil {
		cancel()
		return fmt.Errorf("iotbridge: external broker: %w", err)
	}
	e.mu.Lock()
	e.cm, e.cancel = cm, cancel
	e.mu.Unlock()
	if err := cm.AwaitConnection(ctx); err != nil {
		return fmt.Errorf("iotbridge: external broker %s not reachable: %w", e.url.Host, err)
	}
	return nil
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

// Shutdown disconnects from the broker and stops reconnecting; queued
// publishes not sent by then are lost.
func (e *External) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	cm, cancel := e.cm, e.cancel
	e.mu.Unlock()
	if cm == nil {
		return nil
	}
	err := cm.Disconnect(ctx)
	cancel()
	return err
}

// Addr is the broker's host:port.
func (e *External) Addr() string { return e.url.Host }
