package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/skybridgehq/skybridge/objectstore"
	"github.com/skybridgehq/skybridge/store"
)

// Bounds of the Redis fan-out.
const (
	// maxMessageBytes bounds a message read from Redis: an object (at most
	// objectstore's 1 MiB by default) and its envelope.
	maxMessageBytes = 4 << 20
	// publishTimeout bounds one PUBLISH.
	publishTimeout = 5 * time.Second
	// drainTimeout bounds sending the outbox at Close.
	drainTimeout = 5 * time.Second
	// maxBackoff bounds the wait between failed receives while Redis is
	// away.
	maxBackoff = 5 * time.Second
)

// message is a change on the Redis channel.
type message struct {
	// Node is the publishing bus's NodeID.
	Node       string         `json:"node"`
	DB         string         `json:"db"`
	Collection string         `json:"collection"`
	Type       string         `json:"type"`
	Object     map[string]any `json:"object"`
}

// encodeMessage renders ch as published by node.
func encodeMessage(node string, ch objectstore.Change) ([]byte, error) {
	data, err := json.Marshal(message{Node: node, DB: ch.DB, Collection: ch.Collection, Type: string(ch.Type), Object: ch.Object})
	if err != nil {
		return nil, fmt.Errorf("events: encode change of %s/%s: %w", ch.DB, ch.Collection, err)
	}
	return data, nil
}

// decodeMessage reads a message from the channel: the publishing node and
// the change, its object in store's normalized shape. Anything else on the
// channel is an error.
func decodeMessage(data []byte) (node string, ch objectstore.Change, err error) {
	if len(data) > maxMessageBytes {
		return "", ch, fmt.Errorf("events: message of %d bytes is over %d", len(data), maxMessageBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m message
	if err := dec.Decode(&m); err != nil {
		return "", ch, fmt.Errorf("events: decode message: %w", err)
	}
	if dec.More() {
		return "", ch, errors.New("events: trailing data after the message")
	}
	switch {
	case m.Node == "":
		return "", ch, errors.New("events: message without node")
	case store.ValidDBName(m.DB) != nil:
		return "", ch, fmt.Errorf("events: message with database %q", m.DB)
	case objectstore.ValidCollectionName(m.Collection) != nil:
		return "", ch, fmt.Errorf("events: message with collection %q", m.Collection)
	case m.Object == nil:
		return "", ch, errors.New("events: message without object")
	}
	t := objectstore.ChangeType(m.Type)
	switch t {
	case objectstore.Created, objectstore.Updated, objectstore.Deleted:
	default:
		return "", ch, fmt.Errorf("events: message with change type %q", m.Type)
	}
	obj, _ := store.Normalize(m.Object).(map[string]any)
	return m.Node, objectstore.Change{DB: m.DB, Collection: m.Collection, Type: t, Object: obj}, nil
}

// subscribe subscribes to channel and waits for Redis to confirm.
func subscribe(ctx context.Context, rc redis.UniversalClient, channel string) (*redis.PubSub, error) {
	ps := rc.Subscribe(ctx, channel)
	if _, err := ps.Receive(ctx); err != nil {
		_ = ps.Close()
		return nil, fmt.Errorf("events: subscribe to Redis channel %q: %w", channel, err)
	}
	return ps, nil
}

// publishLoop sends the outbox to Redis in order until Close closes it.
func (b *Bus) publishLoop(ctx context.Context) {
	var drainBy time.Time
	for ch := range b.outbox {
		pctx, cancel := context.WithTimeout(ctx, publishTimeout)
		if b.closedNow() {
			// Draining after Close: the receiver is still up, but
			// the whole drain is bounded.
			if drainBy.IsZero() {
				drainBy = time.Now().Add(drainTimeout)
			}
			cancel()
			pctx, cancel = context.WithDeadline(ctx, drainBy)
		}
		b.send(pctx, ch)
		cancel()
	}
}

func (b *Bus) send(ctx context.Context, ch objectstore.Change) {
	data, err := encodeMessage(b.cfg.NodeID, ch)
	if err == nil {
		err = b.cfg.Redis.Publish(ctx, b.cfg.Channel, data).Err()
	}
	if err != nil {
		b.log.Warn("publish change to Redis", "db", ch.DB, "collection", ch.Collection, "err", err)
	}
}

func (b *Bus) closedNow() bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.closed
}

// receiveLoop delivers the other nodes' changes to local subscribers
// until ctx ends. go-redis reconnects and resubscribes by itself after a
// connection error; the loop backs off while Redis is away.
func (b *Bus) receiveLoop(ctx context.Context, ps *redis.PubSub) {
	backoff := 50 * time.Millisecond
	for {
		msg, err := ps.Receive(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			b.log.Warn("receive from Redis; changes of other nodes may be missed", "err", err)
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = 50 * time.Millisecond
		m, ok := msg.(*redis.Message)
		if !ok {
			continue // subscription confirmations, pongs
		}
		node, ch, err := decodeMessage([]byte(m.Payload))
		if err != nil {
			b.log.Warn("ignored a malformed message on the events channel", "channel", m.Channel, "err", err)
			continue
		}
		if node == b.cfg.NodeID {
			continue // delivered locally when published
		}
		b.deliver(ch)
	}
}
