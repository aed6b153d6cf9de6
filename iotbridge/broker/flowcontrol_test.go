package broker

import (
	"strconv"
	"testing"

	"github.com/eclipse/paho.golang/packets"
)

// TestReceiveMaximumClient checks the broker never has more unacknowledged
// QoS 1 and 2 publishes towards an MQTT 5 client than the client's Receive
// Maximum ([MQTT-3.3.4-9]), holds the rest, and sends them as acks free
// quota, in order; QoS 0 is not counted. (mochi alone stalls after Receive
// Maximum releases; the conformance hook's release is what this covers.)
func TestReceiveMaximumClient(t *testing.T) {
	t.Parallel()
	b := startBroker(t, Config{})
	rm := uint16(2)
	sub, _ := connect(t, addrOf(b), v5, connectOpts{id: "sub", clean: true, props: &packets.Properties{ReceiveMaximum: &rm}})
	sub.subscribe(1, 1, "f/t")
	sub.subscribe(2, 0, "f/marker")
	const n = 40
	for i := range n {
		if err := b.Publish("f/t", []byte(strconv.Itoa(i)), false, 1); err != nil {
			t.Fatal(err)
		}
	}
	var held []msg
	for range 2 {
		held = append(held, sub.nextOf(pPublish))
	}
	// A QoS 0 marker overtakes the held QoS 1 messages: had the broker sent
	// a third, it would come first.
	if err := b.Publish("f/marker", nil, false, 0); err != nil {
		t.Fatal(err)
	}
	if m := sub.nextOf(pPublish); m.topic != "f/marker" {
		t.Fatalf("got %v with %d unacknowledged, want the QoS 0 marker", m, len(held))
	}
	got := []string{}
	for len(got) < n {
		m := held[0]
		held = held[1:]
		got = append(got, string(m.payload))
		sub.ack(pPuback, m.id)
		if len(got)+len(held) < n {
			held = append(held, sub.nextOf(pPublish))
		}
		if len(held) > 2 {
			t.Fatalf("%d unacknowledged", len(held))
		}
	}
	for i, p := range got {
		if p != strconv.Itoa(i) {
			t.Fatalf("delivered %v, want 0..%d once each, in order", got, n-1)
		}
	}
}

// TestReceiveMaximumServer checks the broker advertises its Receive Maximum
// in CONNACK and disconnects a client that exceeds it with 0x93
// ([MQTT-3.3.4-8]).
func TestReceiveMaximumServer(t *testing.T) {
	t.Parallel()
	b := startBroker(t, Config{ReceiveMaximum: 2})
	c, ack := connect(t, addrOf(b), v5, connectOpts{id: "c", clean: true})
	if ack.props.ReceiveMaximum == nil || *ack.props.ReceiveMaximum != 2 {
		t.Fatalf("CONNACK receive maximum %v, want 2", ack.props.ReceiveMaximum)
	}
	for id := uint16(1); id <= 2; id++ {
		c.publish(pub{topic: "f/t", qos: 2, id: id})
		if rec := c.nextOf(pPubrec); rec.id != id || rec.code != 0 {
			t.Fatalf("PUBREC %v", rec)
		}
	}
	c.publish(pub{topic: "f/t", qos: 2, id: 3})
	got := c.closed()
	if len(got) != 1 || got[0].typ != pDisconnect || got[0].code != 0x93 {
		t.Fatalf("got %v, want DISCONNECT 0x93", got)
	}
}
