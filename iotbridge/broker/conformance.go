package broker

import (
	"bytes"
	"sort"
	"strings"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// conformanceHook corrects, at the point mochi encodes a packet, the places
// where mochi v2.7.9 departs from the MQTT specs and no option fixes it. It
// handles only OnPacketEncode, never aborts anything, and is added first so
// every later hook sees the corrected packets:
//
//   - A successful MQTT 5 CONNACK gets Topic Alias Maximum and Maximum
//     Packet Size: mochi enforces both but does not advertise them, and a
//     client that is not told a Topic Alias Maximum must not use topic
//     aliases at all (3.2.2.3.8, 3.2.2.3.6).
//   - A DISCONNECT to an MQTT 3.1.1 client is not written (mochi sends one
//     on takeover, shutdown and server-side disconnects, but in 3.1.1
//     DISCONNECT goes from client to server only; the server just closes
//     the connection). The packet's size limit is set below its size, which
//     makes mochi skip the write and close the connection as it would have.
//   - A refused MQTT 3.1.1 (or 3.1) CONNECT gets a 3.1.1 return code: mochi
//     sends MQTT 5 reason codes it has no 3.1.1 equivalent for (0x80, 0x82)
//     in a 3.1.1 CONNACK, where only 0 to 5 exist (3.2.2.3). An unsupported
//     protocol level gets 0x01 ([MQTT-3.1.2-2]), an empty client id without
//     clean session 0x02 ([MQTT-3.1.3-8]); any other refusal closes the
//     connection without a CONNACK, as 3.1.1 does for protocol errors.
//   - A client's QoS 1 or 2 PUBLISH to a $SYS topic is answered: mochi drops
//     it without any ack (it keeps $SYS for itself), which leaves the
//     publisher waiting forever ([MQTT-4.3.2-4], [MQTT-4.3.3-8]). An MQTT 5
//     client gets PUBACK/PUBREC 0x90 Topic Name invalid; an MQTT 3.1.1
//     client, which has no negative ack, is disconnected, as for any publish
//     the server refuses ([MQTT-3.3.5-2]).
//   - Messages held back by an MQTT 5 client's Receive Maximum are released
//     by the hook as acks free quota, oldest first, and stay in flight until
//     the client acknowledges them. mochi releases them itself but deletes
//     each from the in-flight store as it sends it, so its ack no longer
//     frees quota: after Receive Maximum such releases delivery to the
//     client stops for good, and a released message is lost if the
//     connection drops ([MQTT-3.3.4-9], [MQTT-4.3.2]).
//   - A forwarded PUBLISH carries a Message Expiry Interval only if it was
//     published with one: mochi gives every message the broker's maximum
//     expiry and sent that to subscribers as if the publisher had set it
//     (3.3.2.3.3: absent means the message does not expire).
//   - When a CONNACK resumes a session, the session's queued messages are
//     renumbered so mochi resends them in the order they were queued
//     ([MQTT-4.6.0-1]): mochi sorts them by the low 16 bits of their creation
//     second, which leaves messages of the same second in map order.
type conformanceHook struct {
	mqtt.HookBase
	cfg Config
}

var _ mqtt.Hook = (*conformanceHook)(nil)

// ID names the hook in mochi's logs.
func (h *conformanceHook) ID() string { return "skybridge-conformance" }

// Provides reports the events the hook handles.
func (h *conformanceHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnPacketEncode, mqtt.OnPacketRead, mqtt.OnQosComplete}, []byte{b})
}

// OnPacketRead answers QoS 1 and 2 publishes to $SYS topics (see the type).
func (h *conformanceHook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.FixedHeader.Type != packets.Publish || pk.FixedHeader.Qos == 0 || !isSysTopic(pk.TopicName) {
		return pk, nil
	}
	if cl.Properties.ProtocolVersion < 5 {
		return pk, packets.ErrRejectPacket // ends the connection
	}
	ack := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Puback},
		PacketID:    pk.PacketID,
		ReasonCode:  packets.ErrTopicNameInvalid.Code,
	}
	if pk.FixedHeader.Qos == 2 {
		ack.FixedHeader.Type = packets.Pubrec
	}
	if err := cl.WritePacket(ack); err != nil {
		return pk, packets.ErrRejectPacket
	}
	// Handed on as QoS 0, which mochi drops without an answer.
	pk.FixedHeader.Qos, pk.PacketID = 0, 0
	return pk, nil
}

// isSysTopic reports whether mochi keeps the topic for itself ($SYS, in
// any letter case).
func isSysTopic(topic string) bool {
	return len(topic) >= len(mqtt.SysPrefix) && strings.EqualFold(topic[:len(mqtt.SysPrefix)], mqtt.SysPrefix)
}

