package broker

import (
	"bytes"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// capabilitiesHook completes mochi's MQTT 5 CONNACK with the limits the
// broker enforces but mochi does not advertise: Topic Alias Maximum (without
// it a client must not use topic aliases at all, 3.2.2.3.8) and Maximum
// Packet Size (3.2.2.3.6). It runs on every packet the broker encodes, does
// nothing but fill those two properties of a successful v5 CONNACK, and
// never aborts anything.
type capabilitiesHook struct {
	mqtt.HookBase
	cfg Config
}

var _ mqtt.Hook = (*capabilitiesHook)(nil)

// ID names the hook in mochi's logs.
func (h *capabilitiesHook) ID() string { return "skybridge-capabilities" }

// Provides reports the one event the hook handles.
func (h *capabilitiesHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnPacketEncode}, []byte{b})
}

// OnPacketEncode fills the CONNACK limits.
func (h *capabilitiesHook) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type != packets.Connack || cl.Properties.ProtocolVersion != 5 || pk.ReasonCode >= packets.ErrUnspecifiedError.Code {
		return pk
	}
	pk.Properties.TopicAliasMaximum = uint16(h.cfg.TopicAliasMaximum)
	pk.Properties.MaximumPacketSize = uint32(h.cfg.MaxPacketSize)
	return pk
}
