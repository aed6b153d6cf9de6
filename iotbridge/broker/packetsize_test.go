package broker

import (
	"bytes"
	"testing"
)

// TestMaximumPacketSize checks the broker advertises its Maximum Packet
// Size to MQTT 5 clients and ends a connection that sends a larger packet,
// for both versions. (MQTT 5 says the server SHOULD send DISCONNECT 0x95
// first, 4.13.1; mochi just closes, which the spec allows.)
func TestMaximumPacketSize(t *testing.T) {
	t.Parallel()
	for _, tc := range versions {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := startBroker(t, Config{MaxPacketSize: 1024})
			c, ack := connect(t, addrOf(b), tc.v, connectOpts{id: "c", clean: true})
			if tc.v == v5 && (ack.props.MaximumPacketSize == nil || *ack.props.MaximumPacketSize != 1024) {
				t.Fatalf("CONNACK maximum packet size %v, want 1024", ack.props.MaximumPacketSize)
			}
			c.publishAcked(pub{topic: "s/t", payload: bytes.Repeat([]byte("x"), 900), qos: 1, id: 1})
			c.publish(pub{topic: "s/t", payload: bytes.Repeat([]byte("x"), 2000), qos: 1, id: 2})
			if got := c.closed(); len(got) > 0 && (tc.v == v311 || got[0].typ != pDisconnect || got[0].code != 0x95) {
				t.Fatalf("got %v before the close", got)
			}
		})
	}
}
