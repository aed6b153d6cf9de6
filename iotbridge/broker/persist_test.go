package broker

import (
	"context"
	"path/filepath"
	"testing"
)

// startPersistent starts a broker with its state in path; stop it with
// stopBroker (the test's cleanup does it too).
func startPersistent(t *testing.T, path string) *Broker {
	t.Helper()
	b, err := New(Config{Addr: "127.0.0.1:0", Logger: DiscardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.AddHook(&allowHook{deny: map[string]bool{}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Persist(path); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopBroker(t, b) })
	return b
}

// stopBroker shuts b down gracefully.
func stopBroker(t *testing.T, b *Broker) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// TestPersistenceSurvivesRestart restarts a broker on its state file
// (graceful Shutdown, then New + Start on the same file) and checks that
// a persistent session comes back with its subscription and the QoS 1
// message queued for it, that a retained message is still retained, that
// a QoS 1 message delivered but not acknowledged before the restart is
// delivered again with DUP set, and that acknowledged messages are not
// delivered twice.
func TestPersistenceSurvivesRestart(t *testing.T) {
	t.Parallel()
	for _, tc := range versions {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "mqtt", "state.db")
			b := startPersistent(t, path)

			// A persistent session subscribes and goes away.
			off, _ := connect(t, addrOf(b), tc.v, persistent(tc.v, "offline"))
			off.subscribe(1, 1, "queue/#")
			off.disconnect()
			eventually(t, "disconnect seen", func() bool { return b.connectionClosed("offline") })

			// Another stays connected and gets a message it never acks.
			slow, _ := connect(t, addrOf(b), tc.v, persistent(tc.v, "slow"))
			slow.subscribe(1, 1, "slow")

			pub, _ := connect(t, addrOf(b), tc.v, connectOpts{id: "pub", clean: true, keepalive: 60})
			pub.publishAcked(pub1("retained/1", "kept", true, 1))
			pub.publishAcked(pub1("queue/a", "while you were away", false, 2))
			pub.publishAcked(pub1("slow", "unacked", false, 3))
			if m := slow.nextOf(pPublish); string(m.payload) != "unacked" || m.dup {
				t.Fatalf("first delivery %v", m)
			}
			pub.disconnect()

			stopBroker(t, b)
			b = startPersistent(t, path)

			// The offline session: present, queued message delivered once.
			off, ack := connect(t, addrOf(b), tc.v, persistent(tc.v, "offline"))
			if !ack.present {
				t.Fatal("session not present after the restart")
			}
			if m := off.receive(); m.topic != "queue/a" || string(m.payload) != "while you were away" || m.qos != 1 {
				t.Fatalf("queued message %v", m)
			}
			// The subscription came back too: a new publish reaches it.
			pub, _ = connect(t, addrOf(b), tc.v, connectOpts{id: "pub", clean: true, keepalive: 60})
			pub.publishAcked(pub1("queue/b", "after the restart", false, 4))
			if m := off.receive(); m.topic != "queue/b" {
				t.Fatalf("message after the restart %v", m)
			}

			// The unacknowledged message is delivered again, as a duplicate.
			slow, ack = connect(t, addrOf(b), tc.v, persistent(tc.v, "slow"))
			if !ack.present {
				t.Fatal("slow session not present after the restart")
			}
			if m := slow.receive(); string(m.payload) != "unacked" || !m.dup || m.qos != 1 {
				t.Fatalf("redelivery %v, want the unacked message with DUP", m)
			}

			// The retained message is still there for a new subscriber.
			fresh, _ := connect(t, addrOf(b), tc.v, connectOpts{id: "fresh", clean: true, keepalive: 60})
			fresh.subscribe(1, 1, "retained/#")
			if m := fresh.receive(); string(m.payload) != "kept" || !m.retain {
				t.Fatalf("retained message %v", m)
			}

			// Acknowledged messages are gone from the state: another
			// restart delivers nothing more to the two sessions.
			off.disconnect()
			slow.disconnect()
			fresh.disconnect()
			pub.disconnect()
			stopBroker(t, b)
			b = startPersistent(t, path)
			for _, id := range []string{"offline", "slow"} {
				c, ack := connect(t, addrOf(b), tc.v, persistent(tc.v, id))
				if !ack.present {
					t.Fatalf("%s: session not present after the second restart", id)
				}
				c.ping()
				if m := c.next(); m.typ != pPingresp {
					t.Fatalf("%s: got %v after the second restart, want nothing before PINGRESP", id, m)
				}
			}
		})
	}
}

// TestPersistenceForgetsCleanSessions checks that a clean session that
// replaces a persistent one leaves nothing to restore.
func TestPersistenceForgetsCleanSessions(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	b := startPersistent(t, path)
	c, _ := connect(t, addrOf(b), v311, persistent(v311, "dev"))
	c.subscribe(1, 1, "x")
	c.disconnect()
	o := persistent(v311, "dev")
	o.clean = true
	c, _ = connect(t, addrOf(b), v311, o)
	c.disconnect()
	eventually(t, "session removed", func() bool { return b.sessionGone("dev") })
	stopBroker(t, b)
	b = startPersistent(t, path)
	if _, ack := connect(t, addrOf(b), v311, persistent(v311, "dev")); ack.present {
		t.Fatal("a session replaced by a clean one came back after the restart")
	}
}

// pub1 is a QoS 1 publish.
func pub1(topic, payload string, retain bool, id uint16) pub {
	return pub{topic: topic, payload: []byte(payload), qos: 1, retain: retain, id: id}
}
