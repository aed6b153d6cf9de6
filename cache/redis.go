package cache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisConfig configures the Redis cache.
type RedisConfig struct {
	// URL is the server address, e.g. redis://127.0.0.1:6379/0, or
	// redis://host1:6379?addr=host2:6379 for a cluster. Required unless
	// Client is set.
	URL string
	// Client, when set, is used instead of dialling URL: a redis.Client,
	// a failover (Sentinel) client or a ClusterClient. The cache does not
	// close a client it was given.
	Client redis.UniversalClient
	// Prefix is put before every key, so several deployments can share one
	// server. Default: "" (keys start with "<appId>:<env>:").
	Prefix string
	// Timeout bounds every command of a client the cache dials itself
	// (dial, read, write): a slow Redis fails fast and Fallback serves
	// from memory. Default: 50ms.
	Timeout time.Duration
}

// DefaultRedisTimeout is RedisConfig.Timeout's default.
const DefaultRedisTimeout = 50 * time.Millisecond

func (c RedisConfig) withDefaults() RedisConfig {
	if c.Timeout <= 0 {
		c.Timeout = DefaultRedisTimeout
	}
	return c
}

// Redis is the cache on a Redis server (single, Sentinel or Cluster through
// go-redis's UniversalClient), shared by every Skybridge node.
//
// Key layout: an entry "<app>:<env>:rest" is stored as
// Prefix+"<app>:<env>:{<app>:<env>}:rest"; a tag "<app>:<env>:#t" as the set
// Prefix+"<app>:<env>:{<app>:<env>}:#t" of the keys carrying it; a load's
// lease on key k (see Leaser) as the key k+":~lease", also a member of the
// tag sets of k's tags. The hash tag puts one environment's entries, tags,
// locks and leases in one Cluster slot,
// so that the Lua scripts that set an entry with its tags, and that
// invalidate a tag, touch one slot and run atomically.
type Redis struct {
	cfg          RedisConfig
	client       redis.UniversalClient
	own          bool
	hits, misses atomic.Uint64
}

var (
	_ Cache  = (*Redis)(nil)
	_ Locker = (*Redis)(nil)
	_ Leaser = (*Redis)(nil)
)

// setScript sets KEYS[1] to ARGV[1] for ARGV[2] ms (0: no expiry) and adds
// it to the tag sets KEYS[2..], whose expiry it extends to cover the entry.
var setScript = redis.NewScript(`
local ttl = tonumber(ARGV[2])
if ttl > 0 then redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl) else redis.call('SET', KEYS[1], ARGV[1]) end
for i = 2, #KEYS do
  local existed = redis.call('EXISTS', KEYS[i])
  redis.call('SADD', KEYS[i], KEYS[1])
  if ttl == 0 then
    redis.call('PERSIST', KEYS[i])
  else
    local left = redis.call('PTTL', KEYS[i])
    if existed == 0 or (left >= 0 and left < ttl) then redis.call('PEXPIRE', KEYS[i], ttl) end
  end
end
return 1`)

// invalidateScript deletes the members of the tag sets KEYS, then the sets.
var invalidateScript = redis.NewScript(`
local n = 0
for i = 1, #KEYS do
  local members = redis.call('SMEMBERS', KEYS[i])
  for j = 1, #members, 500 do
    n = n + redis.call('UNLINK', unpack(members, j, math.min(j + 499, #members)))
  end
  redis.call('UNLINK', KEYS[i])
end
return n`)

// leaseScript sets the lease key KEYS[1] to token ARGV[1] for ARGV[2] ms
// and adds it to the tag sets KEYS[2..] (extending their expiry to cover
// the lease), so that invalidating one of the tags deletes the lease with
// the tag's entries.
var leaseScript = redis.NewScript(`
local ttl = tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
for i = 2, #KEYS do
  local existed = redis.call('EXISTS', KEYS[i])
  redis.call('SADD', KEYS[i], KEYS[1])
  local left = redis.call('PTTL', KEYS[i])
  if existed == 0 or (left >= 0 and left < ttl) then redis.call('PEXPIRE', KEYS[i], ttl) end
end
return 1`)

