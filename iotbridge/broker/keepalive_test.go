package broker

import (
	"testing"
	"time"
)

// TestKeepaliveTimeout checks the broker closes a connection that is silent
// for one and a half keepalive periods ([MQTT-3.1.2-24] in 3.1.1,
// [MQTT-3.1.2-22] in 5.0) and treats it as abnormal: the will is published.
func TestKeepaliveTimeout(t *testing.T) {
	t.Parallel()
	for _, tc := range versions {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := startBroker(t, Config{})
			watcher, _ := connect(t, addrOf(b), tc.v, connectOpts{id: "watcher", clean: true})
			watcher.subscribe(1, 1, "will/+")
			// From before the CONNECT is sent: the broker's keepalive clock
			// starts when it reads the CONNECT, never earlier, so the lower
			// bound holds however slowly the connect goes through.
			start := time.Now()
			dev, _ := connect(t, addrOf(b), tc.v, connectOpts{id: "dev", clean: true, keepalive: 1,
				will: &willOpts{topic: "will/dev", payload: []byte("timeout"), qos: 1}})
			dev.closed()
			if d := time.Since(start); d < time.Second {
				t.Fatalf("closed after %s, before the keepalive period", d)
			}
			if m := watcher.receive(); m.topic != "will/dev" {
				t.Fatalf("got %v, want the will", m)
			}
		})
	}
}

// TestKeepalivePing checks PINGREQ gets PINGRESP (exact bytes in 3.1.1) and
// keeps a connection open past its keepalive period.
func TestKeepalivePing(t *testing.T) {
	t.Parallel()
	for _, tc := range versions {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := startBroker(t, Config{})
			dev, _ := connect(t, addrOf(b), tc.v, connectOpts{id: "dev", clean: true, keepalive: 1})
			tick := time.NewTicker(500 * time.Millisecond) // the client's keepalive schedule
			defer tick.Stop()
			for range 5 { // 2.5 s: past 1.5 keepalive periods
				<-tick.C
				dev.ping()
				m := dev.nextOf(pPingresp)
				if tc.v == v311 && (len(m.raw) != 2 || m.raw[0] != 0xD0 || m.raw[1] != 0) {
					t.Fatalf("PINGRESP bytes % x", m.raw)
				}
			}
			if b.connectionClosed("dev") {
				t.Fatal("connection closed although the client pinged")
			}
		})
	}
}
