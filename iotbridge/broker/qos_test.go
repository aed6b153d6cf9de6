package broker

import (
	"bytes"
	"context"
	"net"
	"testing"

	"github.com/eclipse/paho.golang/paho"
)

// TestQoS1Flow runs a QoS 1 publish end to end: the publisher's PUBACK, the
// subscriber's PUBLISH with a packet id, its PUBACK, and for 3.1.1 the exact
// ack bytes.
func TestQoS1Flow(t *testing.T) {
	t.Parallel()
	for _, tc := range versions {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := startBroker(t, Config{})
			sub, _ := connect(t, addrOf(b), tc.v, connectOpts{id: "sub", clean: true})
			if ack := sub.subscribe(0x1234, 1, "q/1"); !bytes.Equal(ack.codes, []byte{1}) {
				t.Fatalf("SUBACK codes %x, want 01", ack.codes)
			} else if tc.v == v311 && !bytes.Equal(ack.raw, []byte{0x90, 3, 0x12, 0x34, 1}) {
				t.Fatalf("SUBACK bytes % x", ack.raw)
			}
			p, _ := connect(t, addrOf(b), tc.v, connectOpts{id: "pub", clean: true})
			p.publish(pub{topic: "q/1", payload: []byte("hello"), qos: 1, id: 0xBEEF})
			ack := p.nextOf(pPuback)
			if ack.id != 0xBEEF || ack.code != 0 {
				t.Fatalf("PUBACK %v", ack)
			}
			if tc.v == v311 && !bytes.Equal(ack.raw, []byte{0x40, 2, 0xBE, 0xEF}) {
				t.Fatalf("PUBACK bytes % x, want 40 02 be ef", ack.raw)
			}
			m := sub.nextOf(pPublish)
			if m.qos != 1 || m.id == 0 || string(m.payload) != "hello" || m.dup {
				t.Fatalf("subscriber got %v", m)
			}
			sub.ack(pPuback, m.id)
			// The broker accepts the ack: a second message arrives normally.
			p.publishAcked(pub{topic: "q/1", payload: []byte("again"), qos: 1, id: 2})
			if m := sub.receive(); string(m.payload) != "again" {
				t.Fatalf("got %v", m)
			}
		})
	}
}

// TestQoS2Flow runs a QoS 2 publish end to end: PUBREC, PUBREL, PUBCOMP on
// both sides, the exact 3.1.1 ack bytes, and exactly-once delivery when the
// publisher resends the PUBLISH with DUP before releasing it ([MQTT-4.3.3-9]).
func TestQoS2Flow(t *testing.T) {
	t.Parallel()
	for _, tc := range versions {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := startBroker(t, Config{})
			sub, _ := connect(t, addrOf(b), tc.v, connectOpts{id: "sub", clean: true})
			sub.subscribe(1, 2, "q/2")
			p, _ := connect(t, addrOf(b), tc.v, connectOpts{id: "pub", clean: true})

			p.publish(pub{topic: "q/2", payload: []byte("once"), qos: 2, id: 5})
			rec := p.nextOf(pPubrec)
			if rec.id != 5 || rec.code != 0 {
				t.Fatalf("PUBREC %v", rec)
			}
			if tc.v == v311 && !bytes.Equal(rec.raw, []byte{0x50, 2, 0, 5}) {
				t.Fatalf("PUBREC bytes % x", rec.raw)
			}
			// Resend before PUBREL: acknowledged again, not delivered again.
			p.publish(pub{topic: "q/2", payload: []byte("once"), qos: 2, id: 5, dup: true})
			if rec := p.nextOf(pPubrec); rec.id != 5 {
				t.Fatalf("second PUBREC %v", rec)
			}
			p.ack(pPubrel, 5)
			comp := p.nextOf(pPubcomp)
			if comp.id != 5 || comp.code != 0 {
				t.Fatalf("PUBCOMP %v", comp)
			}
			if tc.v == v311 && !bytes.Equal(comp.raw, []byte{0x70, 2, 0, 5}) {
				t.Fatalf("PUBCOMP bytes % x", comp.raw)
			}

			m := sub.nextOf(pPublish)
			if m.qos != 2 || string(m.payload) != "once" {
				t.Fatalf("subscriber got %v", m)
			}
			sub.ack(pPubrec, m.id)
			rel := sub.nextOf(pPubrel)
			if rel.id != m.id {
				t.Fatalf("PUBREL %v for %d", rel, m.id)
			}
			if tc.v == v311 && !bytes.Equal(rel.raw, []byte{0x62, 2, byte(m.id >> 8), byte(m.id)}) {
				t.Fatalf("PUBREL bytes % x", rel.raw)
			}
			sub.ack(pPubcomp, m.id)

			p.publishAcked(pub{topic: "q/2", payload: []byte("marker"), qos: 2, id: 6})
			if m := sub.receive(); string(m.payload) != "marker" {
				t.Fatalf("got %v, want the marker (the resend was delivered twice?)", m)
			}
		})
	}
}

