package iotbridge

import "time"

// EventType names what happened to a device.
type EventType string

// Device events, as Config.OnEvent receives them.
const (
	// EventConnected fires when a device's first live MQTT connection is
	// established (after authentication).
	EventConnected EventType = "device.connected"
	// EventDisconnected fires when a device's last live connection ends.
	EventDisconnected EventType = "device.disconnected"
	// EventLastWill fires when the broker sends a device connection's
	// last will (it ended without a DISCONNECT).
	EventLastWill EventType = "device.lastWill"
	// EventShadow fires after a shadow update or delete is stored.
	EventShadow EventType = "device.shadow"
	// EventCommand fires after a command's status changes (queued,
	// delivered, succeeded, failed, expired).
	EventCommand EventType = "device.command"
	// EventTelemetryDropped fires when a telemetry message is refused
	// (Reason says why: DropTooLarge, DropNotJSON, DropNotObject,
	// DropStream); nothing of it is stored.
	EventTelemetryDropped EventType = "device.telemetryDropped"
)

// Event is one device event. Events fire after the change they report
// is stored; they cannot abort it.
type Event struct {
	Type     EventType `json:"type"`
	Env      Env       `json:"-"`
	DeviceID string    `json:"device"`
	// Shadow names the shadow of an EventShadow ("" for the classic one).
	Shadow string `json:"shadow,omitempty"`
	// Document is the shadow after the change (EventShadow; a deleted
	// shadow has only its version).
	Document *Document `json:"document,omitempty"`
	// Deleted tells a shadow delete from an update.
	Deleted bool `json:"deleted,omitempty"`
	// Command is the command after its change (EventCommand).
	Command *Command `json:"command,omitempty"`
	// Stream is the telemetry stream of an EventTelemetryDropped.
	Stream string `json:"stream,omitempty"`
	// Reason is why a telemetry message was dropped.
	Reason string `json:"reason,omitempty"`
	// ClientID is the MQTT connection's client id (connection events).
	ClientID string `json:"clientId,omitempty"`
	// ByDevice tells what the device did over MQTT (connections, shadow
	// requests, command replies) from what the API or the bridge did:
	// the API audits its own requests, the wiring audits these.
	ByDevice bool `json:"byDevice,omitempty"`
	// Topic is the MQTT topic of an event ByDevice with one.
	Topic string    `json:"topic,omitempty"`
	Time  time.Time `json:"time"`
}

// EventTopic is the event-bus collection name a device's events are
// published under; it cannot collide with a client collection (they
// cannot contain '/' or start with '$').
func EventTopic(deviceID string) string { return "$devices/" + deviceID }
