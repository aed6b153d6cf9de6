package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/skybridgehq/skybridge/iotbridge"
	"github.com/skybridgehq/skybridge/keyring"
	"github.com/skybridgehq/skybridge/ratelimit"
)

// Config is the whole configuration of one Skybridge node. Every field has
// a key in skybridge.yaml and a SKYBRIDGE_* environment variable; the zero
// value of a field means its default. See Fields for the table.
type Config struct {
	// HTTPAddr is where the HTTP API listens. Default: ":8080".
	HTTPAddr string
	// MQTTAddr is where the embedded MQTT broker listens. Default: ":1883".
	MQTTAddr string
	// MQTTAnonymous lets MQTT clients without credentials connect and use
	// topics outside the devices' reserved $aws/ and skybridge/
	// namespaces (local development, interoperability tests). Default:
	// false.
	MQTTAnonymous bool
	// MQTTTLSAddr is where the broker serves MQTT over TLS when
	// MQTTTLSCert is set. Default: ":8883".
	MQTTTLSAddr string
	// MQTTTLSCert and MQTTTLSKey are the PEM files of the TLS listener's
	// server certificate (chain) and key; set both to listen with TLS,
	// where devices may also authenticate with a client certificate
	// (mTLS) an environment's registered CA signed. Default: unset, no
	// TLS listener.
	MQTTTLSCert string
	MQTTTLSKey  string
	// MQTTDataDir holds the broker's durable state (persistent sessions,
	// their subscriptions and queued messages, retained messages); "off"
	// keeps it in memory only. Default: "" (DataDir/mqtt).
	MQTTDataDir string
	// ShadowMaxBytes bounds a device shadow's state and a shadow request.
	// Default: 8192.
	ShadowMaxBytes int
	// MQTTExternal, when set, is an external MQTT broker cluster
	// (mqtt://user:password@host:port) the node connects to as a client,
	// with shared subscriptions, instead of embedding a broker (cluster
	// mode, decision 0014). Default: "" (the embedded broker).
	MQTTExternal string
	// TelemetryMaxBytes bounds one device telemetry message. Default:
	// 16384.
	TelemetryMaxBytes int
	// TelemetryRetentionDays is how many days of device telemetry an
	// environment keeps unless an admin sets its own. Default: 30.
	TelemetryRetentionDays int
	// DataDir holds the SQLite files and the generated secret key.
	// Default: "./data".
	DataDir string
	// MongoURI, when set, selects the MongoDB store instead of SQLite.
	MongoURI string
	// RedisURL, when set, selects the Redis cache instead of the in-process
	// one, and keeps the /v1 rate limit budgets there, shared by every
	// node, instead of in each process.
	RedisURL string
	// AdminEmail and AdminPassword create the first admin (an owner) when
	// no admin exists yet.
	AdminEmail    string
	AdminPassword string
	// LogLevel is debug, info, warn or error. Default: "info".
	LogLevel string
	// SecretKey is the master key that encrypts secrets at rest and signs
	// tokens: 32 bytes, base64 or hex. With SQLite it is generated into
	// DataDir on first start when unset; with MongoDB it is required.
	SecretKey string
	// ShutdownGrace is how long in-flight requests may run after SIGTERM.
	// Default: 15s.
	ShutdownGrace time.Duration
	// RequestTimeout bounds one HTTP request. Default: 30s.
	RequestTimeout time.Duration
	// MaxBodyBytes bounds a request body. Default: 2 MiB.
	MaxBodyBytes int64
	// AuditSync makes every request wait until its audit record is stored.
	// Default: false (records are written in batches off the request path).
	AuditSync bool
	// CORSOrigins lists origins allowed to call the API from a browser;
	// "*" allows any. Default: none.
	CORSOrigins []string
	// RateLimitEnv limits all /v1 traffic of one app environment,
	// RateLimitClient that of one user (or, without an access token, one
	// client address) in an environment; ratelimit.Off disables one.
	// Environments may override both through the admin API. Defaults:
	// 6000/1m and 600/1m (api.DefaultRateLimitEnv, DefaultRateLimitClient).
	RateLimitEnv    ratelimit.Policy
	RateLimitClient ratelimit.Policy
	// AuditKey signs the audit trail's checkpoints: 32 bytes, base64 or
	// hex. Default: derived from SecretKey.
	AuditKey string
	// AuditRetention is how long audit records are kept in environments
	// that set no retention of their own (admin API). Default: 0, forever.
	AuditRetention time.Duration
	// CacheMaxBytes bounds the in-process cache (the default cache, and
	// the fallback while Redis fails). Default: 64 MiB.
	CacheMaxBytes uint64
	// CacheRedisTimeout bounds each Redis cache command: a slower Redis
	// counts as failing, and after three failures in a row the in-process
	// cache serves until Redis answers again. Default: 50ms.
	CacheRedisTimeout time.Duration
	// CacheNearTTL, with RedisURL, turns on the two-level cache: values
	// read from Redis stay in the node's memory this long, dropped on
	// every node over Redis pub/sub when a write deletes them. Default: 0
	// (off: every read asks Redis).
	CacheNearTTL time.Duration
	// SyncTombstoneRetention is how long deleted objects stay as
	// tombstones for offline clients to pull (with the sync bookkeeping);
	// an older checkpoint answers 410 and the client resyncs. Default: 30
	// days (sync.DefaultTombstoneRetention).
	SyncTombstoneRetention time.Duration
	// SyncClockSkew bounds how far ahead of the server's clock a pushed
	// change's clientTime may be for last-write-wins. Default: 5m.
	SyncClockSkew time.Duration
	// AnalyticsRetentionDays is how many days of analytics counts an
	// environment keeps unless an admin sets its own. Default: 90.
	AnalyticsRetentionDays int
	// MaintenanceInterval is how often a node prunes expired sessions and
	// tokens and audit records past their retention. Default: 1h.
	MaintenanceInterval time.Duration
	// TriggerLease is how long a node owns a trigger firing it claimed:
	// a firing whose node died runs again after it (with the same
	// idempotency key); it also bounds one run. Default: 30s.
	TriggerLease time.Duration
	// TriggerPollInterval is how often a node reads the triggered change
	// feeds, the schedules and the due firings (object changes nudge it
	// sooner). Default: 1s.
	TriggerPollInterval time.Duration
	// PushWorkers is how many push batches a node sends at once.
	// Default: 4.
	PushWorkers int
	// PushConcurrency is how many requests to APNs or FCM one batch keeps
	// in flight. Default: 64.
	PushConcurrency int
	// PushLease is how long a node owns a push batch it claimed; a batch
	// of a dead node is sent on by another after it. Default: 30s.
	PushLease time.Duration
	// PushPollInterval is how often idle push workers look for due
	// batches. Default: 500ms.
	PushPollInterval time.Duration
	// PushRatePerApp caps one app environment's push sends per second on
	// one node. Default: 5000.
	PushRatePerApp int
	// PushAPNsURL, PushAPNsCAFile and PushFCMURL point push at other APNs
	// and FCM endpoints (a PEM file of roots to trust for that APNs);
	// only tests and benchmarks set them. Default: Apple's and Google's
	// hosts, the system roots.
	PushAPNsURL    string
	PushAPNsCAFile string
	PushFCMURL     string
}

