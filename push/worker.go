package push

import (
	"context"
	"fmt"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// systemIndexes are the queue's indexes in the system database.
var systemIndexes = map[string][]store.Index{
	NotificationsCollection: {{Fields: []string{"plan", "planLease"}}},
	BatchesCollection:       {{Fields: []string{"state", "due"}}, {Fields: []string{"nid"}}},
}

// Start creates the queue's indexes and runs Config.Workers workers until
// Shutdown. Each worker plans notifications and sends due batches.
func (s *Service) Start(ctx context.Context) error {
	if err := store.EnsureIndexes(ctx, s.sys, systemIndexes); err != nil {
		return fmt.Errorf("push: queue indexes: %w", err)
	}
	s.started = true
	for range s.cfg.Workers {
		s.wg.Add(1)
		go s.work()
	}
	return nil
}

// Shutdown stops the workers: no new batch or send starts, sends in
// flight finish and are recorded, and unfinished batches go back to
// pending for any node to continue. It waits until ctx ends at most.
func (s *Service) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() { close(s.stop) })
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("push: workers still sending: %w", ctx.Err())
	}
}

func (s *Service) stopping() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

// nudge wakes one idle worker.
func (s *Service) nudge() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// work is one worker's loop.
func (s *Service) work() {
	defer s.wg.Done()
	ctx := context.Background()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		case <-s.wake:
		}
		busy := false
		if ok, err := s.planOne(ctx); err != nil {
			s.log.Warn("push: plan", "err", err)
		} else if ok {
			busy = true
		}
		if !s.stopping() {
			if ok, err := s.batchOne(ctx); err != nil {
				s.log.Warn("push: batch", "err", err)
			} else if ok {
				busy = true
			}
		}
		wait := s.cfg.PollInterval
		if busy {
			wait = 0
			s.nudge() // more may be due: let another worker look too
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(wait)
	}
}
