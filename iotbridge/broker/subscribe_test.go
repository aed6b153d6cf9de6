package broker

import (
	"bytes"
	"testing"
)

// TestSubscribeReasonCodes checks the SUBACK carries one code per filter, in
// order: the granted QoS (capped at the requested one), 0x87 Not authorized
// for a filter the policy refuses (5.0; 0x80 Failure in 3.1.1), and
// 0x8F Topic filter invalid for a malformed filter (5.0).
func TestSubscribeReasonCodes(t *testing.T) {
	t.Parallel()
	for _, tc := range versions {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := startBroker(t, Config{}, "secret/#")
			c, _ := connect(t, addrOf(b), tc.v, connectOpts{id: "c", clean: true})

			ack := c.subscribe(3, 2, "ok/+", "secret/#", "ok/2")
			want := []byte{2, 0x87, 2}
			if tc.v == v311 {
				want = []byte{2, 0x80, 2}
				if !bytes.Equal(ack.raw, []byte{0x90, 5, 0, 3, 2, 0x80, 2}) {
					t.Fatalf("SUBACK bytes % x", ack.raw)
				}
			}
			if !bytes.Equal(ack.codes, want) {
				t.Fatalf("SUBACK codes % x, want % x", ack.codes, want)
			}

			// A refused filter delivers nothing; the granted ones do.
			if err := b.Publish("secret/x", []byte("no"), false, 1); err != nil {
				t.Fatal(err)
			}
			if err := b.Publish("ok/2", []byte("yes"), false, 1); err != nil {
				t.Fatal(err)
			}
			if m := c.receive(); m.topic != "ok/2" {
				t.Fatalf("got %v, want ok/2 only", m)
			}

			unack := c.unsubscribe(4, "ok/+")
			if unack.id != 4 {
				t.Fatalf("UNSUBACK %v", unack)
			}
			if tc.v == v311 && !bytes.Equal(unack.raw, []byte{0xB0, 2, 0, 4}) {
				t.Fatalf("UNSUBACK bytes % x", unack.raw)
			}
			if tc.v == v5 && !bytes.Equal(unack.codes, []byte{0}) {
				t.Fatalf("UNSUBACK codes % x", unack.codes)
			}
		})
	}
}

// TestSubscribeInvalidFilter checks an MQTT 5 SUBSCRIBE with a malformed
// filter gets 0x8F for it while its other filters are granted.
func TestSubscribeInvalidFilter(t *testing.T) {
	t.Parallel()
	b := startBroker(t, Config{})
	c, _ := connect(t, addrOf(b), v5, connectOpts{id: "c", clean: true})
	ack := c.subscribe(1, 1, "a/#/b", "ok")
	if !bytes.Equal(ack.codes, []byte{0x8F, 1}) {
		t.Fatalf("SUBACK codes % x, want 8f 01", ack.codes)
	}
}

// TestPublishNotAuthorized checks a QoS 1 publish the policy refuses gets
// PUBACK 0x87 in 5.0, and closes the connection in 3.1.1 (which has no way
// to refuse a publish but to disconnect, [MQTT-3.3.5-2]).
func TestPublishNotAuthorized(t *testing.T) {
	t.Parallel()
	for _, tc := range versions {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := startBroker(t, Config{}, "secret/x")
			c, _ := connect(t, addrOf(b), tc.v, connectOpts{id: "c", clean: true})
			c.publish(pub{topic: "secret/x", payload: []byte("no"), qos: 1, id: 7})
			if tc.v == v5 {
				if ack := c.nextOf(pPuback); ack.id != 7 || ack.code != 0x87 {
					t.Fatalf("PUBACK %v, want 0x87", ack)
				}
				return
			}
			if got := c.closed(); len(got) != 0 {
				t.Fatalf("3.1.1 client got %v before the close", got)
			}
		})
	}
}

// TestPublishSys checks a client's QoS 1 or 2 publish to $SYS, which the
// broker keeps for itself, is answered: 0x90 in 5.0, a close in 3.1.1 (a
// departure of mochi the conformance hook corrects).
func TestPublishSys(t *testing.T) {
	t.Parallel()
	for _, tc := range versions {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := startBroker(t, Config{})
			watcher, _ := connect(t, addrOf(b), tc.v, connectOpts{id: "w", clean: true})
			watcher.subscribe(1, 1, "$SYS/fake")
			watcher.subscribe(2, 1, "marker")
			c, _ := connect(t, addrOf(b), tc.v, connectOpts{id: "c", clean: true})
			c.publish(pub{topic: "$SYS/fake", payload: []byte("x"), qos: 0})
			c.publish(pub{topic: "$SYS/fake", payload: []byte("x"), qos: 1, id: 3})
			if tc.v == v5 {
				if ack := c.nextOf(pPuback); ack.id != 3 || ack.code != 0x90 {
					t.Fatalf("PUBACK %v, want 0x90", ack)
				}
				c.publish(pub{topic: "$sys/fake", payload: []byte("x"), qos: 2, id: 4})
				if rec := c.nextOf(pPubrec); rec.id != 4 || rec.code != 0x90 {
					t.Fatalf("PUBREC %v, want 0x90", rec)
				}
				c.publishAcked(pub{topic: "marker", qos: 1, id: 5})
			} else {
				c.closed()
				if err := b.Publish("marker", nil, false, 1); err != nil {
					t.Fatal(err)
				}
			}
			if m := watcher.receive(); m.topic != "marker" {
				t.Fatalf("got %v: a client publish reached $SYS", m)
			}
		})
	}
}
