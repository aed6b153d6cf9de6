package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"

	"github.com/skybridgehq/skybridge/objectstore"
	"github.com/skybridgehq/skybridge/store"
)

// A client that reconnects with since gets exactly what it missed, then
// the live events, without duplicates, even while writes go on during the
// replay.
func TestRealtimeResume(t *testing.T) {
	t.Parallel()
	forEachRealtimeStore(t, func(t *testing.T, e *rtEnv) {
		ctx := t.Context()
		key := e.key("dev")
		ada := e.signup("dev", "ada@example.com", testUserPassword)
		adaP := objectstore.Principal{UserID: ada.User.ID}
		env := e.env("dev")
		objs := e.node.objects
		create := func(title string) objectstore.Object {
			t.Helper()
			o, err := objs.Create(ctx, env, adaP, "todos", map[string]any{"title": title})
			if err != nil {
				t.Fatal(err)
			}
			return o
		}
		create("seed")

		c := mustDial(t, e.srv, "", rtHeaders(key, ada.AccessToken))
		c.expectOp("ready")
		c.subscribe(map[string]any{"id": "s", "collection": "todos"})
		seen := create("seen")
		if ev := c.nextEvent(); ev.id != seen.ID() {
			t.Fatalf("live event %+v", ev)
		}
		_ = c.ws.Close(websocket.StatusNormalClosure, "bye")

		var missed []string
		for i := range 5 {
			missed = append(missed, create(fmt.Sprint("missed ", i)).ID())
		}

		c = mustDial(t, e.srv, "", rtHeaders(key, ada.AccessToken))
		c.expectOp("ready")
		// Writes racing with the replay.
		var wg sync.WaitGroup
		racing := make(chan string, 20)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				o, err := objs.Create(context.Background(), env, adaP, "todos", map[string]any{"title": fmt.Sprint("racing ", i)})
				if err != nil {
					t.Error(err)
					return
				}
				racing <- o.ID()
			}
		}()
		c.send(map[string]any{"op": "subscribe", "id": "s", "collection": "todos", "since": seen.Seq()})
		var got []string
		seqs := map[int64]bool{}
		acked := false
		for len(got) < 25 || !acked {
			m := c.next()
			if m["op"] == "subscribed" {
				acked = true
				continue
			}
			if m["op"] != nil {
				t.Fatalf("unexpected %v", m)
			}
			seq := int64(m["_seq"].(float64))
			if seqs[seq] {
				t.Fatalf("_seq %d delivered twice", seq)
			}
			seqs[seq] = true
			got = append(got, m["object"].(map[string]any)["_id"].(string))
		}
		wg.Wait()
		close(racing)
		if strings.Join(got[:5], ",") != strings.Join(missed, ",") {
			t.Errorf("replay began with %v, want the 5 missed %v", got[:5], missed)
		}
		want := map[string]bool{}
		for _, id := range missed {
			want[id] = true
		}
		for id := range racing {
			want[id] = true
		}
		for _, id := range got {
			if !want[id] {
				t.Errorf("unexpected object %s", id)
			}
			delete(want, id)
		}
		if len(want) != 0 {
			t.Errorf("never delivered: %v", want)
		}
		// And live from there.
		live := create("live")
		if ev := c.nextEvent(); ev.id != live.ID() {
			t.Fatalf("after resume: %+v", ev)
		}
	})
}

// A client that does not read gets its bounded buffer, then a close with
// 1008 "slow consumer"; the server never holds more than the buffer.
func TestRealtimeSlowConsumer(t *testing.T) {
	t.Parallel()
	e := newRealtimeEnv(t, nil)
	key, srvKey := e.app.keys(t, "dev")
	c := mustDial(t, e.srv, "", http.Header{AppKeyHeader: {key}, ServerKeyHeader: {srvKey}})
	c.expectOp("ready")
	c.subscribe(map[string]any{"id": "s", "collection": "flood"})

	// 3000 events of 8 KiB: 24 MiB, more than the socket buffers and the
	// connection's queue hold together, published without reading.
	const n = 3000
	body := strings.Repeat("x", 8<<10)
	db := store.EnvDBName(e.app.ID, "dev")
	for i := range n {
		e.node.bus.Publish(t.Context(), objectstore.Change{DB: db, Collection: "flood", Type: objectstore.Created,
			Object: objectstore.Object{"_id": fmt.Sprint("o", i), "_seq": int64(i + 1), "_v": int64(1), "body": body}})
	}
	received := 0
	for {
		m, err := c.read()
		if err != nil {
			if websocket.CloseStatus(err) != websocket.StatusPolicyViolation || !strings.Contains(err.Error(), reasonSlowConsumer) {
				t.Fatalf("connection ended with %v, want 1008 %q", err, reasonSlowConsumer)
			}
			break
		}
		if m["sub"] != "s" {
			t.Fatalf("unexpected %v", m)
		}
		received++
	}
	if received >= n {
		t.Errorf("received all %d events: nothing was bounded", received)
	}
	t.Logf("received %d of %d events before the close", received, n)
}