// field describes one configuration key: its names, default and parser.
type field struct {
	yaml, env, def, help string
	set                  func(c *Config, v string) error
}

// fields is the table every subcommand reads configuration through, in the
// order `--help` lists it.
var fields = append([]field{
	{"httpAddr", "SKYBRIDGE_HTTP_ADDR", ":8080", "HTTP listen address", func(c *Config, v string) error { return setAddr(&c.HTTPAddr, v) }},
	{"mqttAddr", "SKYBRIDGE_MQTT_ADDR", ":1883", "MQTT broker listen address", func(c *Config, v string) error { return setAddr(&c.MQTTAddr, v) }},
	{"mqttAnonymous", "SKYBRIDGE_MQTT_ANONYMOUS", "false", "true: MQTT clients without credentials may use topics outside $aws/ and skybridge/ (development only)", func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("must be true or false")
		}
		c.MQTTAnonymous = b
		return nil
	}},
	{"shadowMaxBytes", "SKYBRIDGE_SHADOW_MAX_BYTES", "8192", "largest device shadow state (desired and reported) and shadow request, in bytes", func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1024 || n > 1<<20 {
			return errors.New("must be a whole number of bytes from 1024 to 1048576")
		}
		c.ShadowMaxBytes = n
		return nil
	}},
	{"mqttExternal", "SKYBRIDGE_MQTT_EXTERNAL", "", "external MQTT broker mqtt://user:password@host:port; set → cluster mode: no embedded broker, the node joins the broker's shared subscriptions", func(c *Config, v string) error {
		if v != "" {
			if _, _, _, err := iotbridge.ParseExternalURL(v); err != nil {
				return err
			}
		}
		c.MQTTExternal = v
		return nil
	}},
	{"telemetryMaxBytes", "SKYBRIDGE_TELEMETRY_MAX_BYTES", "16384", "largest device telemetry message, in bytes", func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 256 || n > 1<<20 {
			return errors.New("must be a whole number of bytes from 256 to 1048576")
		}
		c.TelemetryMaxBytes = n
		return nil
	}},
	{"telemetryRetention", "SKYBRIDGE_TELEMETRY_RETENTION", "30d", "days of device telemetry an environment keeps unless an admin sets its own: 1d to 3650d", func(c *Config, v string) error {
		days, ok := strings.CutSuffix(v, "d")
		n, err := strconv.Atoi(days)
		if !ok || err != nil || n < 1 || n > iotbridge.MaxTelemetryRetentionDays {
			return errors.New("must be a number of days such as 30d, from 1d to 3650d")
		}
		c.TelemetryRetentionDays = n
		return nil
	}},
	{"dataDir", "SKYBRIDGE_DATA_DIR", "./data", "directory of the SQLite store and generated secret key", func(c *Config, v string) error {
		if strings.TrimSpace(v) == "" {
			return errors.New("must not be empty")
		}
		c.DataDir = v
		return nil
	}},
	{"mongoURI", "SKYBRIDGE_MONGO_URI", "", "MongoDB URI; set → MongoDB store instead of SQLite", func(c *Config, v string) error {
		if v != "" && !strings.HasPrefix(v, "mongodb://") && !strings.HasPrefix(v, "mongodb+srv://") {
			return errors.New("must start with mongodb:// or mongodb+srv://")
		}
		c.MongoURI = v
		return nil
	}},
	{"redisURL", "SKYBRIDGE_REDIS_URL", "", "Redis URL; set → Redis cache and shared rate limits instead of in-process", func(c *Config, v string) error {
		if v != "" {
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
				return errors.New("must be a redis:// or rediss:// URL with a host")
			}
		}
		c.RedisURL = v
		return nil
	}},
	{"adminEmail", "SKYBRIDGE_ADMIN_EMAIL", "", "first admin's email (created when no admin exists)", func(c *Config, v string) error { c.AdminEmail = v; return nil }},
	{"adminPassword", "SKYBRIDGE_ADMIN_PASSWORD", "", "first admin's password (at least 12 characters)", func(c *Config, v string) error {
		if v != "" && len([]rune(v)) < 12 {
			return errors.New("must have at least 12 characters")
		}
		c.AdminPassword = v
		return nil
	}},
	{"logLevel", "SKYBRIDGE_LOG_LEVEL", "info", "debug, info, warn or error", func(c *Config, v string) error {
		if _, err := parseLevel(v); err != nil {
			return err
		}
		c.LogLevel = strings.ToLower(v)
		return nil
	}},
	{"secretKey", "SKYBRIDGE_SECRET_KEY", "", "master key, 32 bytes base64/hex (generated into the data dir with SQLite; required with MongoDB)", func(c *Config, v string) error { c.SecretKey = v; return nil }},
	{"shutdownGrace", "SKYBRIDGE_SHUTDOWN_GRACE", "15s", "how long in-flight requests may finish after SIGTERM", func(c *Config, v string) error {
		return setDuration(&c.ShutdownGrace, v, 0, time.Hour)
	}},
	{"requestTimeout", "SKYBRIDGE_REQUEST_TIMEOUT", "30s", "longest time one HTTP request may take", func(c *Config, v string) error {
		return setDuration(&c.RequestTimeout, v, time.Millisecond, time.Hour)
	}},
	{"maxBodyBytes", "SKYBRIDGE_MAX_BODY_BYTES", "2097152", "largest request body in bytes", func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1024 || n > 1<<30 {
			return errors.New("must be a whole number of bytes from 1024 to 1073741824")
		}
		c.MaxBodyBytes = n
		return nil
	}},
	{"auditSync", "SKYBRIDGE_AUDIT_SYNC", "false", "true: each request waits until its audit record is stored", func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("must be true or false")
		}
		c.AuditSync = b
		return nil
	}},
	{"corsOrigins", "SKYBRIDGE_CORS_ORIGINS", "", "comma-separated origins allowed by CORS; * for any", func(c *Config, v string) error {
		c.CORSOrigins = nil
		for _, o := range strings.Split(v, ",") {
			if o = strings.TrimSpace(o); o == "" {
				continue
			}
			if o != "*" {
				u, err := url.Parse(o)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
					return fmt.Errorf("origin %q must be * or scheme://host[:port]", o)
				}
			}
			c.CORSOrigins = append(c.CORSOrigins, strings.TrimSuffix(o, "/"))
		}
		return nil
	}},
	{"rateLimitEnv", "SKYBRIDGE_RATE_LIMIT_ENV", "6000/1m", "/v1 requests per period of one app environment (e.g. 6000/1m, 100/1s burst 500), or off", func(c *Config, v string) error {
		return setPolicy(&c.RateLimitEnv, v)
	}},
	{"rateLimitClient", "SKYBRIDGE_RATE_LIMIT_CLIENT", "600/1m", "/v1 requests per period of one user or client address in an environment, or off", func(c *Config, v string) error {
		return setPolicy(&c.RateLimitClient, v)
	}},
	{"auditKey", "SKYBRIDGE_AUDIT_KEY", "", "key signing audit checkpoints, 32 bytes base64/hex (default: derived from the secret key)", func(c *Config, v string) error {
		if v != "" {
			if _, err := keyring.Parse(v); err != nil {
				return err
			}
		}
		c.AuditKey = v
		return nil
	}},
	{"auditRetention", "SKYBRIDGE_AUDIT_RETENTION", "0", "how long audit records are kept where an environment sets no retention: 0 (forever), 90d, 2160h", func(c *Config, v string) error {
		return setRetention(&c.AuditRetention, v)
	}},
	{"syncTombstoneRetention", "SKYBRIDGE_SYNC_TOMBSTONE_RETENTION", "30d", "how long tombstones are kept for offline clients (older checkpoints get 410): days such as 30d, or a duration such as 720h, at least 1h", func(c *Config, v string) error {
		if err := setRetention(&c.SyncTombstoneRetention, v); err != nil || c.SyncTombstoneRetention < time.Hour {
			return errors.New("must be a number of days such as 30d, or a duration such as 720h, from 1h to 3650d")
		}
		return nil
	}},
	{"syncClockSkew", "SKYBRIDGE_SYNC_CLOCK_SKEW", "5m", "how far ahead of the server's clock a pushed clientTime may count for last-write-wins", func(c *Config, v string) error {
		return setDuration(&c.SyncClockSkew, v, time.Second, 24*time.Hour)
	}},
	{"analyticsRetention", "SKYBRIDGE_ANALYTICS_RETENTION", "90d", "days of analytics counts an environment keeps unless an admin sets its own: 1d to 3650d", func(c *Config, v string) error {
		days, ok := strings.CutSuffix(v, "d")
		n, err := strconv.Atoi(days)
		if !ok || err != nil || n < 1 || n > 3650 {
			return errors.New("must be a number of days from 1d to 3650d, such as 90d")
		}
		c.AnalyticsRetentionDays = n
		return nil
	}},
	{"cacheMaxBytes", "SKYBRIDGE_CACHE_MAX_BYTES", "67108864", "bytes the in-process cache may hold (default cache, and fallback while Redis fails)", func(c *Config, v string) error {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n < 1<<20 || n > 1<<40 {
			return errors.New("must be a whole number of bytes from 1048576 to 1099511627776")
		}
		c.CacheMaxBytes = n
		return nil
	}},
	{"cacheRedisTimeout", "SKYBRIDGE_CACHE_REDIS_TIMEOUT", "50ms", "longest a Redis cache command may take before the in-process fallback serves", func(c *Config, v string) error {
		return setDuration(&c.CacheRedisTimeout, v, time.Millisecond, 10*time.Second)
	}},
	{"cacheNearTTL", "SKYBRIDGE_CACHE_NEAR_TTL", "0", "with Redis: keep hot values this long in process too (two-level cache, invalidated over pub/sub); 0 is off", func(c *Config, v string) error {
		if v == "0" {
			c.CacheNearTTL = 0
			return nil
		}
		return setDuration(&c.CacheNearTTL, v, time.Millisecond, time.Minute)
	}},
	{"maintenanceInterval", "SKYBRIDGE_MAINTENANCE_INTERVAL", "1h", "how often expired sessions, tokens and audit records are pruned", func(c *Config, v string) error {
		return setDuration(&c.MaintenanceInterval, v, time.Minute, 24*time.Hour)
	}},
	{"triggerLease", "SKYBRIDGE_TRIGGER_LEASE", "30s", "how long a node owns a trigger firing it runs; a firing of a dead node runs again after it", func(c *Config, v string) error {
		return setDuration(&c.TriggerLease, v, 100*time.Millisecond, time.Hour)
	}},
	{"triggerPollInterval", "SKYBRIDGE_TRIGGER_POLL_INTERVAL", "1s", "how often triggered change feeds, schedules and due firings are read", func(c *Config, v string) error {
		return setDuration(&c.TriggerPollInterval, v, 10*time.Millisecond, time.Minute)
	}},
}, append(pushFields, mqttTransportFields...)...)

