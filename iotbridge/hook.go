package iotbridge

import (
	"bytes"
	"context"
	"errors"
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/skybridgehq/skybridge/store"
)

// Hook is the bridge's mochi-mqtt hook: device authentication, the topic
// policy, shadow requests, command replies and connection events. Add it
// to the broker (Service.Hook) before the broker starts; it denies
// whatever it does not allow, so no other auth hook may be added.
//
// In the order mochi calls them:
//   - OnConnectAuthenticate: username = device id, password = its secret,
//     client id = the device id or "<id>:<anything>"; disabled devices are
//     refused. Without credentials only with Config.Anonymous.
//   - OnACLCheck: a device publishes and subscribes only under
//     $aws/things/<id>/ and skybridge/devices/<id>/; anonymous clients
//     only outside $aws/ and skybridge/.
//   - OnSessionEstablished / OnDisconnect: online count, connection
//     events; OnWillSent: the last-will event.
//   - OnSubscribed: a subscription covering a shadow's /update/delta gets
//     the pending delta, one covering the commands topic the queued
//     commands.
//   - OnPublish: shadow get/update/delete requests are answered on their
//     /accepted and /rejected topics (the request still reaches its
//     subscribers); command replies update the command.
type Hook struct {
	mqtt.HookBase
	s *Service
}

var _ mqtt.Hook = (*Hook)(nil)

// Hook returns the broker hook of s.
func (s *Service) Hook() *Hook { return &Hook{s: s} }

// ID names the hook.
func (h *Hook) ID() string { return "skybridge-devices" }

// Provides lists the hook methods the hook implements.
func (h *Hook) Provides(b byte) bool {
	return bytes.Contains([]byte{
		mqtt.OnConnectAuthenticate,
		mqtt.OnACLCheck,
		mqtt.OnSessionEstablished,
		mqtt.OnDisconnect,
		mqtt.OnWillSent,
		mqtt.OnSubscribed,
		mqtt.OnPublish,
	}, []byte{b})
}

// deviceOfClient is the device a connection authenticated as ("" for an
// anonymous client): a client with a username passed
// OnConnectAuthenticate as that device.
func deviceOfClient(cl *mqtt.Client) string {
	if cl == nil || cl.Net.Inline {
		return ""
	}
	return string(cl.Properties.Username)
}

// OnConnectAuthenticate authenticates a device by its client
// certificate when it sent one over TLS (the username and password are
// then ignored: AWS IoT SDKs send a metrics string as the username),
// else by its device id and secret.
func (h *Hook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	if chain := peerCertificates(cl); len(chain) > 0 {
		ctx, cancel := h.s.hookContext()
		defer cancel()
		id, err := h.s.VerifyClientCert(ctx, chain)
		if err != nil {
			h.s.log.Info("device certificate refused at CONNECT", "err", err)
			return false
		}
		if cl.ID != id && !strings.HasPrefix(cl.ID, id+":") {
			return false
		}
		// The device policy reads the device from the username.
		cl.Properties.Username = []byte(id)
		return true
	}
	user := string(pk.Connect.Username)
	if user == "" && !pk.Connect.PasswordFlag {
		return h.s.cfg.Anonymous
	}
	if !ValidDeviceID(user) || (cl.ID != user && !strings.HasPrefix(cl.ID, user+":")) {
		return false
	}
	ctx, cancel := h.s.hookContext()
	defer cancel()
	ok, err := h.s.authenticate(ctx, user, string(pk.Connect.Password))
	if err != nil {
		h.s.log.Warn("device authentication failed on an error", "device", user, "err", err)
	}
	return ok
}

// authenticate checks a device's secret; disabled and unknown devices fail.
func (s *Service) authenticate(ctx context.Context, id, secret string) (bool, error) {
	for attempt := range 2 {
		env, err := s.locate(ctx, id)
		if errors.Is(err, ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		db, err := s.envDB(ctx, env)
		if err != nil {
			return false, err
		}
		d, err := db.Collection(collDevices).Get(ctx, id)
		if errors.Is(err, store.ErrNotFound) && attempt == 0 {
			// The cached index entry may be stale (the device moved).
			s.forget(id)
			continue
		}
		if err != nil {
			return false, nil
		}
		if disabled, _ := d["disabled"].(bool); disabled {
			return false, nil
		}
		return s.secretMatches(id, secret, str(d["secretHash"])), nil
	}
	return false, nil
}

// OnACLCheck applies the topic policy to a publish (write) or a
// subscription filter, and to deliveries to subscribers.
func (h *Hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if dev := deviceOfClient(cl); dev != "" {
		return deviceMayUse(dev, topic)
	}
	return h.s.cfg.Anonymous && anonymousMayUse(topic)
}

// OnSessionEstablished counts a device connection; the first one makes
// the device online.
func (h *Hook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	dev := deviceOfClient(cl)
	if dev == "" {
		return
	}
	h.s.connMu.Lock()
	h.s.conns[dev]++
	first := h.s.conns[dev] == 1
	h.s.connMu.Unlock()
	h.s.connectionChanged(dev, cl.ID, first, true)
}

// OnDisconnect counts a device connection down; the last one makes the
// device offline.
func (h *Hook) OnDisconnect(cl *mqtt.Client, _ error, _ bool) {
	dev := deviceOfClient(cl)
	if dev == "" {
		return
	}
	h.s.connMu.Lock()
	last := false
	if n := h.s.conns[dev]; n > 0 {
		if n == 1 {
			delete(h.s.conns, dev)
			last = true
		} else {
			h.s.conns[dev] = n - 1
		}
	}
	h.s.connMu.Unlock()
	h.s.connectionChanged(dev, cl.ID, last, false)
}

// connectionChanged stores the device's last connect or disconnect time
// and, when it went online or offline (edge), emits the event.
func (s *Service) connectionChanged(dev, clientID string, edge, connected bool) {
	at := s.now()
	s.goBackground(func(ctx context.Context) {
		env, err := s.locate(ctx, dev)
		if err != nil {
			return
		}
		field := "lastDisconnectedAt"
		if connected {
			field = "lastConnectedAt"
		}
		if db, err := s.envDB(ctx, env); err == nil {
			_, err := db.Collection(collDevices).Update(ctx, dev, 0, store.Update{Set: map[string]any{field: fmtTime(at)}})
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				s.log.Warn("record device connection", "device", dev, "err", err)
			}
		}
		if edge {
			t := EventDisconnected
			if connected {
				t = EventConnected
			}
			s.emit(ctx, Event{Type: t, Env: env, DeviceID: dev, ClientID: clientID, Time: at, ByDevice: true})
		}
	})
}

