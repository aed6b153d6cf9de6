package push

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/skybridgehq/skybridge/keyring"
	"github.com/skybridgehq/skybridge/store"
)

// Collections of the push service. InstallationsCollection is in each
// environment's database, the others in the system database.
const (
	InstallationsCollection  = "pushInstallations"
	NotificationsCollection  = "pushNotifications"
	BatchesCollection        = "pushBatches"
	BatchItemsCollection     = "pushBatchItems"
	ClaimsCollection         = "pushClaims"
	CredentialsCollection    = "pushCredentials"
	ProviderTokensCollection = "pushProviderTokens"
)

// Sentinel errors. The api package maps them to statuses.
var (
	// ErrInvalid: a request the service refuses (platform, token, target
	// ...); the error is a *FieldError naming the field.
	ErrInvalid = errors.New("push: invalid input")
	// ErrNotFound: no such installation or notification in the
	// environment.
	ErrNotFound = errors.New("push: not found")
	// ErrForbidden: the caller may not change this installation.
	ErrForbidden = errors.New("push: forbidden")
	// ErrCredentials: credentials that APNs or FCM refused, or that
	// could not be checked, when they were saved.
	ErrCredentials = errors.New("push: credentials refused")
	// ErrClosed: the service is shutting down.
	ErrClosed = errors.New("push: closed")
)

// FieldError is an ErrInvalid that names the request field at fault.
type FieldError struct {
	// Field is the JSON path of the field, e.g. "target.topics[2]".
	Field string
	// Err says what is wrong; it wraps ErrInvalid.
	Err error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }

// Unwrap returns Err.
func (e *FieldError) Unwrap() error { return e.Err }

// invalid builds a FieldError.
func invalid(field, msg string) error {
	return &FieldError{Field: field, Err: fmt.Errorf("%w: %s", ErrInvalid, msg)}
}

// Env is the app environment a call is for.
type Env struct {
	// AppID and Name identify the environment ("dev", "prod" ...).
	AppID, Name string
	// DB is its database name (store.EnvDBName(AppID, Name) by default).
	DB string
}

func (e Env) withDB() Env {
	if e.DB == "" {
		e.DB = store.EnvDBName(e.AppID, e.Name)
	}
	return e
}

// Config tunes a Service. The zero value means every default.
type Config struct {
	// Workers is how many batches a node sends at once. Default: 4.
	Workers int
	// Concurrency is how many requests one batch keeps in flight
	// (HTTP/2 streams to APNs, parallel FCM sends). Default: 64.
	Concurrency int
	// BatchSize is how many installations one batch holds. Default: 500.
	BatchSize int
	// PlanAhead is how many batches of one notification may wait unsent
	// before its planning pauses. Targets are read and batched as the
	// send goes rather than all at its start, so that planning a large
	// send does not take the node's CPU from its other requests in one
	// burst. Default: 16.
	PlanAhead int
	// Lease is how long a node owns a batch or a planning job it claimed
	// without renewing it; a node that dies leaves its batch for this
	// long. Default: 30s.
	Lease time.Duration
	// PollInterval is how often idle workers look for due work (a send on
	// the same node wakes them at once). Default: 500ms.
	PollInterval time.Duration
	// MaxAttempts bounds the requests for one token that APNs or FCM
	// answer with 429 or 5xx (or that fail in transit). Default: 5.
	MaxAttempts int
	// RetryBackoff is the first retry's delay, doubled per attempt up to
	// MaxRetryBackoff; a Retry-After header overrides it. Defaults: 500ms
	// and 30s.
	RetryBackoff    time.Duration
	MaxRetryBackoff time.Duration
	// RatePerApp caps the sends per second of one app environment on one
	// node. Default: 5000.
	RatePerApp float64
	// TokenRefresh is the age at which the shared APNs provider token of
	// a key is replaced (APNs accepts tokens up to 60 minutes old and
	// refuses more than one new token per 20 minutes). Default: 40m.
	TokenRefresh time.Duration
	// SendTimeout bounds one request to APNs or FCM. Default: 15s.
	SendTimeout time.Duration
	// APNsURL replaces the APNs host (sandbox or production by the
	// credentials); only tests set it (SKYBRIDGE_PUSH_APNS_URL).
	APNsURL string
	// APNsRootCAs, when set, are the roots trusted for APNs instead of the
	// system's; only tests set it (SKYBRIDGE_PUSH_APNS_CA_FILE). TLS is
	// always verified.
	APNsRootCAs *x509.CertPool
	// FCMURL replaces the FCM endpoint "https://fcm.googleapis.com/v1";
	// only tests set it (SKYBRIDGE_PUSH_FCM_URL).
	FCMURL string
	// Logger receives the service's logs. Default: slog.Default().
	Logger *slog.Logger
	// Registerer, when set, receives the push metrics.
	Registerer prometheus.Registerer
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// OnSent, when set, is called for every message APNs or FCM accepted
	// (one per device), on the sending worker's goroutine: it must be
	// quick and must not block. The dashboard counts pushes sent with it.
	OnSent func(env Env)
}

