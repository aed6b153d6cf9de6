package events

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"github.com/skybridgehq/skybridge/objectstore"
)

// collector records the changes a handler receives.
type collector struct {
	mu  sync.Mutex
	got []objectstore.Change
}

func (c *collector) handle(ch objectstore.Change) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, ch)
}

func (c *collector) ids() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(c.got))
	for i, ch := range c.got {
		out[i] = ch.Object.ID()
	}
	return out
}

func change(db, col, id string, seq int64) objectstore.Change {
	return objectstore.Change{DB: db, Collection: col, Type: objectstore.Created, Object: objectstore.Object{"_id": id, "_seq": seq}}
}

func quietBus(cfg Config) *Bus {
	cfg.Logger = slog.New(slog.DiscardHandler)
	return New(cfg)
}

// Publish reaches the subscribers of the change's database and collection
// only, at once and in order; Unsubscribe stops delivery.
func TestBusRoutesByTopic(t *testing.T) {
	t.Parallel()
	b := quietBus(Config{})
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var todos, todos2, notes, otherDB collector
	s1 := b.Subscribe("a_dev", "todos", todos.handle)
	b.Subscribe("a_dev", "todos", todos2.handle)
	b.Subscribe("a_dev", "notes", notes.handle)
	b.Subscribe("a_prod", "todos", otherDB.handle)
	ctx := context.Background()
	for i := range 3 {
		b.Publish(ctx, change("a_dev", "todos", fmt.Sprint("t", i), int64(i+1)))
	}
	b.Publish(ctx, change("a_dev", "notes", "n0", 1))
	s1.Unsubscribe()
	s1.Unsubscribe() // twice is fine
	b.Publish(ctx, change("a_dev", "todos", "t3", 4))

	if got := fmt.Sprint(todos.ids()); got != "[t0 t1 t2]" {
		t.Errorf("unsubscribed subscriber got %s", got)
	}
	if got := fmt.Sprint(todos2.ids()); got != "[t0 t1 t2 t3]" {
		t.Errorf("second subscriber got %s", got)
	}
	if got := fmt.Sprint(notes.ids()); got != "[n0]" {
		t.Errorf("notes got %s", got)
	}
	if n := len(otherDB.ids()); n != 0 {
		t.Errorf("another database's subscriber got %d changes", n)
	}
	if n := b.subscribers(); n != 3 {
		t.Errorf("%d subscriptions registered, want 3", n)
	}
}

// After Close, Done is closed, Publish delivers nothing and Start fails.
func TestBusClose(t *testing.T) {
	t.Parallel()
	b := quietBus(Config{})
	var c collector
	b.Subscribe("a_dev", "todos", c.handle)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	select {
	case <-b.Done():
	default:
		t.Fatal("Done not closed")
	}
	b.Publish(context.Background(), change("a_dev", "todos", "x", 1))
	if len(c.ids()) != 0 {
		t.Error("delivered after Close")
	}
	if err := b.Start(context.Background()); err != ErrClosed {
		t.Errorf("Start after Close: %v", err)
	}
}

// Many goroutines publish and subscribe at once (run with -race).
func TestBusConcurrent(t *testing.T) {
	t.Parallel()
	b := quietBus(Config{})
	defer b.Close()
	var wg sync.WaitGroup
	var c collector
	keep := b.Subscribe("a_dev", "todos", c.handle)
	defer keep.Unsubscribe()
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				s := b.Subscribe("a_dev", "todos", func(objectstore.Change) {})
				b.Publish(context.Background(), change("a_dev", "todos", fmt.Sprint(g, "-", i), int64(i)))
				s.Unsubscribe()
			}
		}()
	}
	wg.Wait()
	if n := len(c.ids()); n != 400 {
		t.Errorf("kept subscriber got %d changes, want 400", n)
	}
}

// The handlers of one topic run in the order they subscribed.
func TestBusSubscriptionOrder(t *testing.T) {
	t.Parallel()
	b := quietBus(Config{})
	defer b.Close()
	var order []int
	var subs []*Subscription
	for i := range 5 {
		subs = append(subs, b.Subscribe("a_dev", "todos", func(objectstore.Change) { order = append(order, i) }))
	}
	subs[2].Unsubscribe()
	b.Publish(context.Background(), change("a_dev", "todos", "x", 1))
	if fmt.Sprint(order) != "[0 1 3 4]" {
		t.Errorf("handlers ran in order %v", order)
	}
}
