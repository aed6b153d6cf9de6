package broker

import (
	"strconv"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
)

// persistent returns CONNECT options for a session that outlives its
// connection: clean session 0 in 3.1.1, clean start 0 with a session expiry
// interval in 5.0.
func persistent(v byte, id string) connectOpts {
	o := connectOpts{id: id, keepalive: 60}
	if v == v5 {
		exp := uint32(300)
		o.props = &packets.Properties{SessionExpiryInterval: &exp}
	}
	return o
}

// TestSessionPresent checks the CONNACK session present flag
// ([MQTT-3.2.2-1..3]) across new, resumed and cleaned sessions.
func TestSessionPresent(t *testing.T) {
	t.Parallel()
	for _, tc := range versions {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := startBroker(t, Config{})
			steps := []struct {
				name  string
				clean bool
				want  bool
			}{
				{"new persistent session", false, false},
				{"resumed", false, true},
				{"clean discards it", true, false},
				{"nothing left to resume", false, false},
			}
			for _, s := range steps {
				o := persistent(tc.v, "dev")
				o.clean = s.clean
				if s.clean {
					// In 5.0 clean start only discards the old session; the
					// new one ends with the connection when its expiry is 0.
					o.props = nil
				}
				c, ack := connect(t, addrOf(b), tc.v, o)
				if ack.present != s.want {
					t.Fatalf("%s: session present %v, want %v", s.name, ack.present, s.want)
				}
				if tc.v == v311 && ack.raw[2] != boolByte(s.want) {
					t.Fatalf("%s: CONNACK bytes % x", s.name, ack.raw)
				}
				c.disconnect()
				if s.clean {
					// The session ends with the connection; mochi removes it
					// just after closing the connection.
					eventually(t, "session removed", func() bool { return b.sessionGone("dev") })
				}
				eventually(t, "disconnect seen", func() bool { return b.connectionClosed("dev") })
			}
		})
	}
}

// TestSessionExpiryZero checks an MQTT 5 session with expiry 0 ends with
// its connection even with clean start 0.
func TestSessionExpiryZero(t *testing.T) {
	t.Parallel()
	b := startBroker(t, Config{})
	c, _ := connect(t, addrOf(b), v5, connectOpts{id: "dev"})
	c.subscribe(1, 1, "x")
	c.disconnect()
	eventually(t, "session removed", func() bool { return b.sessionGone("dev") })
	_, ack := connect(t, addrOf(b), v5, connectOpts{id: "dev"})
	if ack.present {
		t.Fatal("session present after a session with expiry 0 ended")
	}
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// TestPersistentQueue checks QoS 1 messages published while a persistent
// session's client is offline are delivered, in order, when it resumes,
// with its subscriptions kept.
func TestPersistentQueue(t *testing.T) {
	t.Parallel()
	for _, tc := range versions {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := startBroker(t, Config{})
			sub, _ := connect(t, addrOf(b), tc.v, persistent(tc.v, "sub"))
			sub.subscribe(1, 1, "pq/#")
			sub.disconnect()
			eventually(t, "disconnect seen", func() bool { return b.connectionClosed("sub") })

			// Enough messages that many share a creation second: the
			// order must not depend on the clock (see conformance.go).
			const n = 200
			p, _ := connect(t, addrOf(b), tc.v, connectOpts{id: "pub", clean: true})
			for i := range n {
				p.publishAcked(pub{topic: "pq/t", payload: []byte(strconv.Itoa(i)), qos: 1, id: uint16(i + 1)})
			}
			// mochi acknowledges a publish before it queues it; resume only
			// once all are queued (see the README on resumption races).
			eventually(t, "all queued", func() bool { return b.inflight("sub") == n })
			sub, ack := connect(t, addrOf(b), tc.v, persistent(tc.v, "sub"))
			if !ack.present {
				t.Fatal("session not present")
			}
			for i := range n {
				m := sub.receive()
				if string(m.payload) != strconv.Itoa(i) || m.qos != 1 {
					t.Fatalf("got %v, want %d at qos 1", m, i)
				}
			}
			// The subscription survived: a live message arrives too.
			p.publishAcked(pub{topic: "pq/t", payload: []byte("live"), qos: 1, id: 4})
			if m := sub.receive(); string(m.payload) != "live" {
				t.Fatalf("got %v, want live", m)
			}
		})
	}
}