// Two API nodes over one store and one redis-server, each with its own
// bus: a write on one reaches a subscriber on the other, once.
func TestRealtimeTwoNodes(t *testing.T) {
	t.Parallel()
	channel := "test:" + store.NewID()
	e := newRealtimeEnvRedis(t, nil, sharedRedisClient(t), channel)
	other, _ := newRealtimeNode(t, e.p, e.kr, sharedRedisClient(t), channel)
	key := e.key("dev")
	ada := e.signup("dev", "ada@example.com", testUserPassword)
	adaP := objectstore.Principal{UserID: ada.User.ID}
	env := e.env("dev")
	ctx := t.Context()
	if _, err := e.node.objects.Create(ctx, env, adaP, "todos", map[string]any{"title": "seed"}); err != nil {
		t.Fatal(err)
	}

	// Ada listens on node B (the key and token are checked there too).
	cb := mustDial(t, other.srv, "", rtHeaders(key, ada.AccessToken))
	cb.expectOp("ready")
	cb.subscribe(map[string]any{"id": "s", "collection": "todos"})
	// And on node A.
	ca := mustDial(t, e.srv, "", rtHeaders(key, ada.AccessToken))
	ca.expectOp("ready")
	ca.subscribe(map[string]any{"id": "s", "collection": "todos"})

	onA, err := e.node.objects.Create(ctx, env, adaP, "todos", map[string]any{"title": "written on A"})
	if err != nil {
		t.Fatal(err)
	}
	onB, err := other.objects.Create(ctx, env, adaP, "todos", map[string]any{"title": "written on B"})
	if err != nil {
		t.Fatal(err)
	}
	// Each connection gets both writes exactly once, whichever node made
	// them (the order across nodes is Redis's).
	for name, c := range map[string]*rtClient{"A": ca, "B": cb} {
		got := map[string]int64{}
		for range 2 {
			ev := c.nextEvent()
			if _, dup := got[ev.id]; dup {
				t.Fatalf("node %s: %s delivered twice", name, ev.id)
			}
			got[ev.id] = ev.seq
		}
		if got[onA.ID()] != onA.Seq() || got[onB.ID()] != onB.Seq() {
			t.Errorf("node %s got %v", name, got)
		}
	}
	// Nothing more: a marker written on B is the next event on A.
	marker, err := other.objects.Create(ctx, env, adaP, "todos", map[string]any{"title": "marker"})
	if err != nil {
		t.Fatal(err)
	}
	if ev := ca.nextEvent(); ev.id != marker.ID() {
		t.Errorf("node A after the pair: %+v", ev)
	}

	if ev := cb.nextEvent(); ev.id != marker.ID() {
		t.Errorf("node B after the pair: %+v", ev)
	}
	// Closing node B's bus ends its connections with 1001.
	_ = other.bus.Close()
	if m, err := cb.read(); websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Errorf("after bus close: %v %v", m, err)
	}
}

// Changes whose events never arrive (a node cut off from Redis) are found
// by the next event that does: its _seq jumps, and the subscription reads
// what it missed from the change feed, in order, without duplicates.
func TestRealtimeFillsGapsFromTheFeed(t *testing.T) {
	t.Parallel()
	forEachRealtimeStore(t, func(t *testing.T, e *rtEnv) {
		ctx := t.Context()
		ada := e.signup("dev", "ada@example.com", testUserPassword)
		adaP := objectstore.Principal{UserID: ada.User.ID}
		env := e.env("dev")
		if _, err := e.node.objects.Create(ctx, env, adaP, "todos", map[string]any{"title": "seed"}); err != nil {
			t.Fatal(err)
		}
		c := mustDial(t, e.srv, "", rtHeaders(e.key("dev"), ada.AccessToken))
		c.expectOp("ready")
		c.subscribe(map[string]any{"id": "s", "collection": "todos"})

		// A writer whose changes reach no bus.
		silent := objectstore.NewService(e.p, objectstore.Config{})
		var want []string
		for i := range 3 {
			o, err := silent.Create(ctx, env, adaP, "todos", map[string]any{"title": fmt.Sprint("unannounced ", i)})
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, fmt.Sprint(o.ID(), "@", o.Seq()))
		}
		o, err := e.node.objects.Create(ctx, env, adaP, "todos", map[string]any{"title": "announced"})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, fmt.Sprint(o.ID(), "@", o.Seq()))
		var got []string
		for range want {
			ev := c.nextEvent()
			got = append(got, fmt.Sprint(ev.id, "@", ev.seq))
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("got %v, want %v", got, want)
		}
		// Then live as usual, nothing repeated.
		next, err := e.node.objects.Create(ctx, env, adaP, "todos", map[string]any{"title": "next"})
		if err != nil {
			t.Fatal(err)
		}
		if ev := c.nextEvent(); ev.id != next.ID() {
			t.Fatalf("after the gap: %+v", ev)
		}
	})
}
