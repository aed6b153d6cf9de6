package push

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// planOne claims one notification whose planning is pending (or whose
// planner's lease ended) and splits its targets into batches. It reports
// whether it found one.
func (s *Service) planOne(ctx context.Context) (bool, error) {
	now := s.cfg.Now().UTC()
	f := store.Or{Filters: []store.Filter{
		store.Compare{Path: "plan", Op: store.OpEq, Value: statePending},
		store.And{Filters: []store.Filter{
			store.Compare{Path: "plan", Op: store.OpEq, Value: stateRunning},
			store.Compare{Path: "planLease", Op: store.OpLt, Value: store.FormatTime(now)},
		}},
	}}
	page, err := s.sys.Collection(NotificationsCollection).Find(ctx, store.Query{Filter: f, Limit: 8})
	if err != nil {
		return false, fmt.Errorf("push: find notifications to plan: %w", err)
	}
	for _, cur := range page.Docs {
		waiting := 0
		if pages, _ := store.Int64(cur["planPage"]); pages > 0 {
			// Planned in part: go on only once its senders caught up.
			n, err := s.waitingBatches(ctx, store.DocID(cur))
			if err != nil {
				return false, err
			}
			if n >= s.cfg.PlanAhead {
				continue
			}
			waiting = n
		}
		next := copyFields(cur)
		next["plan"], next["planOwner"] = stateRunning, s.node
		next["planLease"] = store.FormatTime(now.Add(s.cfg.Lease))
		if stringOf(cur["startedAt"]) == "" {
			next["startedAt"] = store.FormatTime(now)
		}
		stored, ok, err := s.claim(ctx, NotificationsCollection, cur, next)
		if err != nil {
			return false, err
		}
		if ok {
			return true, s.plan(ctx, stored, s.cfg.PlanAhead-waiting)
		}
	}
	return false, nil
}

// plan pages through the targets of a claimed notification and writes
// its batches, keeping the cursor in the notification so that another
// node resumes where it stopped. After room batches it hands the
// notification back (pending, with its cursor) until its senders have
// caught up (waitingBatches).
func (s *Service) plan(ctx context.Context, doc store.Doc, room int) error {
	nid := store.DocID(doc)
	notifs := s.sys.Collection(NotificationsCollection)
	req, err := decodeRequest(stringOf(doc["request"]), s.cfg.Now())
	if err != nil {
		next := copyFields(doc)
		next["plan"], next["reason"] = stateDone, "The request could not be read back: "+err.Error()
		_, _ = notifs.Replace(ctx, nid, store.DocVersion(doc), next)
		return err
	}
	envDB := stringOf(doc["db"])
	db, err := s.stores.DB(ctx, envDB)
	if err != nil {
		return fmt.Errorf("push: open %s: %w", envDB, err)
	}
	queued, _ := time.Parse(store.TimeFormat, stringOf(doc["queuedAt"]))
	inst := db.Collection(InstallationsCollection)
	filter := req.filter()
	cursor := stringOf(doc["planCursor"])
	pageNo, _ := store.Int64(doc["planPage"])
	targeted, _ := store.Int64(doc["targeted"])
	written := 0 // pages written by this call
	for {
		if s.stopping() {
			// Leave the rest to the next node: the lease ends soon.
			next := copyFields(doc)
			next["plan"], next["planOwner"] = statePending, ""
			_, _ = notifs.Replace(context.WithoutCancel(ctx), nid, store.DocVersion(doc), next)
			return nil
		}
		f := filter
		if cursor != "" {
			f = store.And{Filters: []store.Filter{store.Compare{Path: store.FieldID, Op: store.OpGt, Value: cursor}, filter}}
		}
		res, err := inst.Find(ctx, store.Query{Filter: f, Sort: []store.SortKey{{Path: store.FieldID}}, Limit: s.cfg.BatchSize})
		if err != nil {
			return fmt.Errorf("push: find targets of %s: %w", nid, err)
		}
		if n := len(res.Docs); n > 0 {
			last, err := s.writeBatch(ctx, doc, pageNo, res.Docs, &req, queued)
			if err != nil {
				return err
			}
			cursor = last
			pageNo++
			targeted += int64(n)
		}
		done := len(res.Docs) < s.cfg.BatchSize
		written++
		pause := !done && written >= room
		next := copyFields(doc)
		next["planCursor"], next["planPage"], next["targeted"] = cursor, pageNo, targeted
		next["planLease"] = store.FormatTime(s.cfg.Now().UTC().Add(s.cfg.Lease))
		switch {
		case done:
			next["plan"], next["batches"], next["plannedAt"] = stateDone, pageNo, store.FormatTime(s.cfg.Now().UTC())
		case pause:
			// Enough batches wait: let any worker (here or on another
			// node) go on once they are sent (planAheadFull).
			next["plan"], next["planOwner"], next["planLease"] = statePending, "", ""
		}
		doc, err = notifs.Replace(ctx, nid, store.DocVersion(doc), next)
		if errors.Is(err, store.ErrVersionConflict) {
			return nil // another node took over after our lease ended
		}
		if err != nil {
			return fmt.Errorf("push: record the plan of %s: %w", nid, err)
		}
		if len(res.Docs) > 0 {
			s.nudge()
		}
		if done || pause {
			return nil
		}
	}
}