// TestPersistentQueueBounded checks the offline queue keeps at most
// MaxOfflineQueue messages per session and drops the rest.
func TestPersistentQueueBounded(t *testing.T) {
	t.Parallel()
	for _, tc := range versions {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := startBroker(t, Config{MaxOfflineQueue: 2})
			sub, _ := connect(t, addrOf(b), tc.v, persistent(tc.v, "sub"))
			sub.subscribe(1, 1, "pq/#")
			sub.disconnect()
			eventually(t, "disconnect seen", func() bool { return b.connectionClosed("sub") })

			p, _ := connect(t, addrOf(b), tc.v, connectOpts{id: "pub", clean: true})
			for i, s := range []string{"a", "b", "c", "d"} {
				p.publishAcked(pub{topic: "pq/t", payload: []byte(s), qos: 1, id: uint16(i + 1)})
			}
			eventually(t, "two queued, two dropped", func() bool { return b.inflight("sub") == 2 && b.dropped() == 2 })
			sub, _ = connect(t, addrOf(b), tc.v, persistent(tc.v, "sub"))
			for _, want := range []string{"a", "b"} {
				if m := sub.receive(); string(m.payload) != want {
					t.Fatalf("got %v, want %s", m, want)
				}
			}
			// The marker must not be refused for a full queue: wait for the
			// broker to take the two acks.
			eventually(t, "acks processed", func() bool { return b.inflight("sub") == 0 })
			p.publishAcked(pub{topic: "pq/marker", payload: []byte("m"), qos: 1, id: 9})
			if m := sub.receive(); m.topic != "pq/marker" {
				t.Fatalf("got %v, want the marker: the queue held more than 2", m)
			}
		})
	}
}

// TestClientIDTakeover checks a second connection with the same client id
// ends the first ([MQTT-3.1.4-3]); an MQTT 5 client is told why (0x8E
// Session taken over).
func TestClientIDTakeover(t *testing.T) {
	t.Parallel()
	for _, tc := range versions {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := startBroker(t, Config{})
			first, _ := connect(t, addrOf(b), tc.v, persistent(tc.v, "dev"))
			first.subscribe(1, 1, "to/dev")
			second, ack := connect(t, addrOf(b), tc.v, persistent(tc.v, "dev"))
			if !ack.present {
				t.Fatal("takeover of a persistent session: session present 0")
			}
			got := first.closed()
			if tc.v == v5 {
				if len(got) != 1 || got[0].typ != pDisconnect || got[0].code != 0x8E {
					t.Fatalf("first connection got %v, want DISCONNECT 0x8E", got)
				}
			} else if len(got) != 0 {
				t.Fatalf("first 3.1.1 connection got %v, want a plain close", got)
			}
			// The new connection inherited the subscription.
			if err := b.Publish("to/dev", []byte("hi"), false, 1); err != nil {
				t.Fatal(err)
			}
			if m := second.receive(); string(m.payload) != "hi" {
				t.Fatalf("got %v", m)
			}
		})
	}
}

// TestDisconnectDevice checks Broker.Disconnect drops every connection of a
// device (id and id:suffix) and no other.
func TestDisconnectDevice(t *testing.T) {
	t.Parallel()
	b := startBroker(t, Config{})
	main, _ := connect(t, addrOf(b), v5, connectOpts{id: "dev1", clean: true})
	sub, _ := connect(t, addrOf(b), v311, connectOpts{id: "dev1:sub", clean: true})
	other, _ := connect(t, addrOf(b), v5, connectOpts{id: "dev10", clean: true})
	b.Disconnect("dev1")
	if got := main.closed(); len(got) != 1 || got[0].code != 0x98 {
		t.Fatalf("dev1 got %v, want DISCONNECT 0x98", got)
	}
	sub.closed()
	other.subscribe(1, 0, "still/here")
}

// TestShutdownClosesConnections checks Shutdown tells MQTT 5 clients why
// (0x8B Server shutting down), closes 3.1.1 clients without a DISCONNECT,
// and returns once the connections are gone.
func TestShutdownClosesConnections(t *testing.T) {
	t.Parallel()
	b := startBroker(t, Config{})
	c5, _ := connect(t, addrOf(b), v5, connectOpts{id: "c5", clean: true})
	c3, _ := connect(t, addrOf(b), v311, connectOpts{id: "c3", clean: true})
	if err := b.Shutdown(ctxTimeout(t)); err != nil {
		t.Fatal(err)
	}
	if got := c5.closed(); len(got) != 1 || got[0].typ != pDisconnect || got[0].code != 0x8B {
		t.Fatalf("MQTT 5 client got %v, want DISCONNECT 0x8B", got)
	}
	if got := c3.closed(); len(got) != 0 {
		t.Fatalf("MQTT 3.1.1 client got %v, want a plain close", got)
	}
}

// TestSessionExpiry checks a disconnected session ends after its expiry:
// the interval the MQTT 5 client asked for, capped by MaxSessionExpiry
// (which the CONNACK then reports, 3.2.2.3.2), and
// MaxSessionExpiry for an MQTT 3.1.1 clean-session-0 session.
func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	for _, tc := range versions {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := startBroker(t, Config{MaxSessionExpiry: time.Second})
			c, ack := connect(t, addrOf(b), tc.v, persistent(tc.v, "dev"))
			if tc.v == v5 && (ack.props.SessionExpiryInterval == nil || *ack.props.SessionExpiryInterval != 1) {
				t.Fatalf("CONNACK session expiry %v, want the cap 1", ack.props.SessionExpiryInterval)
			}
			c.subscribe(1, 1, "x")
			c.disconnect()
			eventually(t, "session expired", func() bool { return b.sessionGone("dev") })
			if _, ack := connect(t, addrOf(b), tc.v, persistent(tc.v, "dev")); ack.present {
				t.Fatal("session present after it expired")
			}
		})
	}
}