// OnWillSent reports a device connection's last will.
func (h *Hook) OnWillSent(cl *mqtt.Client, _ packets.Packet) {
	dev := deviceOfClient(cl)
	if dev == "" {
		return
	}
	s := h.s
	at := s.now()
	s.goBackground(func(ctx context.Context) {
		if env, err := s.locate(ctx, dev); err == nil {
			s.emit(ctx, Event{Type: EventLastWill, Env: env, DeviceID: dev, ClientID: cl.ID, Time: at, ByDevice: true})
		}
	})
}

// OnSubscribed sends a new subscriber what it would otherwise have
// missed: the pending shadow deltas and the queued commands its filters
// cover.
func (h *Hook) OnSubscribed(cl *mqtt.Client, pk packets.Packet, codes []byte) {
	dev := deviceOfClient(cl)
	if dev == "" {
		return
	}
	var deltas, commands bool
	for i, f := range pk.Filters {
		if i >= len(codes) || codes[i] >= 0x80 {
			continue
		}
		commands = commands || filterMatches(f.Filter, commandsTopic(dev))
		deltas = deltas || coversDelta(f.Filter, dev)
	}
	if !deltas && !commands {
		return
	}
	filters := make([]string, 0, len(pk.Filters))
	for _, f := range pk.Filters {
		filters = append(filters, f.Filter)
	}
	s := h.s
	// After the SUBACK: the hook runs before mochi writes it.
	s.goBackground(func(ctx context.Context) {
		env, err := s.locate(ctx, dev)
		if err != nil {
			return
		}
		if deltas {
			s.sendPendingDeltas(ctx, env, dev, filters)
		}
		if commands {
			s.deliverQueued(ctx, env, dev)
		}
	})
}

// coversDelta reports whether filter may match a delta topic of device
// dev (classic or named).
func coversDelta(filter, dev string) bool {
	return filterMatches(filter, deltaTopic(dev, "")) ||
		filterMatches(filter, deltaTopic(dev, "x")) ||
		strings.HasPrefix(stripShared(filter), shadowBase(dev, "")+"/name/")
}

// sendPendingDeltas publishes the delta of each shadow of dev that has
// one and whose delta topic a filter matches.
func (s *Service) sendPendingDeltas(ctx context.Context, env Env, dev string, filters []string) {
	db, err := s.envDB(ctx, env)
	if err != nil {
		return
	}
	page, err := db.Collection(collShadows).Find(ctx, store.Query{
		Filter: store.And{Filters: []store.Filter{
			store.Compare{Path: "device", Op: store.OpEq, Value: dev},
			store.Compare{Path: "deleted", Op: store.OpEq, Value: false},
		}},
		Limit: store.MaxLimit,
	})
	if err != nil {
		s.log.Warn("read shadows for pending deltas", "device", dev, "err", err)
		return
	}
	for _, d := range page.Docs {
		name := str(d["name"])
		topic := deltaTopic(dev, name)
		match := false
		for _, f := range filters {
			match = match || filterMatches(f, topic)
		}
		if !match {
			continue
		}
		sh, err := readShadow(ctx, db, dev, name)
		if err != nil || !sh.exists {
			continue
		}
		if dm := deltaMessage(sh.doc, nil); dm != nil {
			s.publish(topic, marshal(dm), 1)
		}
	}
}

// OnPublish hands what a device publishes under its own topics to
// HandleDeviceMessage (shadow requests, command replies, telemetry). The
// packet passes on unchanged.
func (h *Hook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	// Most publishes are a device's own messages to its apps: they cost
	// two prefix checks, no string and no context.
	if cl == nil || cl.Net.Inline || !handledTopic(pk.TopicName) {
		return pk, nil
	}
	if dev := topicDevice(pk.TopicName); dev == "" || dev != string(cl.Properties.Username) {
		return pk, nil
	}
	ctx, cancel := h.s.hookContext()
	defer cancel()
	h.s.HandleDeviceMessage(ctx, pk.TopicName, pk.Payload)
	return pk, nil
}