// mqttTransportFields are the keys of the broker's TLS listener and
// durable state, appended to fields.
var mqttTransportFields = []field{
	{"mqttTLSAddr", "SKYBRIDGE_MQTT_TLS_ADDR", ":8883", "MQTT over TLS listen address (with SKYBRIDGE_MQTT_TLS_CERT)", func(c *Config, v string) error { return setAddr(&c.MQTTTLSAddr, v) }},
	{"mqttTLSCert", "SKYBRIDGE_MQTT_TLS_CERT", "", "PEM file of the MQTT TLS server certificate (chain); set with SKYBRIDGE_MQTT_TLS_KEY → TLS listener, device client certificates", func(c *Config, v string) error { c.MQTTTLSCert = v; return nil }},
	{"mqttTLSKey", "SKYBRIDGE_MQTT_TLS_KEY", "", "PEM file of the MQTT TLS server key", func(c *Config, v string) error { c.MQTTTLSKey = v; return nil }},
	{"mqttDataDir", "SKYBRIDGE_MQTT_DATA_DIR", "", "directory of the broker's durable sessions, queued and retained messages (default: <data dir>/mqtt); off → memory only", func(c *Config, v string) error {
		c.MQTTDataDir = strings.TrimSpace(v)
		return nil
	}},
}

