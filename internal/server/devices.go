package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/skybridgehq/skybridge/iotbridge"
	"github.com/skybridgehq/skybridge/iotbridge/broker"
	"github.com/skybridgehq/skybridge/objectstore"
)

// deviceSecretPurpose derives the key device secrets are stored under.
const deviceSecretPurpose = "iotbridge-device-secret"

// openDevices builds the embedded broker (not listening yet) and the IoT
// bridge, whose hook holds the device policy, and puts device events on
// the event bus: realtime subscribers of a device, triggers, audit.
func (n *Node) openDevices(ctx context.Context, cfg Config, log *slog.Logger) error {
	br, err := broker.New(broker.Config{Addr: cfg.MQTTAddr, Logger: log})
	if err != nil {
		return fmt.Errorf("build the MQTT broker: %w", err)
	}
	n.Broker = br
	n.Devices, err = iotbridge.NewService(ctx, n.Store, br, iotbridge.Config{
		SecretKey:      n.Keys.Derive(deviceSecretPurpose),
		Anonymous:      cfg.MQTTAnonymous,
		ShadowMaxBytes: cfg.ShadowMaxBytes,
		Logger:         log,
		OnEvent: func(ctx context.Context, ev iotbridge.Event) {
			n.Events.Publish(ctx, DeviceChange(ev))
		},
	})
	if err != nil {
		return err
	}
	if err := br.AddHook(n.Devices.Hook(), nil); err != nil {
		return fmt.Errorf("add the device policy to the MQTT broker: %w", err)
	}
	if cfg.MQTTAnonymous {
		log.Warn("MQTT clients without credentials are allowed outside $aws/ and skybridge/ (SKYBRIDGE_MQTT_ANONYMOUS)")
	}
	return nil
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
