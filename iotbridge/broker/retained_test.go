package broker

import (
	"testing"
)

// TestRetained covers set, replace and clear of a retained message, and
// that the retain flag is set on delivery from the store but not on live
// forwarding to an existing 3.1.1 subscription ([MQTT-3.3.1-6], [MQTT-3.3.1-9]).
func TestRetained(t *testing.T) {
	t.Parallel()
	for _, tc := range versions {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := startBroker(t, Config{})
			pubc, _ := connect(t, addrOf(b), tc.v, connectOpts{id: "pub", clean: true})

			// A live subscriber sees the retained publish with retain=0.
			live, _ := connect(t, addrOf(b), tc.v, connectOpts{id: "live", clean: true})
			live.subscribe(1, 1, "r/t")

			pubc.publishAcked(pub{topic: "r/t", payload: []byte("one"), qos: 1, retain: true})
			if m := live.receive(); string(m.payload) != "one" || m.retain {
				t.Fatalf("live delivery %v: want payload one, retain=0", m)
			}

			// Set: a new subscriber gets it with retain=1.
			s1, _ := connect(t, addrOf(b), tc.v, connectOpts{id: "s1", clean: true})
			s1.subscribe(1, 1, "r/#")
			if m := s1.receive(); string(m.payload) != "one" || !m.retain || m.topic != "r/t" {
				t.Fatalf("retained delivery %v: want r/t one retain=1", m)
			}

			// Replace.
			pubc.publishAcked(pub{topic: "r/t", payload: []byte("two"), qos: 0, retain: true})
			s2, _ := connect(t, addrOf(b), tc.v, connectOpts{id: "s2", clean: true})
			s2.subscribe(1, 1, "r/+")
			if m := s2.receive(); string(m.payload) != "two" || !m.retain {
				t.Fatalf("replaced retained %v: want two retain=1", m)
			}

			// Clear with an empty retained payload; the clearing message is
			// itself forwarded to live subscribers ([MQTT-3.3.1-10]).
			pubc.publishAcked(pub{topic: "r/t", payload: nil, qos: 1, id: 7, retain: true})
			if m := live.receive(); string(m.payload) != "two" {
				t.Fatalf("live got %v, want two", m)
			}
			if m := live.receive(); len(m.payload) != 0 {
				t.Fatalf("live got %v, want the empty clearing message", m)
			}
			s3, _ := connect(t, addrOf(b), tc.v, connectOpts{id: "s3", clean: true})
			s3.subscribe(1, 1, "r/#")
			// Nothing retained is left: the first message s3 sees is a
			// marker published after its SUBSCRIBE was acknowledged.
			s3.publishAcked(pub{topic: "r/marker", payload: []byte("m"), qos: 1, id: 2})
			if m := s3.receive(); m.topic != "r/marker" {
				t.Fatalf("after clear, s3 got %v first, want the marker", m)
			}
		})
	}
}

// TestRetainedServerPublish checks the server-side Publish stores retained
// messages like a client publish does.
func TestRetainedServerPublish(t *testing.T) {
	t.Parallel()
	b := startBroker(t, Config{})
	if err := b.Publish("srv/state", []byte("on"), true, 1); err != nil {
		t.Fatal(err)
	}
	for _, tc := range versions {
		c, _ := connect(t, addrOf(b), tc.v, connectOpts{id: "c" + tc.name, clean: true})
		c.subscribe(1, 1, "srv/state")
		if m := c.receive(); string(m.payload) != "on" || !m.retain || m.qos != 1 {
			t.Fatalf("%s: got %v, want retained on at qos 1", tc.name, m)
		}
	}
}
