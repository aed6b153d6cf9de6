package broker

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"

	"github.com/eclipse/paho.golang/packets"
)

// The suite's packet codec: MQTT 3.1.1 framing and decoding by hand, MQTT
// 5 decoding through paho's codec, both into msg.

// frame builds a packet from its first byte and its body.
func frame(first byte, body []byte) []byte {
	out := []byte{first}
	n := len(body)
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		out = append(out, d)
		if n == 0 {
			break
		}
	}
	return append(out, body...)
}

func putString(b *bytes.Buffer, s string) {
	_ = binary.Write(b, binary.BigEndian, uint16(len(s)))
	b.WriteString(s)
}

// read311 reads and decodes one MQTT 3.1.1 packet.
func read311(r *bufio.Reader) (msg, error) {
	first, err := r.ReadByte()
	if err != nil {
		return msg{}, err
	}
	raw := []byte{first}
	n, mult := 0, 1
	for i := 0; ; i++ {
		d, err := r.ReadByte()
		if err != nil {
			return msg{}, err
		}
		raw = append(raw, d)
		n += int(d&0x7f) * mult
		mult *= 128
		if d&0x80 == 0 {
			break
		}
		if i == 3 {
			return msg{}, errors.New("malformed remaining length")
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return msg{}, err
	}
	raw = append(raw, body...)
	m := msg{typ: first >> 4, raw: raw}
	short := errors.New("short packet")
	switch m.typ {
	case pConnack:
		if n != 2 {
			return m, short
		}
		m.present, m.code = body[0]&1 == 1, body[1]
	case pPublish:
		m.dup, m.qos, m.retain = first&0x08 != 0, (first>>1)&3, first&1 == 1
		if n < 2 {
			return m, short
		}
		tl := int(binary.BigEndian.Uint16(body))
		if n < 2+tl {
			return m, short
		}
		m.topic, body = string(body[2:2+tl]), body[2+tl:]
		if m.qos > 0 {
			if len(body) < 2 {
				return m, short
			}
			m.id, body = binary.BigEndian.Uint16(body), body[2:]
		}
		m.payload = body
	case pPuback, pPubrec, pPubrel, pPubcomp, pUnsuback:
		if n != 2 {
			return m, short
		}
		m.id = binary.BigEndian.Uint16(body)
	case pSuback:
		if n < 3 {
			return m, short
		}
		m.id, m.codes = binary.BigEndian.Uint16(body), body[2:]
	}
	return m, nil
}

// read5 reads and decodes one MQTT 5 packet with paho's codec.
func read5(r *bufio.Reader) (msg, error) {
	cp, err := packets.ReadPacket(r)
	if err != nil {
		return msg{}, err
	}
	m := msg{typ: cp.Type}
	switch p := cp.Content.(type) {
	case *packets.Connack:
		m.present, m.code, m.props = p.SessionPresent, p.ReasonCode, p.Properties
	case *packets.Publish:
		m.dup, m.qos, m.retain, m.id, m.topic, m.payload, m.props = p.Duplicate, p.QoS, p.Retain, p.PacketID, p.Topic, p.Payload, p.Properties
	case *packets.Puback:
		m.id, m.code, m.props = p.PacketID, p.ReasonCode, p.Properties
	case *packets.Pubrec:
		m.id, m.code, m.props = p.PacketID, p.ReasonCode, p.Properties
	case *packets.Pubrel:
		m.id, m.code, m.props = p.PacketID, p.ReasonCode, p.Properties
	case *packets.Pubcomp:
		m.id, m.code, m.props = p.PacketID, p.ReasonCode, p.Properties
	case *packets.Suback:
		m.id, m.codes, m.props = p.PacketID, p.Reasons, p.Properties
	case *packets.Unsuback:
		m.id, m.codes, m.props = p.PacketID, p.Reasons, p.Properties
	case *packets.Disconnect:
		m.code, m.props = p.ReasonCode, p.Properties
	}
	return m, nil
}
