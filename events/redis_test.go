package events

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/skybridgehq/skybridge/internal/testenv"
	"github.com/skybridgehq/skybridge/objectstore"
	"github.com/skybridgehq/skybridge/store"
)

// redisClient returns a client of the shared redis-server.
func redisClient(t *testing.T) redis.UniversalClient {
	t.Helper()
	r, err := testenv.SharedRedis()
	if err != nil {
		t.Fatal(err)
	}
	opts, err := redis.ParseURL(r.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// startBus starts a bus on channel over its own Redis client.
func startBus(t *testing.T, channel string) *Bus {
	t.Helper()
	b := quietBus(Config{Redis: redisClient(t), Channel: channel})
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func waitIDs(t *testing.T, c *collector, want []string) {
	t.Helper()
	ok := testenv.WaitFor(t.Context(), 10*time.Second, func() bool { return len(c.ids()) >= len(want) })
	if got := c.ids(); !ok || !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// A change published on node A reaches node B's subscribers through Redis,
// in order and with its object intact; A's own subscribers get it once.
func TestRedisFanOut(t *testing.T) {
	t.Parallel()
	channel := "test:" + store.NewID()
	a, b := startBus(t, channel), startBus(t, channel)
	if a.NodeID() == b.NodeID() {
		t.Fatal("two buses share a node id")
	}
	var onA, onB, onBOther collector
	a.Subscribe("app_dev", "todos", onA.handle)
	b.Subscribe("app_dev", "todos", onB.handle)
	b.Subscribe("app_dev", "notes", onBOther.handle)
	ctx := context.Background()
	var want []string
	for i := range 20 {
		id := fmt.Sprint("t", i)
		want = append(want, id)
		ch := change("app_dev", "todos", id, int64(i+1))
		ch.Object["n"] = int64(i)
		ch.Object["tags"] = []any{"x", 1.5}
		a.Publish(ctx, ch)
	}
	// A marker on another collection, published after: once B has it,
	// everything before it has arrived too.
	a.Publish(ctx, change("app_dev", "notes", "marker", 1))
	waitIDs(t, &onBOther, []string{"marker"})
	waitIDs(t, &onB, want)
	if got := onA.ids(); !slices.Equal(got, want) {
		t.Errorf("publisher's own subscriber got %v (duplicates from Redis?)", got)
	}
	onB.mu.Lock()
	got := onB.got[7]
	onB.mu.Unlock()
	if got.Type != objectstore.Created || got.Object["n"] != int64(7) || got.Object.Seq() != 8 ||
		fmt.Sprint(got.Object["tags"]) != "[x 1.5]" {
		t.Errorf("object arrived as %#v", got)
	}

	// Close drains and stops; B gets nothing after A is closed.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	a.Publish(ctx, change("app_dev", "todos", "late", 99))
	b.Publish(ctx, change("app_dev", "notes", "marker2", 2))
	waitIDs(t, &onBOther, []string{"marker", "marker2"})
	if n := len(onB.ids()); n != 20 {
		t.Errorf("B got %d changes, want 20", n)
	}
}

// Buses on different channels do not hear each other; garbage on the
// channel is ignored.
func TestRedisChannelsAndGarbage(t *testing.T) {
	t.Parallel()
	ch1, ch2 := "test:"+store.NewID(), "test:"+store.NewID()
	a, b := startBus(t, ch1), startBus(t, ch2)
	var onB collector
	b.Subscribe("app_dev", "todos", onB.handle)
	rc := redisClient(t)
	ctx := context.Background()
	a.Publish(ctx, change("app_dev", "todos", "wrong-channel", 1))
	for _, junk := range []string{"", "{", `{"node":"x"}`, `{"node":"x","db":"app_dev","collection":"todos","type":"exploded","object":{}}`} {
		if err := rc.Publish(ctx, ch2, junk).Err(); err != nil {
			t.Fatal(err)
		}
	}
	c := change("app_dev", "todos", "right", 1)
	data, err := encodeMessage("someone-else", c)
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Publish(ctx, ch2, data).Err(); err != nil {
		t.Fatal(err)
	}
	waitIDs(t, &onB, []string{"right"})
}

// Start fails when Redis does not answer.
func TestRedisStartFails(t *testing.T) {
	t.Parallel()
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), MaxRetries: -1, DialTimeout: time.Second})
	defer rc.Close()
	b := quietBus(Config{Redis: rc})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := b.Start(ctx); err == nil {
		t.Fatal("Start succeeded without Redis")
	}
	_ = b.Close()
}

// FuzzDecodeMessage: whatever arrives on the channel, decoding does not
// panic, and what it accepts is a valid change that encodes and decodes
// to itself.
func FuzzDecodeMessage(f *testing.F) {
	for _, s := range []string{
		`{"node":"n1","db":"app_dev","collection":"todos","type":"created","object":{"_id":"a","_seq":3,"n":1.5}}`,
		`{"node":"n1","db":"app_dev","collection":"todos","type":"deleted","object":{"_id":"a","_deleted":true}}`,
		`{"node":"","db":"x","collection":"y","type":"updated","object":{}}`,
		`{"node":"n","db":"../x","collection":"y","type":"updated","object":{}}`,
		`{"node":"n","db":"a_b","collection":"$y","type":"updated","object":null}`,
		`{} {}`, `[]`, `null`, `"x"`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		node, ch, err := decodeMessage(data)
		if err != nil {
			return
		}
		if node == "" || ch.Object == nil || ch.DB == "" || ch.Collection == "" {
			t.Fatalf("accepted %q as %q %#v", data, node, ch)
		}
		again, err := encodeMessage(node, ch)
		if err != nil {
			t.Fatal(err)
		}
		node2, ch2, err := decodeMessage(again)
		if err != nil || node2 != node || fmt.Sprint(ch2) != fmt.Sprint(ch) {
			t.Fatalf("round trip of %q: %q %v %v", data, node2, ch2, err)
		}
	})
}
