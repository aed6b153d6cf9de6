package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skybridgehq/skybridge/api"
	"github.com/skybridgehq/skybridge/audit"
	"github.com/skybridgehq/skybridge/iotbridge"
	"github.com/skybridgehq/skybridge/iotbridge/broker"
	"github.com/skybridgehq/skybridge/objectstore"
)

// The embedded broker is what the bridge publishes through.
var _ iotbridge.Broker = (*broker.Broker)(nil)

// deviceSecretPurpose derives the key device secrets are stored under.
const deviceSecretPurpose = "iotbridge-device-secret"

// openDevices builds the embedded broker (not listening yet) — or in
// cluster mode the client of the external broker (not connected yet) —
// and the IoT bridge, whose hook holds the device policy, and puts device
// events on the event bus: realtime subscribers of a device, triggers,
// audit.
func (n *Node) openDevices(ctx context.Context, cfg Config, log *slog.Logger, reg prometheus.Registerer) error {
	var transport iotbridge.Broker
	if cfg.MQTTExternal != "" {
		ext, err := iotbridge.NewExternal(iotbridge.ExternalConfig{URL: cfg.MQTTExternal, Logger: log})
		if err != nil {
			return fmt.Errorf("SKYBRIDGE_MQTT_EXTERNAL: %w", err)
		}
		n.External, transport = ext, ext
	} else {
		br, err := broker.New(broker.Config{Addr: cfg.MQTTAddr, Logger: log})
		if err != nil {
			return fmt.Errorf("build the MQTT broker: %w", err)
		}
		n.Broker, transport = br, br
	}
	var err error
	n.Devices, err = iotbridge.NewService(ctx, n.Store, transport, iotbridge.Config{
		SecretKey:              n.Keys.Derive(deviceSecretPurpose),
		Anonymous:              cfg.MQTTAnonymous,
		ShadowMaxBytes:         cfg.ShadowMaxBytes,
		TelemetryMaxBytes:      cfg.TelemetryMaxBytes,
		TelemetryRetentionDays: cfg.TelemetryRetentionDays,
		Logger:                 log,
		OnEvent: func(ctx context.Context, ev iotbridge.Event) {
			n.Events.Publish(ctx, DeviceChange(ev))
			// The API audits its own requests; what devices do over
			// MQTT is audited here, with the device as the actor.
			if ev.ByDevice && n.Audit != nil {
				if err := n.Audit.Record(ctx, DeviceAuditRecord(ev)); err != nil {
					log.Warn("audit a device event", "device", ev.DeviceID, "err", err)
				}
			}
		},
	})
	if err != nil {
		return err
	}
	reg.MustRegister(n.Devices.Collectors()...)
	if n.Broker == nil {
		return nil // cluster mode: the external broker holds the device policy
	}
	if err := n.Broker.AddHook(n.Devices.Hook(), nil); err != nil {
		return fmt.Errorf("add the device policy to the MQTT broker: %w", err)
	}
	if cfg.MQTTAnonymous {
		log.Warn("MQTT clients without credentials are allowed outside $aws/ and skybridge/ (SKYBRIDGE_MQTT_ANONYMOUS)")
	}
	return nil
}

// startMQTT starts the embedded broker, or connects to the external one
// and joins its shared subscriptions.
func (n *Node) startMQTT() error {
	if n.External != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return n.External.Start(ctx, n.Devices.HandleDeviceMessage, n.Devices)
	}
	if err := n.Broker.Start(context.Background()); err != nil {
		return fmt.Errorf("start the MQTT broker on %s (SKYBRIDGE_MQTT_ADDR): %w", n.cfg.MQTTAddr, err)
	}
	return nil
}

// stopMQTT stops the embedded broker (devices are disconnected, the hooks
// stop) or leaves the external one, within the shutdown grace.
func (n *Node) stopMQTT(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.ShutdownGrace)
	defer cancel()
	switch {
	case n.External != nil:
		if err := n.External.Shutdown(ctx); err != nil {
			n.log.Warn("leave the external MQTT broker", "err", err)
		}
	case n.Broker != nil:
		if err := n.Broker.Shutdown(ctx); err != nil {
			n.log.Warn("MQTT connections still open at shutdown", "err", err)
		}
	}
}

// brokerCheck is the readiness check of the MQTT transport.
func (n *Node) brokerCheck() api.Check {
	if n.External != nil {
		return api.Check{Name: "broker", Kind: "external", Required: true, Ping: n.External.Ping}
	}
	return api.Check{Name: "broker", Kind: "embedded", Required: true, Ping: n.Broker.Ping}
}

// DeviceChange is how a device event travels on the event bus: a change
// of the pseudo-collection iotbridge.EventTopic(device) of the device's
// environment database, its type the event type, its object the event.
func DeviceChange(ev iotbridge.Event) objectstore.Change {
	obj := objectstore.Object{}
	if b, err := json.Marshal(ev); err == nil {
		_ = json.Unmarshal(b, &obj)
	}
	return objectstore.Change{DB: ev.Env.DB, Collection: iotbridge.EventTopic(ev.DeviceID), Type: objectstore.ChangeType(ev.Type), Object: obj}
}

// DeviceAuditRecord is the audit record of what a device did over MQTT:
// method "MQTT", the topic (its device id as {id}) or CONNECT /
// DISCONNECT / WILL as the route, the device as the actor.
func DeviceAuditRecord(ev iotbridge.Event) audit.Record {
	rec := audit.Record{
		Time:     ev.Time,
		App:      ev.Env.AppID,
		Env:      ev.Env.Name,
		Actor:    audit.Actor{Kind: audit.ActorDevice, ID: ev.DeviceID},
		Method:   "MQTT",
		Resource: "devices/" + ev.DeviceID,
		Status:   200,
	}
	if ev.Topic != "" {
		rec.Route = strings.Replace(ev.Topic, "/"+ev.DeviceID+"/", "/{id}/", 1)
	}
	switch ev.Type {
	case iotbridge.EventConnected:
		rec.Route, rec.Action = "CONNECT", "device.connect"
	case iotbridge.EventDisconnected:
		rec.Route, rec.Action = "DISCONNECT", "device.disconnect"
	case iotbridge.EventLastWill:
		rec.Route, rec.Action = "WILL", "device.lastWill"
	case iotbridge.EventShadow:
		rec.Resource += "/shadow"
		if ev.Shadow != "" {
			rec.Resource += "/" + ev.Shadow
		}
		rec.Action = "device.shadow.update"
		if ev.Deleted {
			rec.Action = "device.shadow.delete"
		}
	case iotbridge.EventCommand:
		if ev.Command != nil {
			rec.Resource += "/commands/" + ev.Command.ID
		}
		rec.Action = "device.command.reply"
	}
	return rec
}
