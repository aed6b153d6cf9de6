package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisConfig configures a Redis limiter.
type RedisConfig struct {
	// Prefix is put before every key, so that several deployments (or the
	// cache) can share one server. Default: "sb:rl:".
	Prefix string
	// Now, when set, is the clock; the script then takes the time from
	// this process. Default (nil): the Redis server's clock (TIME), which
	// every node shares, so skew between the nodes' clocks cannot bend
	// the budget.
	Now func() time.Time
}

// DefaultRedisPrefix is the default RedisConfig.Prefix.
const DefaultRedisPrefix = "sb:rl:"

// Redis is a limiter whose state lives in Redis: every node that uses the
// same server and prefix shares each key's budget. Each decision is one
// Lua script run (EVALSHA, falling back to EVAL once the server has lost
// the script), atomic on the server; keys expire when their bucket is
// full again.
type Redis struct {
	client redis.UniversalClient
	cfg    RedisConfig
}

// NewRedis returns a limiter over client, which the caller owns (and
// closes).
func NewRedis(client redis.UniversalClient, cfg RedisConfig) *Redis {
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultRedisPrefix
	}
	return &Redis{client: client, cfg: cfg}
}

// gcraScript is gcra.decide on the server. KEYS[1] holds the theoretical
// arrival time in µs; ARGV: interval µs, tolerance µs, burst, now µs ("" =
// the server's TIME). Numbers are formatted with %.0f: Lua's default
// number-to-string conversion keeps only 14 digits.
var gcraScript = redis.NewScript(`
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local now
if ARGV[4] == "" then
  -- Redis before 5 replicates scripts verbatim, which a TIME call breaks.
  if redis.replicate_commands then redis.replicate_commands() end
  local t = redis.call("TIME")
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
  now = tonumber(ARGV[4])
end
local tat = tonumber(redis.call("GET", KEYS[1]) or "0") or 0
if tat < now then tat = now end
local newtat = tat + interval
local allowat = newtat - tolerance
if now < allowat then
  return {0, burst, 0, string.format("%.0f", tat - now), string.format("%.0f", allowat - now)}
end
local ttl = math.ceil((newtat - now) / 1000)
redis.call("SET", KEYS[1], string.format("%.0f", newtat), "PX", string.format("%.0f", ttl))
return {1, burst, math.floor((now - allowat) / interval), string.format("%.0f", newtat - now), "0"}
`)

// Allow decides one request of key under p and counts it when allowed. A
// disabled policy allows everything without asking Redis; an invalid one
// is an error, and so is a failing server (callers decide whether to
// fail open).
func (r *Redis) Allow(ctx context.Context, key string, p Policy) (Result, error) {
	if p.Disabled() {
		return Result{Allowed: true, Limit: -1, Remaining: -1}, nil
	}
	if err := p.Validate(); err != nil {
		return Result{}, err
	}
	g := gcraOf(p)
	now := ""
	if r.cfg.Now != nil {
		now = strconv.FormatInt(r.cfg.Now().UnixMicro(), 10)
	}
	vals, err := gcraScript.Run(ctx, r.client, []string{r.cfg.Prefix + key}, g.interval, g.tolerance, g.burst, now).Slice()
	if err != nil {
		return Result{}, fmt.Errorf("ratelimit: redis: %w", err)
	}
	return parseScriptResult(vals)
}

// parseScriptResult reads the script's answer: allowed, limit, remaining,
// reset µs, retry-after µs.
func parseScriptResult(vals []any) (Result, error) {
	if len(vals) != 5 {
		return Result{}, fmt.Errorf("ratelimit: redis: the script answered %d values, want 5", len(vals))
	}
	var n [5]int64
	for i, v := range vals {
		switch x := v.(type) {
		case int64:
			n[i] = x
		case string:
			var err error
			if n[i], err = strconv.ParseInt(x, 10, 64); err != nil {
				return Result{}, fmt.Errorf("ratelimit: redis: script value %d: %w", i, err)
			}
		default:
			return Result{}, errors.New("ratelimit: redis: the script answered an unexpected type")
		}
	}
	return Result{
		Allowed:    n[0] == 1,
		Limit:      n[1],
		Remaining:  n[2],
		Reset:      micros(n[3]),
		RetryAfter: micros(n[4]),
	}, nil
}
