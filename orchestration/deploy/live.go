package deploy

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
)

// A node keeps one slot per app environment it serves: the live plan
// behind an atomic pointer. A new plan is built first, then swapped in; the
// old one is retired and closed when its last lease is released, so a
// request that acquired it finishes on it and no request sees a half
// deployed bundle.

// livePlan is a built plan with its reference count.
type livePlan struct {
	plan      Plan
	version   int
	configRev int64
	log       *slog.Logger

	mu      sync.Mutex
	refs    int
	retired bool // replaced: no new leases; closed when refs reach 0
	closed  bool
}

// acquire takes a reference, unless the plan was retired: the caller then
// loads the slot again, which already holds the successor.
func (lp *livePlan) acquire() bool {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	if lp.retired {
		return false
	}
	lp.refs++
	return true
}

func (lp *livePlan) release() {
	lp.mu.Lock()
	lp.refs--
	last := lp.retired && lp.refs == 0 && !lp.closed
	if last {
		lp.closed = true
	}
	lp.mu.Unlock()
	if last {
		lp.close()
	}
}

// retire stops new leases and closes the plan now when none is held.
func (lp *livePlan) retire() error {
	lp.mu.Lock()
	lp.retired = true
	last := lp.refs == 0 && !lp.closed
	if last {
		lp.closed = true
	}
	lp.mu.Unlock()
	if last {
		return lp.close()
	}
	return nil
}

func (lp *livePlan) close() error {
	if err := lp.plan.Close(); err != nil {
		lp.log.Warn("close a retired plan", "version", lp.version, "err", err)
		return fmt.Errorf("close plan of version %d: %w", lp.version, err)
	}
	return nil
}

// slot is one app environment's live plan on this node.
type slot struct {
	appID, env string
	cur        atomic.Pointer[livePlan]
	mu         sync.Mutex    // serialises swaps
	sem        chan struct{} // one refresh at a time
	checked    atomic.Int64  // when the store was last read, unix nanoseconds
}

// Lease holds a live plan open: the plan is not closed before Release,
// even when a newer version goes live meanwhile.
type Lease struct {
	lp       *livePlan
	released atomic.Bool
}

// Plan is the leased plan.
func (l *Lease) Plan() Plan { return l.lp.plan }

// Version is the deployment version of the leased plan.
func (l *Lease) Version() int { return l.lp.version }

// Release gives the plan back; the last release of a replaced plan closes
// it. Calling it again does nothing.
func (l *Lease) Release() {
	if l.released.CompareAndSwap(false, true) {
		l.lp.release()
	}
}

// slotFor returns the slot of an app environment, creating it.
func (s *Service) slotFor(appID, env string) (*slot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return nil, ErrClosed
	}
	k := slotKey{appID, env}
	sl := s.slots[k]
	if sl == nil {
		sl = &slot{appID: appID, env: env, sem: make(chan struct{}, 1)}
		s.slots[k] = sl
	}
	return sl, nil
}

// Acquire leases the live plan of an app environment: the caller runs the
// request on lease.Plan() and then calls lease.Release(). It fails with
// ErrNoDeployment when nothing is deployed there. At most every
// Config.RefreshInterval it first reads the store for a version or
// configuration another node made live, and builds it; while one request
// does so, the others keep the current plan.
func (s *Service) Acquire(ctx context.Context, appID, env string) (*Lease, error) {
	sl, err := s.slotFor(appID, env)
	if err != nil {
		return nil, err
	}
	if s.stale(sl) {
		first := sl.cur.Load() == nil
		if err := s.refresh(ctx, sl, first); err != nil && sl.cur.Load() == nil {
			return nil, err
		}
	}
	for {
		lp := sl.cur.Load()
		if lp == nil {
			return nil, fmt.Errorf("%w: environment %q of app %q", ErrNoDeployment, env, appID)
		}
		if lp.acquire() {
			return &Lease{lp: lp}, nil
		}
	}
}