// pushFields are the push keys, appended to fields.
var pushFields = []field{
	{"pushWorkers", "SKYBRIDGE_PUSH_WORKERS", "4", "push batches a node sends at once", func(c *Config, v string) error { return setInt(&c.PushWorkers, v, 1, 256) }},
	{"pushConcurrency", "SKYBRIDGE_PUSH_CONCURRENCY", "64", "requests to APNs or FCM in flight per push batch", func(c *Config, v string) error { return setInt(&c.PushConcurrency, v, 1, 1000) }},
	{"pushLease", "SKYBRIDGE_PUSH_LEASE", "30s", "how long a node owns a push batch; a dead node's batch is sent on after it", func(c *Config, v string) error {
		return setDuration(&c.PushLease, v, 500*time.Millisecond, time.Hour)
	}},
	{"pushPollInterval", "SKYBRIDGE_PUSH_POLL_INTERVAL", "500ms", "how often idle push workers look for due batches", func(c *Config, v string) error {
		return setDuration(&c.PushPollInterval, v, 10*time.Millisecond, time.Minute)
	}},
	{"pushRatePerApp", "SKYBRIDGE_PUSH_RATE_PER_APP", "5000", "push sends per second of one app environment on one node", func(c *Config, v string) error { return setInt(&c.PushRatePerApp, v, 1, 1_000_000) }},
	{"pushAPNsURL", "SKYBRIDGE_PUSH_APNS_URL", "", "APNs base URL instead of Apple's (tests only)", func(c *Config, v string) error {
		if v != "" && !strings.HasPrefix(v, "https://") {
			return errors.New("must be an https:// URL")
		}
		c.PushAPNsURL = v
		return nil
	}},
	{"pushAPNsCAFile", "SKYBRIDGE_PUSH_APNS_CA_FILE", "", "PEM roots to trust for APNs instead of the system's (tests only)", func(c *Config, v string) error { c.PushAPNsCAFile = v; return nil }},
	{"pushFCMURL", "SKYBRIDGE_PUSH_FCM_URL", "", "FCM endpoint instead of https://fcm.googleapis.com/v1 (tests only)", func(c *Config, v string) error {
		if v != "" && !strings.HasPrefix(v, "https://") && !strings.HasPrefix(v, "http://") {
			return errors.New("must be an http(s):// URL")
		}
		c.PushFCMURL = v
		return nil
	}},
}

