package trigger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/skybridgehq/skybridge/orchestration"
	"github.com/skybridgehq/skybridge/store"
)

// maxMissed bounds the schedule instants walked to find the latest
// missed one after a long downtime.
const maxMissed = 1 << 20

// readSchedule enqueues a schedule's firing once its instant has come.
// The cursor keeps the last instant enqueued; when several passed
// (the cluster was down), only the latest fires, once. A schedule seen
// for the first time (or whose cron line or zone changed) starts now.
func (s *Service) readSchedule(ctx context.Context, env Env, version int, ti orchestration.TriggerInfo) error {
	cursors := s.sys.Collection(CursorsCollection)
	cid := hashID("schedule", env.AppID, env.Name, ti.Name)
	now := s.now()
	cur, err := cursors.Get(ctx, cid)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("read schedule cursor: %w", err)
	}
	if cur == nil || cur["cron"] != ti.Schedule.Cron || cur["timezone"] != ti.Schedule.Timezone {
		doc := store.Doc{store.FieldID: cid, "app": env.AppID, "env": env.Name, "trigger": ti.Name,
			"cron": ti.Schedule.Cron, "timezone": ti.Schedule.Timezone, "last": store.FormatTime(now)}
		if cur == nil {
			_, err = cursors.Insert(ctx, doc)
		} else {
			_, err = cursors.Replace(ctx, cid, store.DocVersion(cur), doc)
		}
		if err != nil && !errors.Is(err, store.ErrDuplicate) && !errors.Is(err, store.ErrVersionConflict) {
			return fmt.Errorf("create schedule cursor: %w", err)
		}
		return nil
	}
	lastText, _ := cur["last"].(string)
	last, err := time.Parse(store.TimeFormat, lastText)
	if err != nil {
		last = now
	}
	n := ti.Schedule.Next(last)
	if n.IsZero() || n.After(now) {
		return nil
	}
	latest := n
	for range maxMissed {
		m := ti.Schedule.Next(latest)
		if m.IsZero() || m.After(now) {
			break
		}
		latest = m
	}
	at := latest.Format(time.RFC3339Nano)
	id := hashID(env.AppID, env.Name, ti.Name, kindSchedule, at)
	doc, err := newFiring(id, id, kindSchedule, env, version, ti.Name, latest,
		orchestration.TriggerEvent{Type: orchestration.EventSchedule, Time: latest})
	if err != nil {
		return err
	}
	if err := s.insertFiring(ctx, doc); err != nil {
		return err
	}
	next := copyFields(cur)
	next["last"] = store.FormatTime(latest)
	if _, err := cursors.Replace(ctx, cid, store.DocVersion(cur), next); err != nil && !errors.Is(err, store.ErrVersionConflict) {
		return fmt.Errorf("advance schedule cursor: %w", err)
	}
	return nil
}
