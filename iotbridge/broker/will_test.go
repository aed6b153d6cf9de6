package broker

import (
	"testing"
)

// TestWill checks the last will is published when a connection ends without
// DISCONNECT ([MQTT-3.1.2-8]) and is discarded on a normal DISCONNECT
// ([MQTT-3.1.2-10]).
func TestWill(t *testing.T) {
	t.Parallel()
	for _, tc := range versions {
		for _, abnormal := range []bool{true, false} {
			name := tc.name + "/clean-disconnect"
			if abnormal {
				name = tc.name + "/abnormal"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				b := startBroker(t, Config{})
				watcher, _ := connect(t, addrOf(b), tc.v, connectOpts{id: "watcher", clean: true})
				watcher.subscribe(1, 1, "will/#")

				dev, _ := connect(t, addrOf(b), tc.v, connectOpts{id: "dev", clean: true, keepalive: 60,
					will: &willOpts{topic: "will/dev", payload: []byte("gone"), qos: 1}})
				if abnormal {
					dev.drop()
				} else {
					dev.disconnect()
				}
				eventually(t, "broker sees dev gone", func() bool { return b.connectionClosed("dev") })

				// The will, if any, is published before the broker drops the
				// connection; a marker published now arrives after it.
				watcher.publishAcked(pub{topic: "will/marker", payload: []byte("m"), qos: 1, id: 9})
				first := watcher.receive()
				if abnormal {
					if first.topic != "will/dev" || string(first.payload) != "gone" || first.qos != 1 {
						t.Fatalf("got %v, want the will on will/dev at qos 1", first)
					}
					if m := watcher.receive(); m.topic != "will/marker" {
						t.Fatalf("got %v after the will, want the marker", m)
					}
				} else if first.topic != "will/marker" {
					t.Fatalf("got %v, want no will before the marker", first)
				}
			})
		}
	}
}

// TestWillRetained checks a will with the retain flag is kept as the
// topic's retained message.
func TestWillRetained(t *testing.T) {
	t.Parallel()
	b := startBroker(t, Config{})
	dev, _ := connect(t, addrOf(b), v311, connectOpts{id: "dev", clean: true,
		will: &willOpts{topic: "status/dev", payload: []byte("offline"), qos: 1, retain: true}})
	dev.drop()
	eventually(t, "broker sees dev gone", func() bool { return b.connectionClosed("dev") })
	c, _ := connect(t, addrOf(b), v5, connectOpts{id: "c", clean: true})
	c.subscribe(1, 1, "status/+")
	if m := c.receive(); string(m.payload) != "offline" || !m.retain {
		t.Fatalf("got %v, want retained offline", m)
	}
}
