package broker

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
)

// The conformance suite talks to the broker over TCP with wireClient: MQTT
// 3.1.1 packets are encoded and decoded here by hand, byte for byte as the
// 3.1.1 spec lays them out (so the acks can be compared exactly); MQTT 5
// packets go through eclipse/paho.golang's packet codec, an implementation
// independent of the broker's.

// Protocol versions the suite runs.
const (
	v311 byte = 4
	v5   byte = 5
)

// versions is the table most behaviours run over.
var versions = []struct {
	name string
	v    byte
}{{"mqtt311", v311}, {"mqtt5", v5}}

// Packet types, as in the fixed header's high nibble.
const (
	pConnect     byte = 1
	pConnack     byte = 2
	pPublish     byte = 3
	pPuback      byte = 4
	pPubrec      byte = 5
	pPubrel      byte = 6
	pPubcomp     byte = 7
	pSubscribe   byte = 8
	pSuback      byte = 9
	pUnsubscribe byte = 10
	pUnsuback    byte = 11
	pPingreq     byte = 12
	pPingresp    byte = 13
	pDisconnect  byte = 14
)

// waitFor bounds every wait of the suite; tests poll, they never sleep.
const waitFor = 10 * time.Second

// msg is one packet received from the broker, decoded the same way for both
// protocol versions.
type msg struct {
	typ     byte
	raw     []byte // the whole packet as received (3.1.1 only)
	dup     bool
	qos     byte
	retain  bool
	id      uint16
	topic   string
	payload []byte
	present bool   // CONNACK session present
	code    byte   // CONNACK return/reason code, ack or DISCONNECT reason code
	codes   []byte // SUBACK/UNSUBACK return codes
	props   *packets.Properties
}

func (m msg) String() string {
	return fmt.Sprintf("type=%d id=%d qos=%d retain=%v topic=%q payload=%q code=%#x codes=%x", m.typ, m.id, m.qos, m.retain, m.topic, m.payload, m.code, m.codes)
}

// connectOpts is what a CONNECT carries.
type connectOpts struct {
	id        string
	user      string // sent with a password when set
	level     byte   // 3.1.1 protocol level to send; default 4
	clean     bool
	keepalive uint16
	will      *willOpts
	props     *packets.Properties // v5 CONNECT properties
}

type willOpts struct {
	topic   string
	payload []byte
	qos     byte
	retain  bool
}

// wireClient is one MQTT connection of the suite.
type wireClient struct {
	t       testing.TB
	v       byte
	conn    net.Conn
	in      chan msg
	pending []msg // PUBLISH packets read while waiting for an ack
	done    chan struct{}
	err     error // why the read loop ended; read after done is closed
}

// dial opens a TCP connection to the broker without sending anything.
func dial(t testing.TB, addr net.Addr, v byte) *wireClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr.String(), waitFor)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c := &wireClient{t: t, v: v, conn: conn, in: make(chan msg, 1024), done: make(chan struct{})}
	go c.readLoop()
	t.Cleanup(func() {
		_ = conn.Close()
		<-c.done
	})
	return c
}

// connect dials and completes a CONNECT; it fails the test unless the
// broker accepts.
func connect(t testing.TB, addr net.Addr, v byte, o connectOpts) (*wireClient, msg) {
	t.Helper()
	c := dial(t, addr, v)
	ack := c.connect(o)
	if ack.code != 0 {
		t.Fatalf("CONNACK %s: code %#x", o.id, ack.code)
	}
	return c, ack
}

func (c *wireClient) readLoop() {
	defer close(c.done)
	r := bufio.NewReader(c.conn)
	for {
		var m msg
		var err error
		if c.v == v5 {
			m, err = read5(r)
		} else {
			m, err = read311(r)
		}
		if err != nil {
			c.err = err
			close(c.in)
			return
		}
		c.in <- m
	}
}

// next returns the next packet, failing the test if none comes in time or
// the connection ends.
func (c *wireClient) next() msg {
	c.t.Helper()
	select {
	case m, ok := <-c.in:
		if !ok {
			c.t.Fatalf("connection closed while waiting for a packet: %v", c.err)
		}
		return m
	case <-time.After(waitFor):
		c.t.Fatalf("no packet within %s", waitFor)
	}
	return msg{}
}