// waitingBatches counts the batches of notification nid that are due and
// waiting to be sent: its planning pauses while there are
// Config.PlanAhead of them. Batches due later (a local-time send, retries
// put off) are not work ahead and do not count, so they never hold back
// the planning of targets due sooner.
func (s *Service) waitingBatches(ctx context.Context, nid string) (int, error) {
	n, err := s.sys.Collection(BatchesCollection).Count(ctx, store.And{Filters: []store.Filter{
		store.Compare{Path: "nid", Op: store.OpEq, Value: nid},
		store.Compare{Path: "state", Op: store.OpEq, Value: statePending},
		store.Compare{Path: "due", Op: store.OpLte, Value: store.FormatTime(s.cfg.Now().UTC())},
	}})
	if err != nil {
		return 0, fmt.Errorf("push: count the waiting batches of %s: %w", nid, err)
	}
	return int(n), nil
}

// writeBatch stores page pageNo of a notification's targets and returns
// the last installation id in it. A page written before (by a planner
// that died after writing it) is kept as it was.
func (s *Service) writeBatch(ctx context.Context, notif store.Doc, pageNo int64, docs []store.Doc, req *SendRequest, queued time.Time) (string, error) {
	nid := store.DocID(notif)
	id := fmt.Sprintf("%s-%06d", nid, pageNo)
	items := make([]any, len(docs))
	out := make([]any, len(docs))
	att := make([]any, len(docs))
	minDue := ""
	for i, d := range docs {
		due := store.FormatTime(req.dueFor(stringOf(d["timezone"]), queued))
		if minDue == "" || due < minDue {
			minDue = due
		}
		items[i] = map[string]any{"id": store.DocID(d), "t": stringOf(d["token"]), "p": stringOf(d["platform"]), "l": stringOf(d["locale"]), "d": due}
		out[i], att[i] = "", int64(0)
	}
	// The items first: a batch header exists only with its items.
	c := s.sys.Collection(BatchItemsCollection)
	if _, err := c.Insert(ctx, store.Doc{store.FieldID: id, "items": items, "out": out, "att": att}); err != nil {
		if !errors.Is(err, store.ErrDuplicate) {
			return "", fmt.Errorf("push: store batch %s: %w", id, err)
		}
		// Written by a planner that died after it: keep it as it was.
		prev, err := c.Get(ctx, id)
		if err != nil {
			return "", fmt.Errorf("push: read batch %s: %w", id, err)
		}
		its := batchItems(prev)
		if len(its) == 0 {
			return "", fmt.Errorf("push: batch %s has no items", id)
		}
		items, minDue = prev["items"].([]any), ""
		for _, it := range its {
			if minDue == "" || it.due < minDue {
				minDue = it.due
			}
		}
	}
	header := store.Doc{
		store.FieldID: id, "nid": nid, "app": notif["app"], "env": notif["env"], "db": notif["db"],
		"state": statePending, "due": minDue, "lease": "", "owner": "",
		"n": int64(len(items)), "sent": int64(0), "pruned": int64(0), "failed": map[string]any{}, "pending": int64(len(items)),
	}
	if _, err := s.sys.Collection(BatchesCollection).Insert(ctx, header); err != nil && !errors.Is(err, store.ErrDuplicate) {
		return "", fmt.Errorf("push: store batch %s: %w", id, err)
	}
	last, _ := items[len(items)-1].(map[string]any)
	return stringOf(last["id"]), nil
}

// dueFor is when an installation in time zone tz gets the notification.
func (r *SendRequest) dueFor(tz string, queued time.Time) time.Time {
	switch {
	case r.parsedAt.IsZero():
		return queued
	case r.LocalTime:
		loc := time.UTC
		if tz != "" {
			if l, err := time.LoadLocation(tz); err == nil {
				loc = l
			}
		}
		a := r.parsedAt
		return time.Date(a.Year(), a.Month(), a.Day(), a.Hour(), a.Minute(), a.Second(), 0, loc).UTC()
	}
	return r.parsedAt
}
