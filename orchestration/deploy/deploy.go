// Package deploy stores flow bundles per app environment and keeps the right
// compiled plan live on every node: environments with their variables and
// sealed secrets, numbered deployments with their history, promotion of one
// bundle unchanged from environment to environment, rollback, and atomic
// swaps of the live plan under leases.
//
// The package does not know the flow language. A Builder (the orchestration
// engine, wired in by cmd/skybridge) inspects and compiles bundles; this
// package only ever sees its Inspection and opaque Plans.
//
// Everything lives in the system database (collections listed by Indexes):
// one document per deployment version, and one per app environment that
// holds its variables and sealed secrets. Every change of the live version
// is a new version (a rollback too: it republishes the files of the
// version live before), so the live version of an environment is simply
// its highest: storing a version's record (unique by app, environment and
// number) is the atomic swap in the store, and two nodes deploying at once
// agree on which one is live without a compare-and-swap (which FerretDB,
// one of the test stores, does not make atomic).
package deploy

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/skybridgehq/skybridge/keyring"
	"github.com/skybridgehq/skybridge/store"
)

// Builder inspects and compiles flow bundles: the orchestration engine
// implements it. Both methods must be safe for concurrent use.
type Builder interface {
	// Inspect validates a bundle without an environment: a bad bundle
	// returns *ValidationError.
	Inspect(files map[string]string) (*Inspection, error)
	// Build compiles a bundle for one environment into a runnable plan. A
	// missing variable or secret is an error naming it.
	Build(ctx context.Context, files map[string]string, env Env, version int) (Plan, error)
}

// Plan is a compiled bundle, ready to run. The Service closes it once no
// lease holds it any more and a newer plan has replaced it.
type Plan interface{ Close() error }

// Env is what a bundle is built against: one app environment's variables
// and (opened) secrets.
type Env struct {
	AppID, Name string
	Vars        map[string]any
	Secrets     map[string]string
}

// Inspection is what Builder.Inspect found in a bundle.
type Inspection struct {
	// Documents are the bundle's flows, triggers and other documents.
	Documents []Document
	// EnvRefs and SecretRefs name the variables (${env.X}) and secrets
	// (${secret.X}) the bundle needs.
	EnvRefs, SecretRefs []string
}

// Document is one document of a bundle. Digest changes when the document
// changes; Kind and Name identify it across versions.
type Document struct {
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	File   string `json:"file"`
	Digest string `json:"digest"`
}

// Sources of a deployment.
const (
	SourceDeploy   = "deploy"
	SourcePromote  = "promote"
	SourceRollback = "rollback"
)

// Sentinel errors. Test with errors.Is; only the api package turns them
// into HTTP statuses.
var (
	// ErrNoDeployment: nothing is deployed in the environment.
	ErrNoDeployment = errors.New("deploy: nothing deployed")
	// ErrNotFound: no such deployment version.
	ErrNotFound = errors.New("deploy: not found")
	// ErrInvalid: a malformed bundle path, variable, secret name or value,
	// or a bundle over the file count (see *InputError for the field).
	ErrInvalid = errors.New("deploy: invalid input")
	// ErrTooLarge: a bundle over Config.MaxBundleBytes.
	ErrTooLarge = errors.New("deploy: bundle too large")
	// ErrInvalidBundle: the Builder refused the bundle (*ValidationError).
	ErrInvalidBundle = errors.New("deploy: invalid bundle")
	// ErrMissingConfig: the environment lacks variables or secrets the
	// bundle needs (*MissingError).
	ErrMissingConfig = errors.New("deploy: missing variables or secrets")
	// ErrBuild: the Builder could not build the bundle for the
	// environment (*BuildError).
	ErrBuild = errors.New("deploy: build failed")
	// ErrNoPrevious: a rollback with no version live before the current.
	ErrNoPrevious = errors.New("deploy: no previous version to roll back to")
	// ErrConflict: concurrent writers kept winning; retry.
	ErrConflict = errors.New("deploy: too much contention")
	// ErrClosed: the Service was closed.
	ErrClosed = errors.New("deploy: closed")
)

