package trigger

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/skybridgehq/skybridge/orchestration"
	"github.com/skybridgehq/skybridge/orchestration/deploy"
	"github.com/skybridgehq/skybridge/store"
)

// dispatch claims due firings, and running ones whose lease expired, up
// to the free run slots, and runs them in the background.
func (s *Service) dispatch(ctx context.Context) error {
	c := s.sys.Collection(FiringsCollection)
	now := store.FormatTime(s.now())
	queries := []store.Filter{
		store.And{Filters: []store.Filter{store.Compare{Path: "state", Op: store.OpEq, Value: StatePending}, store.Compare{Path: "due", Op: store.OpLte, Value: now}}},
		store.And{Filters: []store.Filter{store.Compare{Path: "state", Op: store.OpEq, Value: StateRunning}, store.Compare{Path: "leaseUntil", Op: store.OpLt, Value: now}}},
	}
	sorts := [][]store.SortKey{{{Path: "due"}}, {{Path: "leaseUntil"}}}
	for i, f := range queries {
		page, err := c.Find(ctx, store.Query{Filter: f, Sort: sorts[i], Limit: s.cfg.BatchSize})
		if err != nil {
			return fmt.Errorf("find due firings: %w", err)
		}
		for _, d := range page.Docs {
			select {
			case <-s.stop:
				return nil
			case s.sem <- struct{}{}:
			default:
				return nil // every slot busy; the next round goes on
			}
			claimed, claim, err := s.claim(ctx, d)
			if err != nil || claimed == nil {
				<-s.sem
				if err != nil {
					return err
				}
				continue
			}
			s.runs.Add(1)
			go func() {
				defer func() { <-s.sem; s.runs.Done() }()
				s.run(claimed, claim)
			}()
		}
	}
	return nil
}

// claim takes a firing for this node: first a claim document whose _id is
// the firing's id and the version read (unique: of two nodes that read
// the same version one wins, on every store), then the firing itself,
// running under this node's lease. It returns nil when another node won.
func (s *Service) claim(ctx context.Context, d store.Doc) (store.Doc, string, error) {
	// The claim and the firing's update go together: a claim left
	// without its update (a shutdown cancelling between the two) would
	// keep every node from claiming this version of the firing.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	id, v := store.DocID(d), store.DocVersion(d)
	claimID := id + "-" + strconv.FormatInt(v, 10)
	now := s.now()
	_, err := s.sys.Collection(ClaimsCollection).Insert(ctx, store.Doc{store.FieldID: claimID, "firing": id, "holder": s.cfg.Holder, "at": store.FormatTime(now)})
	if errors.Is(err, store.ErrDuplicate) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("claim firing: %w", err)
	}
	nd := copyFields(d)
	if d["state"] == StateRunning {
		s.log.Info("trigger: firing taken over after its lease expired", "trigger", d["trigger"], "firing", id, "previousHolder", d["holder"])
	}
	nd["state"], nd["claim"], nd["holder"] = StateRunning, claimID, s.cfg.Holder
	nd["leaseUntil"] = store.FormatTime(now.Add(s.cfg.Lease))
	stored, err := s.sys.Collection(FiringsCollection).Replace(ctx, id, v, nd)
	if errors.Is(err, store.ErrVersionConflict) || errors.Is(err, store.ErrNotFound) {
		return nil, "", nil // changed meanwhile (a later event of a delayed firing)
	}
	if err != nil {
		if derr := s.sys.Collection(ClaimsCollection).Delete(ctx, claimID, 0); derr != nil {
			s.log.Warn("trigger: remove a claim that did not take", "claim", claimID, "err", derr)
		}
		return nil, "", fmt.Errorf("claim firing: %w", err)
	}
	return stored, claimID, nil
}

// outcome is how a run ended.
type outcome struct {
	state  string // done, skipped, failed, or pending (retry or release)
	due    time.Time
	fail   bool // counts as a failed attempt
	reason string
}

// run runs a claimed firing on the live plan of its environment and
// records the outcome.
func (s *Service) run(d store.Doc, claim string) {
	trig, _ := d["trigger"].(string)
	app, _ := d["app"].(string)
	envName, _ := d["env"].(string)
	attempts := toInt64(d["attempts"])
	ctx, cancel := context.WithTimeout(s.runCtx, s.cfg.Lease)
	defer cancel()
	out := s.fire(ctx, d, app, envName, trig, int(attempts)+1)
	if s.runCtx.Err() != nil && out.state != StateDone && out.state != StateSkipped {
		out = outcome{state: StatePending, due: s.now(), reason: "released at shutdown"}
	}
	if out.fail {
		attempts++
		if attempts >= int64(s.cfg.MaxAttempts) {
			out.state = StateFailed
		} else {
			out.state, out.due = StatePending, s.now().Add(s.backoff(int(attempts)))
		}
	}
	label := out.state
	switch {
	case out.state == StatePending && out.fail:
		label = "retry"
	case out.state == StatePending:
		label = "released"
	}
	s.metrics.count(trig, label)
	lvl := s.log.Info
	if out.fail {
		lvl = s.log.Warn
	}
	lvl("trigger: firing ran", "trigger", trig, "app", app, "env", envName, "firing", store.DocID(d), "outcome", label, "attempts", attempts, "reason", out.reason)
	s.finish(d, claim, out, attempts)
}

