package cache

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// TwoLevelConfig configures a TwoLevel cache.
type TwoLevelConfig struct {
	// NearTTL is how long a value read from the shared cache stays in the
	// node's memory. Required (> 0).
	NearTTL time.Duration
	// Channel is the Redis pub/sub channel deletions and invalidations
	// travel on. Default: "skybridge:cache:invalidate".
	Channel string
	// Logger receives subscription errors. Default: slog.Default().
	Logger *slog.Logger
}

func (c TwoLevelConfig) withDefaults() TwoLevelConfig {
	if c.Channel == "" {
		c.Channel = "skybridge:cache:invalidate"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// TwoLevel keeps hot keys in process in front of a shared cache (Redis):
// a read the near cache answers costs no round trip. Near entries live
// NearTTL at most; every Delete and InvalidateTags also goes out over
// Redis pub/sub, and every node's TwoLevel applies it to its near cache,
// so a write on one node is seen on the others within the pub/sub delay
// (and at worst NearTTL, should a message be lost while a node
// reconnects). A near copy may also outlive its shared entry's own expiry
// by up to NearTTL: keep NearTTL short (a second or so).
type TwoLevel struct {
	cfg  TwoLevelConfig
	far  Cache
	near *Memory
	pub  redis.UniversalClient
	sub  *redis.PubSub
	wg   sync.WaitGroup
}

var (
	_ Cache  = (*TwoLevel)(nil)
	_ Locker = (*TwoLevel)(nil)
	_ Leaser = (*TwoLevel)(nil)
)

// NewTwoLevel subscribes to cfg.Channel on client and returns near in
// front of far. Close stops the subscription; it closes far and near but
// not client.
func NewTwoLevel(ctx context.Context, far Cache, near *Memory, client redis.UniversalClient, cfg TwoLevelConfig) (*TwoLevel, error) {
	cfg = cfg.withDefaults()
	t := &TwoLevel{cfg: cfg, far: far, near: near, pub: client, sub: client.Subscribe(ctx, cfg.Channel)}
	t.wg.Add(1)
	go t.listen()
	return t, nil
}

// Messages on the channel: "k" or "t", a NUL, then NUL-separated keys or
// tags.
func (t *TwoLevel) listen() {
	defer t.wg.Done()
	for msg := range t.sub.Channel() {
		kind, rest, ok := strings.Cut(msg.Payload, "\x00")
		if !ok {
			continue
		}
		items := strings.Split(rest, "\x00")
		ctx := context.Background()
		switch kind {
		case "k":
			_ = t.near.Delete(ctx, items...)
		case "t":
			t.near.Clear()
		}
	}
}

func (t *TwoLevel) publish(ctx context.Context, kind string, items []string) {
	if len(items) == 0 {
		return
	}
	if err := t.pub.Publish(ctx, t.cfg.Channel, kind+"\x00"+strings.Join(items, "\x00")).Err(); err != nil {
		t.cfg.Logger.Warn("cache: publish a near-cache invalidation", "error", err.Error())
	}
}

// Kind is the shared cache's.
func (t *TwoLevel) Kind() string { return t.far.Kind() }

// Get answers from the near cache, else from the shared one (and keeps the
// value near for NearTTL).
func (t *TwoLevel) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if v, ok, _ := t.near.Get(ctx, key); ok {
		return v, true, nil
	}
	// The near copy is leased too: a deletion that arrives (over pub/sub)
	// between the shared read and the near store voids it.
	lease := t.near.lease()
	v, ok, err := t.far.Get(ctx, key)
	if err == nil && ok {
		_, _ = t.near.SetLeased(ctx, lease, key, v, t.cfg.NearTTL)
	}
	return v, ok, err
}

// Lease takes the shared cache's lease (when it is a Leaser) and one on
// the near cache, which this node's invalidations and those arriving
// over pub/sub void.
func (t *TwoLevel) Lease(ctx context.Context, key string, ttl time.Duration, tags ...string) (Lease, error) {
	l := t.near.lease()
	if fl, ok := t.far.(Leaser); ok {
		far, err := fl.Lease(ctx, key, ttl, tags...)
		if err != nil {
			return Lease{}, err
		}
		l.far = &far
	}
	return l, nil
}

// SetLeased stores into the shared cache under its lease and drops the
// near copies on every node, as Set does. Over a shared cache that is
// not a Leaser, it stores only if the near lease holds, which guards
// against this node's invalidations and those it heard over pub/sub.
func (t *TwoLevel) SetLeased(ctx context.Context, lease Lease, key string, val []byte, ttl time.Duration, tags ...string) (bool, error) {
	if !lease.valid {
		return false, nil
	}
	var (
		stored bool
		err    error
	)
	if fl, ok := t.far.(Leaser); ok {
		if lease.far == nil {
			return false, nil
		}
		stored, err = fl.SetLeased(ctx, *lease.far, key, val, ttl, tags...)
	} else {
		t.near.leaseMu.RLock()
		if t.near.gen.Load() == lease.gen {
			stored, err = true, t.far.Set(ctx, key, val, ttl, tags...)
		}
		t.near.leaseMu.RUnlock()
	}
	if stored {
		_ = t.near.Delete(ctx, key)
		t.publish(ctx, "k", []string{key})
	}
	return stored, err
}

// Set writes the shared cache and drops the near copies on every node.
func (t *TwoLevel) Set(ctx context.Context, key string, val []byte, ttl time.Duration, tags ...string) error {
	err := t.far.Set(ctx, key, val, ttl, tags...)
	_ = t.near.Delete(ctx, key)
	t.publish(ctx, "k", []string{key})
	return err
}

// Delete deletes everywhere.
func (t *TwoLevel) Delete(ctx context.Context, keys ...string) error {
	_ = t.near.Delete(ctx, keys...)
	err := t.far.Delete(ctx, keys...)
	t.publish(ctx, "k", keys)
	return err
}

// InvalidateTags invalidates the shared cache and clears the near cache
// of every node: near copies do not know their tags, and tag purges are
// rare (writes delete by key).
func (t *TwoLevel) InvalidateTags(ctx context.Context, tags ...string) error {
	err := t.far.InvalidateTags(ctx, tags...)
	t.near.Clear()
	t.publish(ctx, "t", tags)
	return err
}

// TryLock is the shared cache's lock, when it has one.
func (t *TwoLevel) TryLock(ctx context.Context, key string, ttl time.Duration) (string, bool, error) {
	if l, ok := t.far.(Locker); ok {
		return l.TryLock(ctx, key, ttl)
	}
	return "", true, nil
}

// Unlock releases the shared cache's lock.
func (t *TwoLevel) Unlock(ctx context.Context, key, token string) error {
	if l, ok := t.far.(Locker); ok {
		return l.Unlock(ctx, key, token)
	}
	return nil
}

// Stats are the shared cache's, with the near hits added.
func (t *TwoLevel) Stats(ctx context.Context) Stats {
	s := t.far.Stats(ctx)
	s.Hits += t.near.Stats(ctx).Hits
	return s
}

// Ping pings the shared cache.
func (t *TwoLevel) Ping(ctx context.Context) error { return t.far.Ping(ctx) }

// Close ends the subscription and closes both caches.
func (t *TwoLevel) Close() error {
	_ = t.sub.Close()
	t.wg.Wait()
	_ = t.near.Close()
	return t.far.Close()
}