// Defaults of Config.
const (
	DefaultWorkers         = 4
	DefaultConcurrency     = 64
	DefaultBatchSize       = 500
	DefaultPlanAhead       = 16
	DefaultLease           = 30 * time.Second
	DefaultPollInterval    = 500 * time.Millisecond
	DefaultMaxAttempts     = 5
	DefaultRetryBackoff    = 500 * time.Millisecond
	DefaultMaxRetryBackoff = 30 * time.Second
	DefaultRatePerApp      = 5000
	DefaultTokenRefresh    = 40 * time.Minute
	DefaultSendTimeout     = 15 * time.Second
)

func (c Config) withDefaults() Config {
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.PlanAhead <= 0 {
		c.PlanAhead = DefaultPlanAhead
	}
	if c.Lease <= 0 {
		c.Lease = DefaultLease
	}
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = DefaultRetryBackoff
	}
	if c.MaxRetryBackoff <= 0 {
		c.MaxRetryBackoff = DefaultMaxRetryBackoff
	}
	if c.RatePerApp <= 0 {
		c.RatePerApp = DefaultRatePerApp
	}
	if c.TokenRefresh <= 0 {
		c.TokenRefresh = DefaultTokenRefresh
	}
	if c.SendTimeout <= 0 {
		c.SendTimeout = DefaultSendTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Service keeps installations and credentials and runs the send queue.
// Build it with New; Start runs its workers and Shutdown stops them.
type Service struct {
	sys     store.DB
	stores  store.Provider
	keys    *keyring.Keyring
	cfg     Config
	log     *slog.Logger
	node    string // this node's claim owner id
	metrics *metrics
	tokens  *providerTokens

	indexed sync.Map // env DB name → true once its indexes exist

	sendersMu sync.Mutex
	senders   map[string]*cachedSender // credential doc id → sender

	limitersMu sync.Mutex
	limiters   map[string]*rate.Limiter // env DB → limiter

	wake     chan struct{}
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
	started  bool
}

// New returns a Service over the system database sys, the store provider
// (for the environments' databases) and the keyring that seals
// credentials.
func New(sys store.DB, stores store.Provider, keys *keyring.Keyring, cfg Config) *Service {
	cfg = cfg.withDefaults()
	s := &Service{
		sys: sys, stores: stores, keys: keys, cfg: cfg, log: cfg.Logger,
		node:     randomHex(8),
		metrics:  newMetrics(cfg.Registerer, cfg.Logger),
		senders:  map[string]*cachedSender{},
		limiters: map[string]*rate.Limiter{},
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
	}
	s.tokens = &providerTokens{sys: sys, keys: keys, refresh: cfg.TokenRefresh, now: cfg.Now, cache: map[string]cachedToken{}}
	return s
}

// limiter returns the send rate limiter of one environment.
func (s *Service) limiter(envDB string) *rate.Limiter {
	s.limitersMu.Lock()
	defer s.limitersMu.Unlock()
	l := s.limiters[envDB]
	if l == nil {
		burst := max(int(s.cfg.RatePerApp/10), 1)
		l = rate.NewLimiter(rate.Limit(s.cfg.RatePerApp), burst)
		s.limiters[envDB] = l
	}
	return l
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// hashID is the hex sha256 of parts, cut to 32 characters.
func hashID(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:16])
}

// messageUUID is the apns-id of one notification to one installation:
// the same on every attempt, so that repeats after a crash are
// recognisable.
func messageUUID(nid, instID string) string {
	h := hashID(nid, instID)
	b := []byte(h)
	b[12] = '4' // version 4 layout, as APNs expects a UUID
	return string(b[0:8]) + "-" + string(b[8:12]) + "-" + string(b[12:16]) + "-" + string(b[16:20]) + "-" + string(b[20:32])
}
