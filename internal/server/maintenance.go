package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"sync"
	"time"

	"github.com/skybridgehq/skybridge/audit"
	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/store"
)

// Maintenance defaults.
const (
	// DefaultMaintenanceInterval is how often a node runs the maintenance
	// pass.
	DefaultMaintenanceInterval = time.Hour
	// maintenanceLeaseID names the lease document: one node of a cluster
	// runs a pass at a time.
	maintenanceLeaseID = "maintenance"
	// leasesCollection holds the cluster's leases in the system database.
	leasesCollection = "leases"
)

// MaintenanceReport says what one maintenance pass removed.
type MaintenanceReport struct {
	// Skipped: another node holds the lease; nothing was done.
	Skipped bool
	// Environments visited.
	Environments int
	// Sessions, RefreshTokens, MailTokens and OIDCCodes removed from the
	// user pools.
	Sessions, RefreshTokens, MailTokens, OIDCCodes int
	// AuditRecords removed by retention.
	AuditRecords int
	// Tombstones removed from object collections past the sync
	// tombstone retention.
	Tombstones int
	// SyncRecords removed from the sync bookkeeping (change ids and
	// last-write-wins edit times) past the same retention.
	SyncRecords int
	// Analytics counts the analytics day documents folded or removed and
	// the batch documents removed.
	Analytics int
	// Telemetry counts the device telemetry messages removed past their
	// environment's retention.
	Telemetry int
}

// maintainer runs the periodic housekeeping of a node: expired user
// sessions and refresh tokens, and audit records past their retention.
// Passes are serialised across nodes by a lease in the system database.
type maintainer struct {
	sys      store.DB
	store    store.Provider
	auth     *auth.Service
	audit    *audit.Service // nil when the node runs without the trail
	log      *slog.Logger
	interval time.Duration
	holder   string // this node's name in the lease
	// compact, when set, removes an environment database's tombstones
	// past their retention (sync.Service.CompactEnv).
	compact func(ctx context.Context, envDB string) (int, error)
	// pruneSync, when set, removes an environment database's sync
	// bookkeeping past the retention (sync.Service.PruneEnv).
	pruneSync func(ctx context.Context, envDB string) (int, error)
	// analytics, when set, folds and prunes an environment database's
	// analytics (analytics.Service.Maintain).
	analytics func(ctx context.Context, envDB string) (int, error)
	// telemetry, when set, removes an environment database's device
	// telemetry past its retention (iotbridge.Service.PruneTelemetry).
	telemetry func(ctx context.Context, envDB string) (int, error)

	stop chan struct{}
	wg   sync.WaitGroup
}

func newMaintainer(sys store.DB, p store.Provider, a *auth.Service, au *audit.Service, log *slog.Logger, interval time.Duration) *maintainer {
	if interval <= 0 {
		interval = DefaultMaintenanceInterval
	}
	host, _ := os.Hostname()
	return &maintainer{
		sys: sys, store: p, auth: a, audit: au, log: log, interval: interval,
		holder: fmt.Sprintf("%s/%d/%s", host, os.Getpid(), store.NewID()),
		stop:   make(chan struct{}),
	}
}

// start runs a pass after a random delay of up to a tenth of the interval
// (so that nodes started together do not race for the lease), then every
// interval, until shutdown.
func (m *maintainer) start() {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTimer(jitter(m.interval / 10))
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), m.interval)
			go func() { // shutdown cancels a running pass
				select {
				case <-m.stop:
					cancel()
				case <-ctx.Done():
				}
			}()
			rep, err := m.run(ctx)
			cancel()
			if err != nil {
				m.log.Error("maintenance pass failed", "err", err)
			} else if !rep.Skipped {
				m.log.Info("maintenance pass", "environments", rep.Environments, "sessions", rep.Sessions,
					"refreshTokens", rep.RefreshTokens, "mailTokens", rep.MailTokens, "oidcCodes", rep.OIDCCodes, "auditRecords", rep.AuditRecords, "tombstones", rep.Tombstones, "syncRecords", rep.SyncRecords, "analytics", rep.Analytics, "telemetry", rep.Telemetry)
			}
			t.Reset(m.interval)
		}
	}()
}

// shutdown stops the loop and waits for a running pass to give up.
func (m *maintainer) shutdown() {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	m.wg.Wait()
}

