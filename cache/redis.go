package cache

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisConfig configures the Redis cache.
type RedisConfig struct {
	// URL is the server address, e.g. redis://127.0.0.1:6379/0. Required.
	URL string
	// Prefix is put before every key, so several deployments can share one
	// server. Default: "sb:".
	Prefix string
}

func (c RedisConfig) withDefaults() RedisConfig {
	if c.Prefix == "" {
		c.Prefix = "sb:"
	}
	return c
}

// Redis is the cache on a Redis server, shared by every Skybridge node.
type Redis struct {
	cfg    RedisConfig
	client *redis.Client
}

var _ Cache = (*Redis)(nil)

// NewRedis parses the URL and returns a client. It does not dial: Ping
// does.
func NewRedis(cfg RedisConfig) (*Redis, error) {
	cfg = cfg.withDefaults()
	opts, err := redis.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("cache: redis URL: %w", err)
	}
	return &Redis{cfg: cfg, client: redis.NewClient(opts)}, nil
}

// Kind returns "redis".
func (r *Redis) Kind() string { return "redis" }

// Get reads key.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, bool, error) {
	val, err := r.client.Get(ctx, r.cfg.Prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, r.wrap("get", err)
	}
	return val, true, nil
}

// Set writes key with a TTL (none when ttl <= 0).
func (r *Redis) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	if ttl < 0 {
		ttl = 0
	}
	return r.wrap("set", r.client.Set(ctx, r.cfg.Prefix+key, val, ttl).Err())
}

// Delete removes keys.
func (r *Redis) Delete(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = r.cfg.Prefix + k
	}
	return r.wrap("delete", r.client.Del(ctx, full...).Err())
}

// Ping checks the server answers.
func (r *Redis) Ping(ctx context.Context) error { return r.wrap("ping", r.client.Ping(ctx).Err()) }

// Close closes the connection pool.
func (r *Redis) Close() error { return r.client.Close() }

func (r *Redis) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, redis.ErrClosed) {
		return ErrClosed
	}
	return fmt.Errorf("cache: redis %s: %w", op, err)
}
