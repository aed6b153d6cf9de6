package trigger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/skybridgehq/skybridge/orchestration"
	"github.com/skybridgehq/skybridge/store"
)

// Firing states.
const (
	StatePending = "pending"
	StateRunning = "running"
	StateDone    = "done"
	StateSkipped = "skipped"
	StateFailed  = "failed"
)

// Firing kinds.
const (
	kindEvent    = "event"
	kindDelay    = "delay"
	kindSchedule = "schedule"
)

// maxSnapshotBytes bounds the object snapshot a firing keeps.
const maxSnapshotBytes = 256 << 10

// hashID is the hex sha256 of parts, cut to 32 characters: firing ids,
// idempotency keys and cursor ids.
func hashID(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:16])
}

// eventDoc is a TriggerEvent as a firing stores it: the object as JSON
// text (its system fields start with '_', and it is opaque here).
func eventDoc(ev orchestration.TriggerEvent) (store.Doc, error) {
	d := store.Doc{"type": ev.Type, "collection": ev.Collection, "id": ev.ID, "seq": ev.Seq, "time": store.FormatTime(ev.Time)}
	if ev.Object != nil {
		raw, err := json.Marshal(ev.Object)
		if err != nil {
			return nil, fmt.Errorf("encode the object: %w", err)
		}
		if len(raw) > maxSnapshotBytes {
			raw = []byte(`{"_id":` + strconv.Quote(ev.ID) + `}`)
		}
		d["object"] = string(raw)
	}
	return d, nil
}

// eventFromDoc reads eventDoc's output back.
func eventFromDoc(v any) orchestration.TriggerEvent {
	d, _ := v.(map[string]any)
	ev := orchestration.TriggerEvent{}
	ev.Type, _ = d["type"].(string)
	ev.Collection, _ = d["collection"].(string)
	ev.ID, _ = d["id"].(string)
	ev.Seq = toInt64(d["seq"])
	if t, ok := d["time"].(string); ok {
		ev.Time, _ = time.Parse(store.TimeFormat, t)
	}
	if raw, ok := d["object"].(string); ok {
		var obj map[string]any
		if json.Unmarshal([]byte(raw), &obj) == nil {
			ev.Object = obj
		}
	}
	return ev
}

func toInt64(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case int:
		return int64(n)
	case float64:
		return int64(n)
	}
	return 0
}

// newFiring is the document of a pending firing.
func newFiring(id, key, kind string, env Env, version int, trigger string, due time.Time, ev orchestration.TriggerEvent) (store.Doc, error) {
	evd, err := eventDoc(ev)
	if err != nil {
		return nil, err
	}
	return store.Doc{
		store.FieldID: id, "key": key, "kind": kind, "app": env.AppID, "env": env.Name, "trigger": trigger,
		"version": int64(version), "state": StatePending, "due": store.FormatTime(due), "attempts": int64(0),
		"event": evd,
	}, nil
}

// insertFiring enqueues a firing once: a second insert of its id (another
// node, or a feed read again after a crash) changes nothing.
func (s *Service) insertFiring(ctx context.Context, doc store.Doc) error {
	_, err := s.sys.Collection(FiringsCollection).Insert(ctx, doc)
	if errors.Is(err, store.ErrDuplicate) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("enqueue firing: %w", err)
	}
	s.metrics.count(doc["trigger"].(string), "enqueued")
	return nil
}

// upsertDelayed schedules the delayed firing of one trigger and object:
// a later event replaces the pending firing (its due time, event and
// key); one that comes while the firing runs is kept as `next` and
// becomes pending when the run ends; after a finished firing it starts a
// new one in the same document, with a new key.
func (s *Service) upsertDelayed(ctx context.Context, env Env, version int, ti orchestration.TriggerInfo, ev orchestration.TriggerEvent) error {
	id := hashID(env.AppID, env.Name, ti.Name, kindDelay, ev.ID)
	key := hashID(id, strconv.FormatInt(ev.Seq, 10))
	due := ev.Time.Add(ti.Delay)
	c := s.sys.Collection(FiringsCollection)
	for range 5 {
		fresh, err := newFiring(id, key, kindDelay, env, version, ti.Name, due, ev)
		if err != nil {
			return err
		}
		cur, err := c.Get(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			if _, err := c.Insert(ctx, fresh); errors.Is(err, store.ErrDuplicate) {
				continue
			} else if err != nil {
				return fmt.Errorf("enqueue delayed firing: %w", err)
			}
			s.metrics.count(ti.Name, "enqueued")
			return nil
		}
		if err != nil {
			return fmt.Errorf("read delayed firing: %w", err)
		}
		state, _ := cur["state"].(string)
		var next store.Doc
		switch state {
		case StatePending:
			if eventFromDoc(cur["event"]).Seq >= ev.Seq {
				return nil // this event or a later one is in already
			}
			next = fresh
		case StateRunning:
			if n, ok := cur["next"].(map[string]any); ok && eventFromDoc(n["event"]).Seq >= ev.Seq {
				return nil
			}
			if eventFromDoc(cur["event"]).Seq >= ev.Seq {
				return nil
			}
			next = copyFields(cur)
			next["next"] = store.Doc{"key": key, "due": fresh["due"], "event": fresh["event"], "version": int64(version)}
		default:
			if eventFromDoc(cur["event"]).Seq >= ev.Seq {
				return nil
			}
			next = fresh
		}
		_, err = c.Replace(ctx, id, store.DocVersion(cur), next)
		if errors.Is(err, store.ErrVersionConflict) || errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("replace delayed firing: %w", err)
		}
		if state != StateRunning {
			s.metrics.count(ti.Name, "enqueued")
		}
		return nil
	}
	return fmt.Errorf("delayed firing %s: too much contention", id)
}

// copyFields copies a stored document without its system fields.
func copyFields(d store.Doc) store.Doc {
	out := make(store.Doc, len(d))
	for k, v := range d {
		switch k {
		case store.FieldVersion, store.FieldSeq, store.FieldCreatedAt, store.FieldUpdatedAt:
			continue
		}
		out[k] = v
	}
	return out
}