// run makes one pass when it gets the lease. It goes on past an
// environment that fails, and returns the failures joined.
func (m *maintainer) run(ctx context.Context) (MaintenanceReport, error) {
	var rep MaintenanceReport
	ok, err := m.acquire(ctx)
	if err != nil || !ok {
		rep.Skipped = true
		return rep, err
	}
	defer m.release()
	apps, err := m.auth.ListApps(ctx)
	if err != nil {
		return rep, err
	}
	var errs []error
	chains := []string{audit.SystemChain}
	for _, app := range apps {
		for _, env := range app.Environments {
			rep.Environments++
			chains = append(chains, audit.ChainOf(env.AppID, env.Name))
			db, err := m.store.DB(ctx, env.DB)
			if err != nil {
				errs = append(errs, fmt.Errorf("environment %s: %w", env.DB, err))
				continue
			}
			st, err := m.auth.PruneSessions(ctx, db)
			rep.Sessions += st.Sessions
			rep.RefreshTokens += st.RefreshTokens
			rep.MailTokens += st.MailTokens
			rep.OIDCCodes += st.OIDCCodes
			if err != nil {
				errs = append(errs, fmt.Errorf("environment %s: %w", env.DB, err))
			}
			if m.compact != nil {
				n, err := m.compact(ctx, env.DB)
				rep.Tombstones += n
				if err != nil {
					errs = append(errs, fmt.Errorf("environment %s: tombstones: %w", env.DB, err))
				}
			}
			if m.pruneSync != nil {
				n, err := m.pruneSync(ctx, env.DB)
				rep.SyncRecords += n
				if err != nil {
					errs = append(errs, fmt.Errorf("environment %s: %w", env.DB, err))
				}
			}
			if m.analytics != nil {
				n, err := m.analytics(ctx, env.DB)
				rep.Analytics += n
				if err != nil {
					errs = append(errs, fmt.Errorf("environment %s: %w", env.DB, err))
				}
			}
			if m.telemetry != nil {
				n, err := m.telemetry(ctx, env.DB)
				rep.Telemetry += n
				if err != nil {
					errs = append(errs, fmt.Errorf("environment %s: %w", env.DB, err))
				}
			}
		}
	}
	if m.audit != nil {
		n, err := m.audit.PruneExpired(ctx, chains)
		rep.AuditRecords = n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return rep, errors.Join(errs...)
}

// acquire takes the maintenance lease for twice the interval, when it is
// free or expired. The lease outlives a crashed holder by at most that.
func (m *maintainer) acquire(ctx context.Context) (bool, error) {
	leases := m.sys.Collection(leasesCollection)
	now := time.Now()
	doc := store.Doc{
		store.FieldID: maintenanceLeaseID,
		"holder":      m.holder,
		"expiresAt":   store.FormatTime(now.Add(2 * m.interval)),
	}
	cur, err := leases.Get(ctx, maintenanceLeaseID)
	if errors.Is(err, store.ErrNotFound) {
		_, err = leases.Insert(ctx, doc)
		if errors.Is(err, store.ErrDuplicate) {
			return false, nil
		}
		return err == nil, err
	}
	if err != nil {
		return false, fmt.Errorf("maintenance lease: %w", err)
	}
	if exp, _ := cur["expiresAt"].(string); exp > store.FormatTime(now) && cur["holder"] != m.holder {
		return false, nil
	}
	_, err = leases.Replace(ctx, maintenanceLeaseID, store.DocVersion(cur), doc)
	if errors.Is(err, store.ErrVersionConflict) || errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// release gives the lease up early, so that a pass started on another
// node after this one ends need not wait for the expiry.
func (m *maintainer) release() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	leases := m.sys.Collection(leasesCollection)
	cur, err := leases.Get(ctx, maintenanceLeaseID)
	if err != nil || cur["holder"] != m.holder {
		return
	}
	if err := leases.Delete(ctx, maintenanceLeaseID, store.DocVersion(cur)); err != nil && !errors.Is(err, store.ErrVersionConflict) {
		m.log.Warn("release maintenance lease", "err", err)
	}
}

// jitter returns a random duration in [0, max).
func jitter(max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	n, err := rand.Int(rand.Reader, big.NewInt(int64(max)))
	if err != nil {
		return max / 2
	}
	return time.Duration(n.Int64())
}
