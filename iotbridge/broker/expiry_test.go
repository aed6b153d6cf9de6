package broker

import (
	"testing"

	"github.com/eclipse/paho.golang/packets"
)

// TestMessageExpiryForwarded checks a forwarded message carries the expiry
// interval left, never more than it was published with ([MQTT-3.3.2-6]).
func TestMessageExpiryForwarded(t *testing.T) {
	t.Parallel()
	b := startBroker(t, Config{})
	sub, _ := connect(t, addrOf(b), v5, connectOpts{id: "sub", clean: true})
	sub.subscribe(1, 1, "e/t")
	p, _ := connect(t, addrOf(b), v5, connectOpts{id: "pub", clean: true})
	exp := uint32(60)
	p.publishAcked(pub{topic: "e/t", payload: []byte("x"), qos: 1, id: 1, props: &packets.Properties{MessageExpiry: &exp}})
	m := sub.receive()
	if m.props.MessageExpiry == nil || *m.props.MessageExpiry == 0 || *m.props.MessageExpiry > 60 {
		t.Fatalf("forwarded expiry %v, want 1..60", m.props.MessageExpiry)
	}
	p.publishAcked(pub{topic: "e/t", payload: []byte("y"), qos: 1, id: 2})
	if m := sub.receive(); m.props.MessageExpiry != nil {
		t.Fatalf("message without expiry forwarded with %d", *m.props.MessageExpiry)
	}
}

// TestMessageExpiryQueued checks a message that expires while queued for an
// offline session is not delivered ([MQTT-3.3.2-5]) while the unexpired
// ones are.
func TestMessageExpiryQueued(t *testing.T) {
	t.Parallel()
	b := startBroker(t, Config{})
	sub, _ := connect(t, addrOf(b), v5, persistent(v5, "sub"))
	sub.subscribe(1, 1, "e/#")
	sub.disconnect()
	eventually(t, "disconnect seen", func() bool { return b.connectionClosed("sub") })

	p, _ := connect(t, addrOf(b), v5, connectOpts{id: "pub", clean: true})
	short, long := uint32(1), uint32(600)
	p.publishAcked(pub{topic: "e/long", payload: []byte("long"), qos: 1, id: 2, props: &packets.Properties{MessageExpiry: &long}})
	p.publishAcked(pub{topic: "e/short", payload: []byte("short"), qos: 1, id: 1, props: &packets.Properties{MessageExpiry: &short}})
	// Both are queued well within the short one's second.
	eventually(t, "both queued", func() bool { return b.inflight("sub") == 2 })
	eventually(t, "short message expired from the queue", func() bool { return b.inflight("sub") == 1 })

	sub, _ = connect(t, addrOf(b), v5, persistent(v5, "sub"))
	if m := sub.receive(); m.topic != "e/long" {
		t.Fatalf("got %v, want only e/long", m)
	}
}

// TestMessageExpiryRetained checks a retained message is no longer sent to
// new subscribers once its expiry has passed.
func TestMessageExpiryRetained(t *testing.T) {
	t.Parallel()
	b := startBroker(t, Config{})
	p, _ := connect(t, addrOf(b), v5, connectOpts{id: "pub", clean: true})
	exp := uint32(1)
	p.publishAcked(pub{topic: "e/r", payload: []byte("soon gone"), qos: 1, id: 1, retain: true, props: &packets.Properties{MessageExpiry: &exp}})
	eventually(t, "retained message expired", func() bool {
		_, ok := b.srv.Topics.Retained.Get("e/r")
		return !ok
	})
	for _, tc := range versions {
		c, _ := connect(t, addrOf(b), tc.v, connectOpts{id: "c" + tc.name, clean: true})
		c.subscribe(1, 1, "e/#")
		c.publishAcked(pub{topic: "e/marker", qos: 1, id: 2})
		if m := c.receive(); m.topic != "e/marker" {
			t.Fatalf("%s: got %v, want no expired retained message", tc.name, m)
		}
	}
}
