package broker

import (
	"bytes"
	"testing"
)

// TestConnack checks the CONNACK of accepted and refused connections,
// byte for byte in 3.1.1 (3.2.2.3) and by reason code in 5.0, and that a
// refused connection is closed ([MQTT-3.2.2-5]).
func TestConnack(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		v      byte
		o      connectOpts
		raw    []byte // 3.1.1 CONNACK
		code   byte   // 5.0 reason code
		closed bool
	}{
		{"mqtt311/accepted", v311, connectOpts{id: "ok", clean: true}, []byte{0x20, 2, 0, 0}, 0, false},
		{"mqtt311/bad credentials", v311, connectOpts{id: "bad", user: "bad", clean: true}, []byte{0x20, 2, 0, 5}, 0, true},
		{"mqtt311/unsupported level", v311, connectOpts{id: "lvl", clean: true, level: 9}, []byte{0x20, 2, 0, 1}, 0, true},
		{"mqtt311/empty id without clean session", v311, connectOpts{id: ""}, []byte{0x20, 2, 0, 2}, 0, true},
		{"mqtt5/accepted", v5, connectOpts{id: "ok", clean: true}, nil, 0, false},
		{"mqtt5/bad credentials", v5, connectOpts{id: "bad", user: "bad", clean: true}, nil, 0x86, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := startBroker(t, Config{})
			c := dial(t, addrOf(b), tc.v)
			ack := c.connect(tc.o)
			if tc.v == v311 && !bytes.Equal(ack.raw, tc.raw) {
				t.Fatalf("CONNACK % x, want % x", ack.raw, tc.raw)
			}
			if tc.v == v5 && ack.code != tc.code {
				t.Fatalf("CONNACK reason %#x, want %#x", ack.code, tc.code)
			}
			if tc.closed {
				if got := c.closed(); len(got) != 0 {
					t.Fatalf("got %v after a refused CONNACK", got)
				}
			}
		})
	}
}