// fire runs the flow and classifies the result.
func (s *Service) fire(ctx context.Context, d store.Doc, app, envName, trig string, attempt int) outcome {
	lease, err := s.plans.Acquire(ctx, app, envName)
	if errors.Is(err, deploy.ErrNoDeployment) {
		return outcome{state: StateSkipped, reason: "nothing deployed"}
	}
	if err != nil {
		return outcome{fail: true, reason: err.Error()}
	}
	defer lease.Release()
	r, ok := lease.Plan().(runner)
	if !ok {
		return outcome{state: StateSkipped, reason: "the live plan runs no triggers"}
	}
	ev := eventFromDoc(d["event"])
	if d["kind"] == kindDelay {
		ev.Object = s.current(ctx, app, envName, ev)
	}
	key, _ := d["key"].(string)
	_, err = r.Fire(ctx, trig, orchestration.Firing{ID: store.DocID(d), Key: key, Attempt: attempt}, ev)
	switch {
	case err == nil:
		return outcome{state: StateDone}
	case errors.Is(err, orchestration.ErrSkipped):
		return outcome{state: StateSkipped, reason: "unless"}
	case errors.Is(err, orchestration.ErrTriggerNotFound):
		return outcome{state: StateSkipped, reason: "trigger no longer deployed"}
	}
	return outcome{fail: true, reason: err.Error()}
}

// current reads a delayed firing's object as it is now; the event's
// snapshot when it cannot be read.
func (s *Service) current(ctx context.Context, app, envName string, ev orchestration.TriggerEvent) map[string]any {
	db, err := s.stores.DB(ctx, store.EnvDBName(app, envName))
	if err != nil {
		return ev.Object
	}
	obj, err := db.Collection(objectsCollection(ev.Collection)).Get(ctx, ev.ID)
	if err != nil {
		return ev.Object
	}
	return obj
}

// backoff is the wait after n failures.
func (s *Service) backoff(n int) time.Duration {
	d := s.cfg.Backoff
	for i := 1; i < n && d < s.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, s.cfg.MaxBackoff)
}

// finish records a run's outcome on the firing, unless another node took
// the firing over meanwhile (its claim is no longer the firing's). A
// delayed firing with a `next` event becomes pending for it.
func (s *Service) finish(d store.Doc, claim string, out outcome, attempts int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := s.sys.Collection(FiringsCollection)
	id := store.DocID(d)
	for range 5 {
		cur, err := c.Get(ctx, id)
		if err != nil {
			s.log.Warn("trigger: record a firing's outcome", "firing", id, "err", err)
			return
		}
		if cur["claim"] != claim {
			s.log.Warn("trigger: firing was taken over while it ran; its outcome is dropped", "firing", id)
			return
		}
		nd := copyFields(cur)
		delete(nd, "holder")
		delete(nd, "leaseUntil")
		nd["state"], nd["attempts"] = out.state, attempts
		if out.reason != "" {
			nd["reason"] = out.reason
		} else {
			delete(nd, "reason")
		}
		if out.state == StatePending {
			nd["due"] = store.FormatTime(out.due)
		} else {
			nd["finishedAt"] = store.FormatTime(s.now())
		}
		if next, ok := cur["next"].(map[string]any); ok && out.state != StatePending {
			nd["state"], nd["key"], nd["due"], nd["event"], nd["version"] = StatePending, next["key"], next["due"], next["event"], next["version"]
			nd["attempts"] = int64(0)
			delete(nd, "next")
			delete(nd, "finishedAt")
		}
		_, err = c.Replace(ctx, id, store.DocVersion(cur), nd)
		if errors.Is(err, store.ErrVersionConflict) {
			continue
		}
		if err != nil {
			s.log.Warn("trigger: record a firing's outcome", "firing", id, "err", err)
		}
		break
	}
	if err := s.sys.Collection(ClaimsCollection).Delete(ctx, claim, 0); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Warn("trigger: remove a claim", "claim", claim, "err", err)
	}
}

// prune removes finished firings and claims past the retention, at most
// once an hour.
func (s *Service) prune(ctx context.Context) {
	s.mu.Lock()
	if s.now().Sub(s.lastPruned) < time.Hour {
		s.mu.Unlock()
		return
	}
	s.lastPruned = s.now()
	s.mu.Unlock()
	before := store.FormatTime(s.now().Add(-s.cfg.Retention))
	_, err := store.DeleteMatching(ctx, s.sys.Collection(FiringsCollection), store.Query{Limit: s.cfg.BatchSize, Filter: store.And{Filters: []store.Filter{
		store.In{Path: "state", Values: []any{StateDone, StateSkipped, StateFailed}},
		store.Compare{Path: "finishedAt", Op: store.OpLt, Value: before},
	}}})
	if err == nil {
		_, err = store.DeleteMatching(ctx, s.sys.Collection(ClaimsCollection), store.Query{Limit: s.cfg.BatchSize,
			Filter: store.Compare{Path: "at", Op: store.OpLt, Value: before}})
	}
	if err != nil && ctx.Err() == nil {
		s.log.Warn("trigger: prune finished firings", "err", err)
	}
}