func setInt(dst *int, v string, lo, hi int) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return fmt.Errorf("must be a whole number from %d to %d", lo, hi)
	}
	*dst = n
	return nil
}

// setRetention parses a retention: "0" (forever), a whole number of days
// ("90d") or a Go duration, up to ten years.
func setRetention(dst *time.Duration, v string) error {
	const max = 3650 * 24 * time.Hour
	bad := errors.New("must be 0, a number of days such as 90d, or a duration such as 2160h, up to 3650d")
	if v == "0" {
		*dst = 0
		return nil
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 1 || n > 3650 {
			return bad
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(v); err != nil || d < time.Hour || d > max {
			return bad
		}
	}
	*dst = d
	return nil
}

// ConfigError is a configuration value that cannot be used. It names the
// key as the environment variable and the YAML key.
type ConfigError struct {
	Env, YAML, Source string
	Err               error
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("invalid configuration %s (%s in %s): %v", e.Env, e.YAML, e.Source, e.Err)
}

func (e *ConfigError) Unwrap() error { return e.Err }

// DefaultConfig returns the configuration with every default applied.
func DefaultConfig() Config {
	var c Config
	for _, f := range fields {
		if err := f.set(&c, f.def); err != nil {
			panic(fmt.Sprintf("default of %s: %v", f.env, err)) // a bug in the table
		}
	}
	return c
}

// LoadConfig builds the configuration: defaults, then the YAML file at path
// (skipped when path is "" or, for the default name, when it does not
// exist), then SKYBRIDGE_* variables from environ. mustExist makes a
// missing file an error (an explicit --config).
func LoadConfig(path string, mustExist bool, environ []string) (Config, error) {
	c := DefaultConfig()
	if path != "" {
		data, err := os.ReadFile(path)
		switch {
		case err == nil:
			if err := applyYAML(&c, data, path); err != nil {
				return Config{}, err
			}
		case errors.Is(err, os.ErrNotExist) && !mustExist:
		default:
			return Config{}, fmt.Errorf("read configuration file: %w", err)
		}
	}
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "SKYBRIDGE_") {
			env[k] = v
		}
	}
	known := map[string]bool{}
	for _, f := range fields {
		known[f.env] = true
		if v, ok := env[f.env]; ok {
			if err := f.set(&c, v); err != nil {
				return Config{}, &ConfigError{Env: f.env, YAML: f.yaml, Source: "environment", Err: err}
			}
		}
	}
	for k := range env {
		if !known[k] && !strings.HasPrefix(k, "SKYBRIDGE_TEST_") {
			return Config{}, &ConfigError{Env: k, YAML: "?", Source: "environment", Err: errors.New("unknown setting")}
		}
	}
	return c, c.validate()
}