// leasedSetScript is setScript for the entry KEYS[1] and the tag sets
// KEYS[3..], done only while the lease key KEYS[2] still holds token
// ARGV[3]; the lease is spent (deleted, and taken out of the tag sets).
var leasedSetScript = redis.NewScript(`
if redis.call('GET', KEYS[2]) ~= ARGV[3] then return 0 end
redis.call('DEL', KEYS[2])
local ttl = tonumber(ARGV[2])
if ttl > 0 then redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl) else redis.call('SET', KEYS[1], ARGV[1]) end
for i = 3, #KEYS do
  redis.call('SREM', KEYS[i], KEYS[2])
  local existed = redis.call('EXISTS', KEYS[i])
  redis.call('SADD', KEYS[i], KEYS[1])
  if ttl == 0 then
    redis.call('PERSIST', KEYS[i])
  else
    local left = redis.call('PTTL', KEYS[i])
    if existed == 0 or (left >= 0 and left < ttl) then redis.call('PEXPIRE', KEYS[i], ttl) end
  end
end
return 1`)

// unlockScript deletes the lock KEYS[1] only while it holds token ARGV[1].
var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// NewRedis returns the cache over cfg.Client, or over a client for
// cfg.URL. It does not dial: Ping does.
func NewRedis(cfg RedisConfig) (*Redis, error) {
	cfg = cfg.withDefaults()
	if cfg.Client != nil {
		return &Redis{cfg: cfg, client: cfg.Client}, nil
	}
	client, err := DialRedis(cfg.URL, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	return &Redis{cfg: cfg, client: client, own: true}, nil
}

// DialRedis builds a UniversalClient for url with every timeout (dial,
// read, write, pool wait) set to timeout: a cluster client when url names
// more than one address (?addr=), else a single-server client. It does not
// dial.
func DialRedis(url string, timeout time.Duration) (redis.UniversalClient, error) {
	if strings.Contains(url, "addr=") {
		opts, err := redis.ParseClusterURL(url)
		if err != nil {
			return nil, fmt.Errorf("cache: redis cluster URL: %w", err)
		}
		opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout, opts.PoolTimeout = timeout, timeout, timeout, timeout
		return redis.NewClusterClient(opts), nil
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("cache: redis URL: %w", err)
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout, opts.PoolTimeout = timeout, timeout, timeout, timeout
	opts.MaxRetries = -1 // a retry doubles the wait on a dead server; Fallback copes
	return redis.NewClient(opts), nil
}

// Kind returns "redis".
func (r *Redis) Kind() string { return "redis" }

// rkey is the Redis key of a cache key or tag (see the type's doc).
func (r *Redis) rkey(key string) string {
	ns, rest := splitNamespace(key)
	return r.cfg.Prefix + ns + "{" + ns + "}:" + rest
}

// Get reads key.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, bool, error) {
	val, err := r.client.Get(ctx, r.rkey(key)).Bytes()
	if errors.Is(err, redis.Nil) {
		r.misses.Add(1)
		return nil, false, nil
	}
	if err != nil {
		return nil, false, r.wrap("get", err)
	}
	r.hits.Add(1)
	return val, true, nil
}

// Set writes key with a TTL (none when ttl <= 0) and its tags, in one
// script. Every tag must be in the key's namespace.
func (r *Redis) Set(ctx context.Context, key string, val []byte, ttl time.Duration, tags ...string) error {
	if len(tags) == 0 {
		if ttl < 0 {
			ttl = 0
		}
		return r.wrap("set", r.client.Set(ctx, r.rkey(key), val, ttl).Err())
	}
	keys, err := r.scriptKeys(key, false, tags)
	if err != nil {
		return err
	}
	return r.wrap("set", setScript.Run(ctx, r.client, keys, val, millis(ttl)).Err())
}

// leaseKey is the cache key of key's lease (in key's namespace, so in
// its slot).
func leaseKey(key string) string { return key + ":~lease" }

// scriptKeys returns the Redis keys of key and tags, first key, then the
// lease key when lease is set, then the tags; every tag must be in key's
// namespace.
func (r *Redis) scriptKeys(key string, lease bool, tags []string) ([]string, error) {
	ns, _ := splitNamespace(key)
	keys := make([]string, 0, 2+len(tags))
	keys = append(keys, r.rkey(key))
	if lease {
		keys = append(keys, r.rkey(leaseKey(key)))
	}
	for _, t := range tags {
		if tns, _ := splitNamespace(t); tns != ns {
			return nil, fmt.Errorf("%w: tag %q is not in the namespace of key %q", ErrInvalid, t, key)
		}
		keys = append(keys, r.rkey(t))
	}
	return keys, nil
}

func millis(ttl time.Duration) string {
	ms := int64(0)
	if ttl > 0 {
		ms = max(ttl.Milliseconds(), 1)
	}
	return strconv.FormatInt(ms, 10)
}

// Lease sets key's lease key to a fresh token for ttl and adds it to the
// tag sets: Delete of key deletes it, and so does InvalidateTags of one
// of tags. A later lease of the same key replaces it (the earlier load
// then does not store).
func (r *Redis) Lease(ctx context.Context, key string, ttl time.Duration, tags ...string) (Lease, error) {
	keys, err := r.scriptKeys(leaseKey(key), false, tags)
	if err != nil {
		return Lease{}, err
	}
	token := newToken()
	if err := leaseScript.Run(ctx, r.client, keys, token, millis(max(ttl, time.Millisecond))).Err(); err != nil {
		return Lease{}, r.wrap("lease", err)
	}
	return Lease{token: token, valid: true}, nil
}

// SetLeased is Set, done (in one script) only while key's lease key still
// holds lease's token.
func (r *Redis) SetLeased(ctx context.Context, lease Lease, key string, val []byte, ttl time.Duration, tags ...string) (bool, error) {
	if !lease.valid || lease.token == "" {
		return false, nil
	}
	keys, err := r.scriptKeys(key, true, tags)
	if err != nil {
		return false, err
	}
	n, err := leasedSetScript.Run(ctx, r.client, keys, val, millis(ttl), lease.token).Int()
	if err != nil {
		return false, r.wrap("set", err)
	}
	return n == 1, nil
}

// Delete removes keys, and their leases: a load under way does not store.
func (r *Redis) Delete(ctx context.Context, keys ...string) error {
	withLeases := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		withLeases = append(withLeases, k, leaseKey(k))
	}
	for _, group := range r.bySlot(withLeases) {
		if err := r.client.Del(ctx, group...).Err(); err != nil {
			return r.wrap("delete", err)
		}
	}
	return nil
}