// nextOf returns the next packet, which must be of type typ. PUBLISH
// packets that arrive while it waits for an ack are kept, in order, for the
// next nextOf(pPublish): a client that publishes to its own subscription
// sees both.
func (c *wireClient) nextOf(typ byte) msg {
	c.t.Helper()
	if typ == pPublish && len(c.pending) > 0 {
		m := c.pending[0]
		c.pending = c.pending[1:]
		return m
	}
	for {
		m := c.next()
		if m.typ == typ {
			return m
		}
		if m.typ != pPublish {
			c.t.Fatalf("got packet %v, want type %d", m, typ)
		}
		c.pending = append(c.pending, m)
	}
}

// closed waits until the broker closes the connection and returns the
// packets it sent before.
func (c *wireClient) closed() []msg {
	c.t.Helper()
	var got []msg
	deadline := time.After(waitFor)
	for {
		select {
		case m, ok := <-c.in:
			if !ok {
				return got
			}
			got = append(got, m)
		case <-deadline:
			c.t.Fatalf("connection still open after %s (got %v)", waitFor, got)
		}
	}
}

// write sends raw bytes.
func (c *wireClient) write(b []byte) {
	c.t.Helper()
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// send5 writes an MQTT 5 control packet.
func (c *wireClient) send5(cp *packets.ControlPacket) {
	c.t.Helper()
	if _, err := cp.WriteTo(c.conn); err != nil {
		c.t.Fatalf("write %s: %v", cp.PacketType(), err)
	}
}

// connect sends a CONNECT and returns the CONNACK.
func (c *wireClient) connect(o connectOpts) msg {
	c.t.Helper()
	c.sendConnect(o)
	return c.nextOf(pConnack)
}

// sendConnect sends a CONNECT.
func (c *wireClient) sendConnect(o connectOpts) {
	c.t.Helper()
	if c.v == v5 {
		cp := packets.NewControlPacket(packets.CONNECT)
		p := cp.Content.(*packets.Connect)
		p.ClientID, p.CleanStart, p.KeepAlive = o.id, o.clean, o.keepalive
		if o.user != "" {
			p.UsernameFlag, p.Username, p.PasswordFlag, p.Password = true, o.user, true, []byte("pw")
		}
		if o.props != nil {
			p.Properties = o.props
		}
		if w := o.will; w != nil {
			p.WillFlag, p.WillTopic, p.WillMessage, p.WillQOS, p.WillRetain = true, w.topic, w.payload, w.qos, w.retain
			p.WillProperties = &packets.Properties{}
		}
		c.send5(cp)
	} else {
		var vh bytes.Buffer
		putString(&vh, "MQTT")
		level := o.level
		if level == 0 {
			level = 4
		}
		vh.WriteByte(level)
		var flags byte
		if o.user != "" {
			flags |= 0xC0
		}
		if o.clean {
			flags |= 0x02
		}
		if w := o.will; w != nil {
			flags |= 0x04 | w.qos<<3
			if w.retain {
				flags |= 0x20
			}
		}
		vh.WriteByte(flags)
		_ = binary.Write(&vh, binary.BigEndian, o.keepalive)
		putString(&vh, o.id)
		if w := o.will; w != nil {
			putString(&vh, w.topic)
			putString(&vh, string(w.payload))
		}
		if o.user != "" {
			putString(&vh, o.user)
			putString(&vh, "pw")
		}
		c.write(frame(pConnect<<4, vh.Bytes()))
	}
}

// subscribe sends one SUBSCRIBE with filters at qos and returns the SUBACK.
func (c *wireClient) subscribe(id uint16, qos byte, filters ...string) msg {
	c.t.Helper()
	if c.v == v5 {
		cp := packets.NewControlPacket(packets.SUBSCRIBE)
		s := cp.Content.(*packets.Subscribe)
		s.PacketID = id
		for _, f := range filters {
			s.Subscriptions = append(s.Subscriptions, packets.SubOptions{Topic: f, QoS: qos})
		}
		c.send5(cp)
	} else {
		var b bytes.Buffer
		_ = binary.Write(&b, binary.BigEndian, id)
		for _, f := range filters {
			putString(&b, f)
			b.WriteByte(qos)
		}
		c.write(frame(pSubscribe<<4|0x02, b.Bytes()))
	}
	ack := c.nextOf(pSuback)
	if ack.id != id {
		c.t.Fatalf("SUBACK id %d, want %d", ack.id, id)
	}
	c.sync()
	return ack
}

// sync waits until the broker has processed everything this client sent:
// the broker answers a PINGREQ only after the packets before it. mochi
// sends the SUBACK before it finishes a subscription (retained messages go
// out after it), so tests that publish right after subscribing sync first.
func (c *wireClient) sync() {
	c.t.Helper()
	c.ping()
	c.nextOf(pPingresp)
}

// unsubscribe sends an UNSUBSCRIBE and returns the UNSUBACK.
func (c *wireClient) unsubscribe(id uint16, filters ...string) msg {
	c.t.Helper()
	if c.v == v5 {
		cp := packets.NewControlPacket(packets.UNSUBSCRIBE)
		u := cp.Content.(*packets.Unsubscribe)
		u.PacketID, u.Topics = id, filters
		c.send5(cp)
	} else {
		var b bytes.Buffer
		_ = binary.Write(&b, binary.BigEndian, id)
		for _, f := range filters {
			putString(&b, f)
		}
		c.write(frame(pUnsubscribe<<4|0x02, b.Bytes()))
	}
	return c.nextOf(pUnsuback)
}

// pub is one PUBLISH to send.
type pub struct {
	topic   string
	payload []byte
	qos     byte
	retain  bool
	dup     bool
	id      uint16
	props   *packets.Properties // v5 only
}

// publish sends a PUBLISH and nothing else (the caller handles the acks).
func (c *wireClient) publish(p pub) {
	c.t.Helper()
	if c.v == v5 {
		cp := packets.NewControlPacket(packets.PUBLISH)
		m := cp.Content.(*packets.Publish)
		m.Topic, m.Payload, m.QoS, m.Retain, m.Duplicate, m.PacketID = p.topic, p.payload, p.qos, p.retain, p.dup, p.id
		if p.props != nil {
			m.Properties = p.props
		}
		c.send5(cp)
		return
	}
	first := pPublish<<4 | p.qos<<1
	if p.retain {
		first |= 0x01
	}
	if p.dup {
		first |= 0x08
	}
	var b bytes.Buffer
	putString(&b, p.topic)
	if p.qos > 0 {
		_ = binary.Write(&b, binary.BigEndian, p.id)
	}
	b.Write(p.payload)
	c.write(frame(first, b.Bytes()))
}

// publishAcked sends a PUBLISH and completes its QoS flow as a publisher.
func (c *wireClient) publishAcked(p pub) {
	c.t.Helper()
	if p.qos > 0 && p.id == 0 {
		p.id = 1
	}
	c.publish(p)
	switch p.qos {
	case 1:
		if ack := c.nextOf(pPuback); ack.id != p.id || ack.code != 0 {
			c.t.Fatalf("PUBACK %v for id %d", ack, p.id)
		}
	case 2:
		if rec := c.nextOf(pPubrec); rec.id != p.id || rec.code != 0 {
			c.t.Fatalf("PUBREC %v for id %d", rec, p.id)
		}
		c.ack(pPubrel, p.id)
		if comp := c.nextOf(pPubcomp); comp.id != p.id || comp.code != 0 {
			c.t.Fatalf("PUBCOMP %v for id %d", comp, p.id)
		}
	}
}

// ack sends a PUBACK, PUBREC, PUBREL or PUBCOMP for id.
func (c *wireClient) ack(typ byte, id uint16) {
	c.t.Helper()
	if c.v == v5 {
		cp := packets.NewControlPacket(typ)
		switch a := cp.Content.(type) {
		case *packets.Puback:
			a.PacketID = id
		case *packets.Pubrec:
			a.PacketID = id
		case *packets.Pubrel:
			a.PacketID = id
		case *packets.Pubcomp:
			a.PacketID = id
		}
		c.send5(cp)
		return
	}
	first := typ << 4
	if typ == pPubrel {
		first |= 0x02
	}
	c.write([]byte{first, 2, byte(id >> 8), byte(id)})
}

// receive reads the next PUBLISH and completes its QoS flow as a
// subscriber, returning it.
func (c *wireClient) receive() msg {
	c.t.Helper()
	m := c.nextOf(pPublish)
	switch m.qos {
	case 1:
		c.ack(pPuback, m.id)
	case 2:
		c.ack(pPubrec, m.id)
		if rel := c.nextOf(pPubrel); rel.id != m.id {
			c.t.Fatalf("PUBREL %v for id %d", rel, m.id)
		}
		c.ack(pPubcomp, m.id)
	}
	return m
}

// ping sends a PINGREQ.
func (c *wireClient) ping() {
	c.t.Helper()
	c.write([]byte{pPingreq << 4, 0})
}

// disconnect sends a normal DISCONNECT and waits for the broker to close
// the connection.
func (c *wireClient) disconnect() {
	c.t.Helper()
	c.write([]byte{pDisconnect << 4, 0})
	c.closed()
}

// drop closes the TCP connection without DISCONNECT (an abnormal end).
func (c *wireClient) drop() {
	_ = c.conn.Close()
	<-c.done
}