func applyYAML(c *Config, data []byte, path string) error {
	var raw map[string]yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("configuration file %s: %w", path, err)
	}
	byYAML := map[string]field{}
	for _, f := range fields {
		byYAML[f.yaml] = f
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f, ok := byYAML[k]
		if !ok {
			return &ConfigError{Env: "?", YAML: k, Source: path, Err: errors.New("unknown setting")}
		}
		n := raw[k]
		var v string
		switch n.Kind {
		case yaml.ScalarNode:
			v = n.Value
		case yaml.SequenceNode: // lists, e.g. corsOrigins
			var parts []string
			if err := n.Decode(&parts); err != nil {
				return &ConfigError{Env: f.env, YAML: k, Source: path, Err: err}
			}
			v = strings.Join(parts, ",")
		default:
			return &ConfigError{Env: f.env, YAML: k, Source: path, Err: errors.New("must be a scalar or a list")}
		}
		if err := f.set(c, v); err != nil {
			return &ConfigError{Env: f.env, YAML: k, Source: path, Err: err}
		}
	}
	return nil
}

// validate checks rules across keys.
func (c Config) validate() error {
	if c.AdminEmail != "" && c.AdminPassword == "" {
		return &ConfigError{Env: "SKYBRIDGE_ADMIN_PASSWORD", YAML: "adminPassword", Source: "configuration", Err: errors.New("required when SKYBRIDGE_ADMIN_EMAIL is set")}
	}
	if c.AdminPassword != "" && c.AdminEmail == "" {
		return &ConfigError{Env: "SKYBRIDGE_ADMIN_EMAIL", YAML: "adminEmail", Source: "configuration", Err: errors.New("required when SKYBRIDGE_ADMIN_PASSWORD is set")}
	}
	if (c.MQTTTLSCert == "") != (c.MQTTTLSKey == "") {
		return &ConfigError{Env: "SKYBRIDGE_MQTT_TLS_KEY", YAML: "mqttTLSKey", Source: "configuration", Err: errors.New("set SKYBRIDGE_MQTT_TLS_CERT and SKYBRIDGE_MQTT_TLS_KEY together")}
	}
	if c.MongoURI != "" && c.SecretKey == "" {
		return &ConfigError{Env: "SKYBRIDGE_SECRET_KEY", YAML: "secretKey", Source: "configuration",
			Err: errors.New("required with SKYBRIDGE_MONGO_URI: every node must share the same key")}
	}
	return nil
}

