package iotbridge

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// Telemetry defaults of Config.
const (
	// DefaultTelemetryMaxBytes bounds one telemetry message's payload.
	DefaultTelemetryMaxBytes = 16 << 10
	// DefaultTelemetryBatch is how many messages one store write carries
	// at most.
	DefaultTelemetryBatch = 500
	// DefaultTelemetryFlushInterval is how long a message waits at most
	// in the buffer before it is written.
	DefaultTelemetryFlushInterval = 100 * time.Millisecond
	// DefaultTelemetryQueue bounds the messages waiting for the store;
	// past it messages are dropped and counted (reason "queue_full").
	DefaultTelemetryQueue = 20000
	// DefaultTelemetryWriteTimeout bounds one batch write.
	DefaultTelemetryWriteTimeout = 30 * time.Second
	// DefaultTelemetryRetentionDays is how many days an environment keeps
	// telemetry unless an admin sets its own.
	DefaultTelemetryRetentionDays = 30
	// MaxTelemetryRetentionDays bounds an environment's retention.
	MaxTelemetryRetentionDays = 3650
)

// Bounds of a device's own "ts": a message's time is the device's ts
// when it lies within TelemetryMaxTSAge before and TelemetryMaxTSAhead
// after the server's receive time, else the receive time.
const (
	TelemetryMaxTSAge   = 24 * time.Hour
	TelemetryMaxTSAhead = time.Minute
)

// Reasons a telemetry message is dropped, the reason label of
// skybridge_iot_telemetry_dropped_total and of EventTelemetryDropped.
const (
	DropTooLarge  = "too_large"      // payload over Config.TelemetryMaxBytes
	DropNotJSON   = "invalid_json"   // payload is not JSON
	DropNotObject = "not_object"     // payload is JSON but not an object
	DropStream    = "invalid_stream" // the topic's stream name is not valid
	DropQueueFull = "queue_full"     // the store could not keep up
	DropStore     = "store_error"    // the batch write failed
	DropUnknown   = "unknown_device" // the device is not registered (any more)
)

// collTelemetry holds an environment's telemetry; collSettings its
// device settings (the telemetry retention).
const (
	collTelemetry = "deviceTelemetry"
	collSettings  = "deviceSettings"
)

// telemetryIndexes serve the query (device, stream, time), the query of
// every stream (device, time) and the retention (time).
var telemetryIndexes = []store.Index{
	{Fields: []string{"device", "stream", "time"}},
	{Fields: []string{"device", "time"}},
	{Fields: []string{"time"}},
}

var streamNameRe = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)

// ValidStreamName reports whether name can name a telemetry stream: 1 to
// 64 letters, digits, '_', '.', ':' or '-'.
func ValidStreamName(name string) bool { return streamNameRe.MatchString(name) }

// telemetryTopic is skybridge/devices/<id>/telemetry[/<stream>].
func telemetryTopic(device, stream string) string {
	if stream == "" {
		return devicesPrefix + device + "/telemetry"
	}
	return devicesPrefix + device + "/telemetry/" + stream
}

// parseTelemetryTopic reads a telemetry topic. match says the topic is
// under skybridge/devices/<id>/telemetry; valid that it names the default
// stream or one valid stream (one level).
func parseTelemetryTopic(topic string) (device, stream string, match, valid bool) {
	rest, ok := strings.CutPrefix(topic, devicesPrefix)
	if !ok {
		return "", "", false, false
	}
	device, rest, ok = strings.Cut(rest, "/")
	if !ok || !ValidDeviceID(device) {
		return "", "", false, false
	}
	rest, ok = strings.CutPrefix(rest, "telemetry")
	switch {
	case !ok:
		return "", "", false, false
	case rest == "":
		return device, "", true, true
	case rest[0] != '/':
		return "", "", false, false
	}
	stream = rest[1:]
	return device, stream, true, ValidStreamName(stream)
}

// ParseTelemetry checks a telemetry payload: a JSON object of at most
// maxBytes. It returns the message's time — the object's "ts" (unix
// seconds, unix milliseconds past 1e12, or an RFC 3339 string) when it
// lies within TelemetryMaxTSAge before and TelemetryMaxTSAhead after
// received, else received — or the drop reason.
func ParseTelemetry(payload []byte, maxBytes int, received time.Time) (time.Time, string) {
	if len(payload) > maxBytes {
		return time.Time{}, DropTooLarge
	}
	trimmed := bytes.TrimLeft(payload, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] != '{' {
		if json.Valid(payload) {
			return time.Time{}, DropNotObject
		}
		return time.Time{}, DropNotJSON
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(payload, &fields); err != nil || fields == nil {
		return time.Time{}, DropNotJSON
	}
	if ts, ok := deviceTime(fields["ts"]); ok &&
		!ts.Before(received.Add(-TelemetryMaxTSAge)) && !ts.After(received.Add(TelemetryMaxTSAhead)) {
		return ts.UTC(), ""
	}
	return received, ""
}

// deviceTime reads a device's ts field.
func deviceTime(raw json.RawMessage) (time.Time, bool) {
	if len(raw) == 0 {
		return time.Time{}, false
	}
	var s string
	if raw[0] == '"' {
		if json.Unmarshal(raw, &s) != nil {
			return time.Time{}, false
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		return t, err == nil
	}
	var f float64
	if json.Unmarshal(raw, &f) != nil || math.IsNaN(f) || math.IsInf(f, 0) || f <= 0 || f > 1e16 {
		return time.Time{}, false
	}
	if f > 1e12 { // milliseconds
		return time.UnixMilli(int64(f)), true
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

// ingestTelemetry checks one telemetry message of device dev and queues
// it for the store; a bad one is counted, reported as an
// EventTelemetryDropped and not stored.
func (s *Service) ingestTelemetry(ctx context.Context, dev, stream string, streamOK bool, payload []byte) {
	received := s.now()
	env, err := s.locate(ctx, dev)
	if err != nil {
		s.telemetryDropped(DropUnknown)
		return
	}
	if !streamOK {
		s.dropTelemetry(ctx, env, dev, stream, DropStream)
		return
	}
	at, reason := ParseTelemetry(payload, s.cfg.TelemetryMaxBytes, received)
	if reason != "" {
		s.dropTelemetry(ctx, env, dev, stream, reason)
		return
	}
	doc := store.Doc{
		store.FieldID: store.NewID(),
		"device":      dev,
		"stream":      stream,
		"time":        store.FormatTime(at),
		"receivedAt":  store.FormatTime(received),
		"data":        string(payload),
	}
	if !s.tel.enqueue(env.DB, doc) {
		s.telemetryDropped(DropQueueFull)
	}
}

// dropTelemetry counts a refused message and reports it to the device's
// event subscribers.
func (s *Service) dropTelemetry(ctx context.Context, env Env, dev, stream, reason string) {
	s.telemetryDropped(reason)
	s.emit(ctx, Event{Type: EventTelemetryDropped, Env: env, DeviceID: dev, Stream: stream, Reason: reason, Topic: telemetryTopic(dev, stream)})
}

// telemetryDropped counts one dropped message.
func (s *Service) telemetryDropped(reason string) {
	s.telDropped.WithLabelValues(reason).Inc()
}
