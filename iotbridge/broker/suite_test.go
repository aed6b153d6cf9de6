package broker

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// startBroker starts a broker on 127.0.0.1:0 with the suite's allow-all
// hook (denying the topics in deny) and stops it when the test ends.
func startBroker(t testing.TB, cfg Config, deny ...string) *Broker {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	if cfg.Logger == nil {
		cfg.Logger = DiscardLogger()
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := &allowHook{deny: map[string]bool{}}
	for _, d := range deny {
		h.deny[d] = true
	}
	if err := b.AddHook(h, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return b
}

// eventually polls cond until it holds or the wait bound passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, waitFor)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not a wait for an event
	}
}

// connectionClosed reports whether the broker no longer has a live connection
// for the client id (its session may remain).
func (b *Broker) connectionClosed(id string) bool {
	cl, ok := b.srv.Clients.Get(id)
	return !ok || cl.Closed()
}

// addrOf is the broker's address for dialing.
func addrOf(b *Broker) net.Addr { return b.Addr() }

// inflight is the number of QoS 1 and 2 messages the broker holds for the
// client's session.
func (b *Broker) inflight(id string) int {
	cl, ok := b.srv.Clients.Get(id)
	if !ok {
		return 0
	}
	return cl.State.Inflight.Len()
}

// sessionGone reports whether the broker holds no session for the client
// id any more.
func (b *Broker) sessionGone(id string) bool {
	_, ok := b.srv.Clients.Get(id)
	return !ok
}

// dropped is how many QoS 1 and 2 messages the broker dropped for full
// session queues.
func (b *Broker) dropped() int64 {
	return atomic.LoadInt64(&b.srv.Info.InflightDropped)
}