// Refresh reads the live version and configuration of an app environment
// from the store now and, when they changed, builds and swaps in the new
// plan. An event that another node deployed can call it; Acquire does on
// its own every Config.RefreshInterval.
func (s *Service) Refresh(ctx context.Context, appID, env string) error {
	sl, err := s.slotFor(appID, env)
	if err != nil {
		return err
	}
	sl.checked.Store(0)
	return s.refresh(ctx, sl, true)
}

func (s *Service) stale(sl *slot) bool {
	return s.cfg.Now().UnixNano()-sl.checked.Load() >= int64(s.cfg.RefreshInterval)
}

// refresh brings the slot up to the store. With wait it queues behind a
// refresh in progress; without, it leaves the work to that one. A build
// that fails keeps the current plan serving and is logged.
func (s *Service) refresh(ctx context.Context, sl *slot, wait bool) error {
	if wait {
		select {
		case sl.sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
	} else {
		select {
		case sl.sem <- struct{}{}:
		default:
			return nil
		}
	}
	defer func() { <-sl.sem }()
	if !s.stale(sl) {
		return nil // refreshed while this one queued
	}
	// Marked when done (before the semaphore is given back), so that
	// first Acquires arriving meanwhile queue for the plan rather than
	// finding none; after a failure too, so that the next try waits an
	// interval rather than hammering the store on every request.
	defer func() { sl.checked.Store(s.cfg.Now().UnixNano()) }()
	st, err := s.loadEnv(ctx, sl.appID, sl.env)
	if err != nil {
		s.log.WarnContext(ctx, "refresh: read the live version", "app", sl.appID, "env", sl.env, "err", err)
		return err
	}
	live, err := s.lastVersion(ctx, sl.appID, sl.env)
	if err != nil {
		s.log.WarnContext(ctx, "refresh: read the live version", "app", sl.appID, "env", sl.env, "err", err)
		return err
	}
	cur := sl.cur.Load()
	if live == 0 || cur != nil && cur.version == live && cur.configRev == st.configRev {
		return nil
	}
	plan, err := s.buildLive(ctx, st, live)
	if err != nil {
		s.log.WarnContext(ctx, "refresh: build of the live version failed; the current plan keeps serving",
			"app", sl.appID, "env", sl.env, "version", live, "err", err)
		return err
	}
	s.install(sl, plan, live, st.configRev)
	return nil
}

// buildLive builds version live of st's environment under its own
// deadline: the request that triggered a refresh may end before the build.
func (s *Service) buildLive(ctx context.Context, st *envState, live int) (Plan, error) {
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.BuildTimeout)
	defer cancel()
	return s.rebuildLive(bctx, st, live)
}

// installFor is install on the slot of an app environment; a closed
// Service closes the plan instead.
func (s *Service) installFor(appID, env string, plan Plan, version int, configRev int64) {
	sl, err := s.slotFor(appID, env)
	if err != nil {
		if cerr := plan.Close(); cerr != nil {
			s.log.Warn("close a plan built while closing", "app", appID, "env", env, "err", cerr)
		}
		return
	}
	s.install(sl, plan, version, configRev)
}

// install swaps plan in as the slot's live plan unless the slot already
// holds one as new, in which case plan is closed. Versions and
// configuration revisions only grow in the store, so (version, configRev)
// orders plans; a plan that is newer in one and older in the other is
// corrected by the next refresh, which compares both with the store. The
// replaced plan is retired.
func (s *Service) install(sl *slot, plan Plan, version int, configRev int64) {
	lp := &livePlan{plan: plan, version: version, configRev: configRev,
		log: s.log.With("app", sl.appID, "env", sl.env)}
	sl.mu.Lock()
	old := sl.cur.Load()
	// A Service closed meanwhile swaps its slots empty under sl.mu after
	// setting closed: checking here, under sl.mu, leaves no plan behind.
	if s.closed.Load() || old != nil && !newer(version, configRev, old) {
		sl.mu.Unlock()
		lp.closed = true
		_ = lp.close()
		return
	}
	sl.cur.Store(lp)
	sl.mu.Unlock()
	sl.checked.Store(s.cfg.Now().UnixNano())
	if old != nil {
		_ = old.retire() // logged by close
	}
}

func newer(version int, configRev int64, than *livePlan) bool {
	return version > than.version || version == than.version && configRev > than.configRev
}