// InvalidateTags deletes the entries of tags, and the leases of loads
// under way of entries that will carry them (Lease put them in the tag
// sets): one script per namespace, each atomic. It never scans the key
// space.
func (r *Redis) InvalidateTags(ctx context.Context, tags ...string) error {
	for _, group := range r.bySlot(tags) {
		if err := invalidateScript.Run(ctx, r.client, group).Err(); err != nil {
			return r.wrap("invalidate", err)
		}
	}
	return nil
}

// bySlot maps keys to Redis keys grouped by namespace (one Cluster slot
// each).
func (r *Redis) bySlot(keys []string) [][]string {
	groups := map[string][]string{}
	var order []string
	for _, k := range keys {
		ns, _ := splitNamespace(k)
		if _, ok := groups[ns]; !ok {
			order = append(order, ns)
		}
		groups[ns] = append(groups[ns], r.rkey(k))
	}
	out := make([][]string, 0, len(order))
	for _, ns := range order {
		out = append(out, groups[ns])
	}
	return out
}

// TryLock takes the lock key for ttl with SET NX PX and a random token.
func (r *Redis) TryLock(ctx context.Context, key string, ttl time.Duration) (string, bool, error) {
	token := newToken()
	ok, err := r.client.SetNX(ctx, r.rkey(key), token, ttl).Result()
	if err != nil {
		return "", false, r.wrap("lock", err)
	}
	return token, ok, nil
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Unlock deletes the lock if token still holds it.
func (r *Redis) Unlock(ctx context.Context, key, token string) error {
	return r.wrap("unlock", unlockScript.Run(ctx, r.client, []string{r.rkey(key)}, token).Err())
}

// Stats returns this client's hits and misses and the server's used
// memory and evictions (INFO, under ctx).
func (r *Redis) Stats(ctx context.Context) Stats {
	s := Stats{Hits: r.hits.Load(), Misses: r.misses.Load()}
	info, err := r.client.Info(ctx, "memory", "stats").Result()
	if err != nil {
		return s
	}
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "used_memory":
			s.Bytes = n
		case "evicted_keys":
			s.Evictions = n
		}
	}
	return s
}

// Ping checks the server answers.
func (r *Redis) Ping(ctx context.Context) error { return r.wrap("ping", r.client.Ping(ctx).Err()) }

// Close closes the connection pool of a client the cache dialled.
func (r *Redis) Close() error {
	if !r.own {
		return nil
	}
	return r.client.Close()
}

func (r *Redis) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, redis.ErrClosed) {
		return ErrClosed
	}
	return fmt.Errorf("cache: redis %s: %w", op, err)
}

// Prefix is the configured key prefix.
func (r *Redis) Prefix() string { return r.cfg.Prefix }