// OnPacketEncode applies the corrections listed on the type.
func (h *conformanceHook) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	switch pk.FixedHeader.Type {
	case packets.Publish:
		// mochi stamps messages without an expiry with exactly the maximum.
		if pk.Expiry > 0 && pk.Expiry-pk.Created == int64(h.cfg.MaxMessageExpiry/time.Second) {
			pk.Properties.MessageExpiryInterval = 0
		}
	case packets.Disconnect:
		if cl.Properties.ProtocolVersion < 5 {
			pk.Mods.MaxSize = 1 // smaller than any DISCONNECT: not written
		}
	case packets.Connack:
		if pk.ReasonCode >= packets.ErrUnspecifiedError.Code {
			if cl.Properties.ProtocolVersion != 5 {
				pk.ReasonCode = connackCode311(cl, pk.ReasonCode, &pk)
			}
			return pk
		}
		if cl.Properties.ProtocolVersion == 5 {
			pk.Properties.TopicAliasMaximum = uint16(h.cfg.TopicAliasMaximum)
			pk.Properties.MaximumPacketSize = uint32(h.cfg.MaxPacketSize)
		}
		if pk.SessionPresent {
			orderInflight(cl.State.Inflight, int64(h.cfg.MaxMessageExpiry/time.Second))
		}
	}
	return pk
}

// orderInflight rewrites the Created second of a resumed session's queued
// packets so that mochi's resend order (by uint16(Created)) is the order
// they were queued in: by creation second, then by packet id, which mochi
// hands out increasing (wrapping at 65535) as it queues. The new Created
// values stay within 65535 seconds below the original ones, which only
// matters for mochi's cap on message age (MaxMessageExpiry, 30 days by
// default); each message's own expiry is kept apart and is untouched.
func orderInflight(in *mqtt.Inflight, maxExpiry int64) {
	all := in.GetAll(false)
	if len(all) < 2 {
		return
	}
	oldest := all[0].Created
	for _, p := range all {
		oldest = min(oldest, p.Created)
	}
	queueOrder(all)
	base := oldest &^ 0xFFFF
	for i, p := range all {
		if p.Expiry > 0 && p.Expiry-p.Created == maxExpiry {
			p.Expiry = base + int64(i) + maxExpiry // keep the no-expiry stamp
		}
		p.Created = base + int64(i)
		in.Set(p)
	}
}

// queueOrder sorts packets in the order they were queued: by creation
// second, then by packet id, which mochi hands out increasing (wrapping at
// 65535).
func queueOrder(ps []packets.Packet) {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Created != ps[j].Created {
			return ps[i].Created < ps[j].Created
		}
		return int16(ps[i].PacketID-ps[j].PacketID) < 0
	})
}

// OnQosComplete releases held messages into the quota an ack freed (see
// the type).
func (h *conformanceHook) OnQosComplete(cl *mqtt.Client, _ packets.Packet) {
	releaseHeld(cl)
}

// releaseHeld sends an MQTT 5 client the messages mochi held back for its
// Receive Maximum (marked with Expiry -1), oldest first, while fewer than
// Receive Maximum publishes to it are unacknowledged, keeping each in
// flight until acknowledged. It runs on the client's own goroutine, inside
// the ack's processing and before mochi's own release, which then finds
// either no quota or nothing held.
func releaseHeld(cl *mqtt.Client) {
	rm := int(cl.Properties.Props.ReceiveMaximum)
	if cl.Properties.ProtocolVersion != 5 || rm == 0 || cl.Closed() {
		return // without a Receive Maximum mochi never holds anything
	}
	var held []packets.Packet
	busy := 0
	for _, p := range cl.State.Inflight.GetAll(false) {
		switch {
		case p.FixedHeader.Type == packets.Publish && p.Expiry < 0:
			held = append(held, p)
		case p.FixedHeader.Type == packets.Publish || p.FixedHeader.Type == packets.Pubrel:
			busy++ // sent to the client, not yet acknowledged
		}
	}
	queueOrder(held)
	for _, p := range held {
		if busy >= rm {
			return
		}
		p.Expiry = 0 // no longer held; mochi overwrote its expiry when it held it
		cl.State.Inflight.Set(p)
		if err := cl.WritePacket(p); err != nil {
			return
		}
		cl.State.Inflight.DecreaseSendQuota()
		busy++
	}
}

// connackCode311 maps the code of a refusing CONNACK to a 3.1.1 client to
// a 3.1.1 return code, or marks the CONNACK not to be written (the
// connection is then closed without one).
func connackCode311(cl *mqtt.Client, code byte, pk *packets.Packet) byte {
	switch {
	case code <= 5:
		return code // already a 3.1.1 code (mochi maps some itself)
	case cl.Properties.ProtocolVersion != 3 && cl.Properties.ProtocolVersion != 4:
		return 0x01 // unacceptable protocol version
	case cl.Properties.Props.AssignedClientID != "" && !cl.Properties.Clean:
		return 0x02 // identifier rejected: empty id needs clean session
	}
	pk.Mods.MaxSize = 1 // smaller than any CONNACK: not written
	return code
}