// Level returns the parsed log level.
func (c Config) Level() slog.Level {
	l, _ := parseLevel(c.LogLevel)
	return l
}

func parseLevel(v string) (slog.Level, error) {
	switch strings.ToLower(v) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, errors.New("must be debug, info, warn or error")
}

func setAddr(dst *string, v string) error {
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return errors.New("must be host:port or :port")
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return errors.New("port must be a number from 0 to 65535")
	}
	*dst = v
	return nil
}

func setDuration(dst *time.Duration, v string, lo, hi time.Duration) error {
	d, err := time.ParseDuration(v)
	if err != nil || d < lo || d > hi {
		return fmt.Errorf("must be a duration such as 30s, from %s to %s", lo, hi)
	}
	*dst = d
	return nil
}

func setPolicy(dst *ratelimit.Policy, v string) error {
	p, err := ratelimit.ParsePolicy(v)
	if err != nil {
		return errors.New("must be requests/period such as 600/1m (optionally followed by \"burst N\"), at most one per microsecond, period 1ms to 24h; or off")
	}
	*dst = p
	return nil
}

// WriteConfigHelp writes the table of settings with their defaults.
func WriteConfigHelp(w io.Writer) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENVIRONMENT\tskybridge.yaml\tDEFAULT\tMEANING")
	for _, f := range fields {
		def := f.def
		if def == "" {
			def = "(unset)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.env, f.yaml, def, f.help)
	}
	tw.Flush()
}