// Config tunes a Service. The zero value means every default.
type Config struct {
	// RefreshInterval is how often, at most, Acquire checks the store for a
	// live version or configuration another node made. Default: 1s.
	RefreshInterval time.Duration
	// BuildTimeout bounds one build of a plan during a refresh (a build in
	// a deploy runs under the caller's context). Default: 30s.
	BuildTimeout time.Duration
	// MaxBundleBytes bounds a bundle's total size (paths and texts).
	// Default: 1 MiB.
	MaxBundleBytes int
	// MaxBundleFiles bounds a bundle's file count. Default: 200.
	MaxBundleFiles int
	// MaxVariablesBytes bounds an environment's variables, as JSON.
	// Default: 64 KiB.
	MaxVariablesBytes int
	// MaxSecretBytes bounds one secret value. Default: 16 KiB.
	MaxSecretBytes int
	// MaxSecrets bounds the secrets of one environment. Default: 200.
	MaxSecrets int
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// Logger receives refresh failures. Default: slog.Default().
	Logger *slog.Logger
}

// Defaults of Config.
const (
	DefaultRefreshInterval   = time.Second
	DefaultBuildTimeout      = 30 * time.Second
	DefaultMaxBundleBytes    = 1 << 20
	DefaultMaxBundleFiles    = 200
	DefaultMaxVariablesBytes = 64 << 10
	DefaultMaxSecretBytes    = 16 << 10
	DefaultMaxSecrets        = 200
)

func (c Config) withDefaults() Config {
	if c.RefreshInterval <= 0 {
		c.RefreshInterval = DefaultRefreshInterval
	}
	if c.BuildTimeout <= 0 {
		c.BuildTimeout = DefaultBuildTimeout
	}
	if c.MaxBundleBytes <= 0 {
		c.MaxBundleBytes = DefaultMaxBundleBytes
	}
	if c.MaxBundleFiles <= 0 {
		c.MaxBundleFiles = DefaultMaxBundleFiles
	}
	if c.MaxVariablesBytes <= 0 {
		c.MaxVariablesBytes = DefaultMaxVariablesBytes
	}
	if c.MaxSecretBytes <= 0 {
		c.MaxSecretBytes = DefaultMaxSecretBytes
	}
	if c.MaxSecrets <= 0 {
		c.MaxSecrets = DefaultMaxSecrets
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Collections of the system database this package owns.
const (
	collDeployments = "flowDeployments"
	collEnvs        = "flowEnvironments"
)

// Indexes returns the indexes this package needs in the system database,
// by collection name. The migrations create them.
func Indexes() map[string][]store.Index {
	return map[string][]store.Index{
		collDeployments: {
			// Also what makes version numbers race-safe on stores whose
			// _id is not the only guard (the _id is app/env/version too).
			{Name: "flowdeployments_version_u", Fields: []string{"appId", "env", "version"}, Unique: true},
		},
	}
}

// Service stores bundles and keeps the live plan of each app environment.
// It is safe for concurrent use; several Services (one per node) share one
// system database.
type Service struct {
	sys     store.DB
	kr      *keyring.Keyring
	builder Builder
	cfg     Config
	log     *slog.Logger

	mu     sync.Mutex
	slots  map[slotKey]*slot // live plans of this node
	closed atomic.Bool
}

// NewService returns a Service over the system database sys, sealing
// secrets with kr and building plans with b. The indexes of Indexes must
// exist in sys (the migrations create them).
func NewService(sys store.DB, kr *keyring.Keyring, b Builder, cfg Config) *Service {
	if sys == nil || kr == nil || b == nil {
		panic("deploy: NewService needs a system database, a keyring and a builder")
	}
	cfg = cfg.withDefaults()
	return &Service{
		sys:     sys,
		kr:      kr,
		builder: b,
		cfg:     cfg,
		log:     cfg.Logger.With("component", "deploy"),
		slots:   map[slotKey]*slot{},
	}
}

// Close retires every live plan of this node: each is closed at once, or
// when its last lease is released. Later Acquires fail with ErrClosed.
func (s *Service) Close() error {
	s.mu.Lock()
	slots := s.slots
	s.slots = map[slotKey]*slot{}
	s.closed.Store(true)
	s.mu.Unlock()
	var errs []error
	for _, sl := range slots {
		sl.mu.Lock()
		old := sl.cur.Swap(nil)
		sl.mu.Unlock()
		if old != nil {
			errs = append(errs, old.retire())
		}
	}
	return errors.Join(errs...)
}

// now is the service clock, in UTC at the store's microsecond precision.
func (s *Service) now() time.Time {
	return s.cfg.Now().UTC().Truncate(time.Microsecond)
}

// envKey identifies an app environment in store ids.
func envKey(appID, env string) string { return appID + "/" + env }

// slotKey identifies an app environment in Service.slots: a struct, so
// that the lookup on every request builds no string.
type slotKey struct{ appID, env string }
