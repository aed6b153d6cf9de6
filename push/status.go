package push

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// Notification statuses.
const (
	StatusQueued  = "queued"
	StatusSending = "sending"
	StatusDone    = "done"
	StatusFailed  = "failed"
)

// Status is what GET /v1/push/notifications/{id} answers.
type Status struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Counts Counts `json:"counts"`
	Timing Timing `json:"timing"`
	// Reason explains in a sentence why sends fail for the environment's
	// credentials (missing or refused); "" otherwise.
	Reason string `json:"reason,omitempty"`
}

// Counts sum a notification's deliveries.
type Counts struct {
	Targeted int64 `json:"targeted"`
	Sent     int64 `json:"sent"`
	// Failed counts failures by reason (APNs reason, FCM error code,
	// NoCredentials ...).
	Failed map[string]int64 `json:"failed"`
	// Pruned counts the installations deleted for a dead token.
	Pruned  int64 `json:"pruned"`
	Pending int64 `json:"pending"`
}

// Timing is when a notification was queued, started and finished.
type Timing struct {
	QueuedAt   *time.Time `json:"queuedAt,omitempty"`
	StartedAt  *time.Time `json:"startedAt,omitempty"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
	// ScheduledAt is the request's scheduleAt, as given.
	ScheduledAt string `json:"scheduledAt,omitempty"`
}

// Status sums the batches of notification id of env.
func (s *Service) Status(ctx context.Context, env Env, id string) (Status, error) {
	env = env.withDB()
	doc, err := s.sys.Collection(NotificationsCollection).Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) || (err == nil && stringOf(doc["db"]) != env.DB) {
		return Status{}, fmt.Errorf("notification %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Status{}, fmt.Errorf("push: read notification: %w", err)
	}
	st := Status{ID: id, Counts: Counts{Failed: map[string]int64{}}}
	st.Timing.QueuedAt = timeField(doc, "queuedAt")
	st.Timing.StartedAt = timeField(doc, "startedAt")
	if req, err := decodeRequest(stringOf(doc["request"]), s.cfg.Now()); err == nil {
		st.Timing.ScheduledAt = req.ScheduleAt
	}
	planned := stringOf(doc["plan"]) == stateDone
	touched, allDone := false, true
	var finished string
	var reasons []string
	if r := strings.TrimSpace(stringOf(doc["reason"])); r != "" {
		reasons = append(reasons, r)
	}
	q := store.Query{Filter: store.Compare{Path: "nid", Op: store.OpEq, Value: id}, Limit: store.MaxLimit}
	for {
		page, err := s.sys.Collection(BatchesCollection).Find(ctx, q)
		if err != nil {
			return Status{}, fmt.Errorf("push: read batches: %w", err)
		}
		for _, b := range page.Docs {
			if stringOf(b["state"]) != stateDone {
				allDone = false
			}
			if stringOf(b["state"]) == stateRunning {
				touched = true
			}
			for _, r := range strings.SplitAfter(stringOf(b["reason"]), ". ") {
				if r = strings.TrimSpace(r); r != "" && !contains(reasons, r) {
					reasons = append(reasons, r)
				}
			}
			if f := stringOf(b["finishedAt"]); f > finished {
				finished = f
			}
			n, _ := store.Int64(b["n"])
			sent, _ := store.Int64(b["sent"])
			pruned, _ := store.Int64(b["pruned"])
			pending, _ := store.Int64(b["pending"])
			st.Counts.Targeted += n
			st.Counts.Sent += sent
			st.Counts.Pruned += pruned
			st.Counts.Pending += pending
			if f, ok := b["failed"].(map[string]any); ok {
				for r, v := range f {
					c, _ := store.Int64(v)
					st.Counts.Failed[r] += c
				}
			}
			if sent+pruned > 0 || pending < n {
				touched = true
			}
		}
		if page.Cursor == "" {
			break
		}
		q.Cursor = page.Cursor
	}
	st.Reason = strings.Join(reasons, " ")
	failed := int64(0)
	for _, n := range st.Counts.Failed {
		failed += n
	}
	switch {
	case !planned && stringOf(doc["plan"]) == statePending && !touched:
		// Not started, or paused before its first batch was sent.
		st.Status = StatusQueued
	case !planned || !allDone:
		st.Status = StatusQueued
		if touched || !planned {
			st.Status = StatusSending
		}
	case st.Counts.Sent == 0 && failed > 0:
		st.Status = StatusFailed
	default:
		st.Status = StatusDone
	}
	if planned && allDone {
		if finished == "" {
			finished = stringOf(doc["plannedAt"])
		}
		if t, err := time.Parse(store.TimeFormat, finished); err == nil {
			st.Timing.FinishedAt = &t
		}
	}
	return st, nil
}

func timeField(d store.Doc, k string) *time.Time {
	t, err := time.Parse(store.TimeFormat, stringOf(d[k]))
	if err != nil {
		return nil
	}
	return &t
}
