package api

import (
	"context"
	"fmt"
	"strings"

	"github.com/skybridgehq/skybridge/iotbridge"
	"github.com/skybridgehq/skybridge/objectstore"
)

// rtDeviceEvent is a device event sent to a device subscription: type is
// shadow, command, connected, disconnected or lastWill; event is the
// iotbridge.Event (the shadow document, the command ...).
type rtDeviceEvent struct {
	Sub    string             `json:"sub"`
	Type   string             `json:"type"`
	Device string             `json:"device"`
	Event  objectstore.Object `json:"event"`
}

// checkDeviceSubscription checks a {"op":"subscribe","device"} message:
// a device id, and nothing of a collection subscription.
func checkDeviceSubscription(m rtClientMessage) error {
	if !iotbridge.ValidDeviceID(m.Device) {
		return onField("device", fmt.Errorf("%w: %q is not a device id", ErrInvalidInput, m.Device))
	}
	if m.Collection != "" || len(m.Filter) > 0 || m.Scope != "" || m.Since != nil {
		return onField("device", fmt.Errorf("%w: a device subscription takes no collection, filter, scope or since", ErrInvalidInput))
	}
	return nil
}

// subscribeDevice registers a subscription to a device's events, when
// the caller may read the device (the server key, its owner, its _acl).
func (c *rtConn) subscribeDevice(ctx context.Context, m rtClientMessage) error {
	devs := c.a.deps.Devices
	if devs == nil {
		return onField("device", fmt.Errorf("%w: devices are not served here", ErrInvalidInput))
	}
	env := iotbridge.Env{DB: c.id.env.DB}
	caller := iotbridge.Caller{Server: c.id.p.Server, UserID: c.id.p.UserID, Roles: c.id.p.Roles}
	if _, err := devs.Get(ctx, env, caller, m.Device); err != nil {
		return onField("device", err)
	}
	s := &rtSub{id: m.ID, device: m.Device}
	s.bus = c.a.deps.Events.Subscribe(c.id.env.DB, iotbridge.EventTopic(m.Device), func(ch objectstore.Change) {
		select {
		case c.queue <- rtQueued{sub: s, ch: ch}:
		default:
			c.slowOnce.Do(func() { close(c.slow) })
		}
	})
	c.subs[m.ID] = s
	if !c.reply(ctx, rtReply{Op: rtOpSubscribed, ID: m.ID}) {
		return errConnDone
	}
	return nil
}

// deliverDevice passes a device event on.
func (c *rtConn) deliverDevice(ctx context.Context, q rtQueued) bool {
	if c.subs[q.sub.id] != q.sub {
		return true
	}
	t := strings.TrimPrefix(string(q.ch.Type), "device.")
	return c.write(ctx, rtDeviceEvent{Sub: q.sub.id, Type: t, Device: q.sub.device, Event: q.ch.Object})
}