// TestQoSDowngrade checks delivery at min(publish QoS, subscription QoS).
func TestQoSDowngrade(t *testing.T) {
	t.Parallel()
	for _, tc := range versions {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := startBroker(t, Config{})
			sub, _ := connect(t, addrOf(b), tc.v, connectOpts{id: "sub", clean: true})
			sub.subscribe(1, 1, "d/t")
			p, _ := connect(t, addrOf(b), tc.v, connectOpts{id: "pub", clean: true})
			for _, q := range []byte{0, 1, 2} {
				p.publishAcked(pub{topic: "d/t", payload: []byte{q}, qos: q, id: 3})
				want := min(q, 1)
				if m := sub.receive(); m.qos != want || m.payload[0] != q {
					t.Fatalf("publish qos %d: got %v, want qos %d", q, m, want)
				}
			}
		})
	}
}

// TestOverlappingSubscriptions checks a message matching several filters of
// one client is delivered once, at the highest granted QoS ([MQTT-3.3.4-2]
// in 5.0; 3.1.1 allows one copy per subscription, the broker sends one).
func TestOverlappingSubscriptions(t *testing.T) {
	t.Parallel()
	for _, tc := range versions {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := startBroker(t, Config{})
			sub, _ := connect(t, addrOf(b), tc.v, connectOpts{id: "sub", clean: true})
			sub.subscribe(1, 0, "o/#")
			sub.subscribe(2, 2, "o/+/c")
			sub.subscribe(3, 1, "o/b/c")
			p, _ := connect(t, addrOf(b), tc.v, connectOpts{id: "pub", clean: true})
			p.publishAcked(pub{topic: "o/b/c", payload: []byte("x"), qos: 2, id: 1})
			p.publishAcked(pub{topic: "o/marker", payload: []byte("m"), qos: 0})
			if m := sub.receive(); m.topic != "o/b/c" || m.qos != 2 {
				t.Fatalf("got %v, want o/b/c at qos 2", m)
			}
			if m := sub.receive(); m.topic != "o/marker" {
				t.Fatalf("got %v, want the marker (duplicate delivery?)", m)
			}
		})
	}
}

// TestQoS2PahoClient runs QoS 2 through the full eclipse/paho.golang client,
// as device firmware would.
func TestQoS2PahoClient(t *testing.T) {
	t.Parallel()
	b := startBroker(t, Config{})
	ctx := context.Background()
	got := make(chan *paho.Publish, 1)
	sub := pahoClient(t, b, "paho-sub", func(pr paho.PublishReceived) (bool, error) {
		got <- pr.Packet
		return true, nil
	})
	if _, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "p/#", QoS: 2}}}); err != nil {
		t.Fatal(err)
	}
	p := pahoClient(t, b, "paho-pub", nil)
	res, err := p.Publish(ctx, &paho.Publish{Topic: "p/x", QoS: 2, Payload: []byte("exactly once")})
	if err != nil || res.ReasonCode != 0 {
		t.Fatalf("publish: %v %+v", err, res)
	}
	select {
	case m := <-got:
		if m.QoS != 2 || string(m.Payload) != "exactly once" || m.Topic != "p/x" {
			t.Fatalf("got %+v", m)
		}
	case <-ctxTimeout(t).Done():
		t.Fatal("no message")
	}
}

// pahoClient connects an eclipse/paho.golang client to the broker.
func pahoClient(t *testing.T, b *Broker, id string, onPublish func(paho.PublishReceived) (bool, error)) *paho.Client {
	t.Helper()
	conn, err := net.Dial("tcp", b.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cfg := paho.ClientConfig{ClientID: id, Conn: conn}
	if onPublish != nil {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){onPublish}
	}
	c := paho.NewClient(cfg)
	ack, err := c.Connect(ctxTimeout(t), &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30})
	if err != nil || ack.ReasonCode != 0 {
		t.Fatalf("connect %s: %v %+v", id, err, ack)
	}
	t.Cleanup(func() {
		_ = c.Disconnect(&paho.Disconnect{ReasonCode: 0})
		<-c.Done()
	})
	return c
}

// ctxTimeout is a context bounded by the suite's wait, ended with the test.
func ctxTimeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	t.Cleanup(cancel)
	return ctx
}
