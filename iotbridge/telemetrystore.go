package iotbridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// Telemetry is one stored telemetry message, as the API shows it.
type Telemetry struct {
	// Stream is the topic's stream ("" for .../telemetry itself).
	Stream string `json:"stream"`
	// Time orders the messages: the device's ts when it was within
	// bounds (see ParseTelemetry), else ReceivedAt.
	Time time.Time `json:"time"`
	// ReceivedAt is when the server received the message.
	ReceivedAt time.Time `json:"receivedAt"`
	// Data is the payload as the device sent it (a JSON object).
	Data json.RawMessage `json:"data"`
}

// TelemetryQuery selects telemetry of a device.
type TelemetryQuery struct {
	// Stream, when not nil, selects one stream ("" is the default
	// stream); nil selects every stream.
	Stream *string
	// From (inclusive) and To (exclusive) bound Time; zero is unbounded.
	From, To time.Time
	// Limit caps the page: 1 to MaxListLimit, 0 for DefaultListLimit.
	Limit int
	// Cursor continues a previous page of the same query.
	Cursor string
	// Desc orders newest first; the default is oldest first.
	Desc bool
}

// ParseTelemetryQuery reads ?stream=&from=&to=&limit=&cursor=&order= of
// GET /v1/devices/{id}/telemetry: stream absent selects every stream,
// present (even empty) one; from and to are RFC 3339; order is asc
// (default) or desc. Errors name the parameter.
func ParseTelemetryQuery(v url.Values) (TelemetryQuery, error) {
	var q TelemetryQuery
	if vs, ok := v["stream"]; ok {
		st := ""
		if len(vs) > 0 {
			st = vs[0]
		}
		if st != "" && !ValidStreamName(st) {
			return q, invalid("stream", "1 to 64 letters, digits, '_', '.', ':' or '-'")
		}
		q.Stream = &st
	}
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"from", &q.From}, {"to", &q.To}} {
		if s := v.Get(p.name); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil || t.Year() < 1 || t.Year() > 9999 {
				return q, invalid(p.name, "must be an RFC 3339 time, e.g. 2026-01-02T15:04:05Z")
			}
			*p.t = t.UTC()
		}
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.To.After(q.From) {
		return q, invalid("to", "must be after from")
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxListLimit {
			return q, invalid("limit", "must be 1 to %d", MaxListLimit)
		}
		q.Limit = n
	}
	switch v.Get("order") {
	case "", "asc":
	case "desc":
		q.Desc = true
	default:
		return q, invalid("order", "asc or desc")
	}
	q.Cursor = v.Get("cursor")
	if len(q.Cursor) > 4096 {
		return q, invalid("cursor", "not a cursor of this list")
	}
	return q, nil
}

// ListTelemetry returns the telemetry of device id (c needs read access,
// as for its shadow) in time order, and the cursor of the next page ("" on
// the last).
func (s *Service) ListTelemetry(ctx context.Context, env Env, c Caller, id string, q TelemetryQuery) ([]Telemetry, string, error) {
	if q.Limit < 0 || q.Limit > MaxListLimit {
		return nil, "", invalid("limit", "must be 1 to %d", MaxListLimit)
	}
	if q.Limit == 0 {
		q.Limit = DefaultListLimit
	}
	db, _, err := s.loadDevice(ctx, env, c, id, false)
	if err != nil {
		return nil, "", err
	}
	f := []store.Filter{store.Compare{Path: "device", Op: store.OpEq, Value: id}}
	if q.Stream != nil {
		f = append(f, store.Compare{Path: "stream", Op: store.OpEq, Value: *q.Stream})
	}
	if !q.From.IsZero() {
		f = append(f, store.Compare{Path: "time", Op: store.OpGte, Value: store.FormatTime(q.From)})
	}
	if !q.To.IsZero() {
		f = append(f, store.Compare{Path: "time", Op: store.OpLt, Value: store.FormatTime(q.To)})
	}
	page, err := db.Collection(collTelemetry).Find(ctx, store.Query{
		Filter: store.And{Filters: f}, Sort: []store.SortKey{{Path: "time", Desc: q.Desc}}, Limit: q.Limit, Cursor: q.Cursor,
	})
	if err != nil {
		if errors.Is(err, store.ErrInvalid) {
			return nil, "", invalid("cursor", "not a cursor of this list")
		}
		return nil, "", fmt.Errorf("iotbridge: list telemetry: %w", err)
	}
	out := make([]Telemetry, 0, len(page.Docs))
	for _, d := range page.Docs {
		out = append(out, telemetryOf(d))
	}
	return out, page.Cursor, nil
}

func telemetryOf(d store.Doc) Telemetry {
	t := Telemetry{Stream: str(d["stream"]), Data: json.RawMessage(str(d["data"]))}
	t.Time, _ = time.Parse(store.TimeFormat, str(d["time"]))
	t.ReceivedAt, _ = time.Parse(store.TimeFormat, str(d["receivedAt"]))
	if len(t.Data) == 0 {
		t.Data = json.RawMessage("{}")
	}
	return t
}

// FlushTelemetry returns once the telemetry received so far is stored
// (or dropped): tests and benchmarks read it back after this.
func (s *Service) FlushTelemetry() { s.tel.flush() }

// TelemetryRetention is how long an environment keeps telemetry.
type TelemetryRetention struct {
	// Days the environment keeps telemetry; 0 follows the server default.
	Days int `json:"days"`
	// EffectiveDays is the retention that applies.
	EffectiveDays int `json:"effectiveDays"`
}

// settingsTelemetry is the settings document of the telemetry retention.
const settingsTelemetry = "telemetry"

// TelemetryRetention returns env's telemetry retention.
func (s *Service) TelemetryRetention(ctx context.Context, env Env) (TelemetryRetention, error) {
	db, err := s.envDB(ctx, env)
	if err != nil {
		return TelemetryRetention{}, err
	}
	return s.telemetryRetention(ctx, db)
}

func (s *Service) telemetryRetention(ctx context.Context, db store.DB) (TelemetryRetention, error) {
	r := TelemetryRetention{EffectiveDays: s.cfg.TelemetryRetentionDays}
	d, err := db.Collection(collSettings).Get(ctx, settingsTelemetry)
	if errors.Is(err, store.ErrNotFound) {
		return r, nil
	}
	if err != nil {
		return r, fmt.Errorf("iotbridge: read telemetry retention: %w", err)
	}
	if n, ok := store.Int64(d["retentionDays"]); ok && n >= 1 && n <= MaxTelemetryRetentionDays {
		r.Days, r.EffectiveDays = int(n), int(n)
	}
	return r, nil
}

// SetTelemetryRetention sets env's telemetry retention: 1 to
// MaxTelemetryRetentionDays days, or 0 for the server default
// (Config.TelemetryRetentionDays). The next maintenance pass applies it.
func (s *Service) SetTelemetryRetention(ctx context.Context, env Env, days int) (TelemetryRetention, error) {
	if days < 0 || days > MaxTelemetryRetentionDays {
		return TelemetryRetention{}, invalid("days", "1 to %d, or 0 for the server default", MaxTelemetryRetentionDays)
	}
	db, err := s.envDB(ctx, env)
	if err != nil {
		return TelemetryRetention{}, err
	}
	coll := db.Collection(collSettings)
	doc := store.Doc{store.FieldID: settingsTelemetry, "retentionDays": int64(days)}
	for range maxShadowTries { // lost a race with another writer: read again
		cur, err := coll.Get(ctx, settingsTelemetry)
		if errors.Is(err, store.ErrNotFound) {
			_, err = coll.Insert(ctx, doc)
		} else if err == nil {
			_, err = coll.Replace(ctx, settingsTelemetry, store.DocVersion(cur), doc)
		}
		if errors.Is(err, store.ErrDuplicate) || errors.Is(err, store.ErrVersionConflict) || errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return TelemetryRetention{}, fmt.Errorf("iotbridge: store telemetry retention: %w", err)
		}
		return s.telemetryRetention(ctx, db)
	}
	return TelemetryRetention{}, fmt.Errorf("iotbridge: store telemetry retention: %w", store.ErrVersionConflict)
}

// PruneTelemetry removes the telemetry of database envDB older than its
// retention and says how many messages it removed (the maintenance pass
// calls it for every environment).
func (s *Service) PruneTelemetry(ctx context.Context, envDB string) (int, error) {
	db, err := s.st.DB(ctx, envDB)
	if err != nil {
		return 0, fmt.Errorf("iotbridge: open database %q: %w", envDB, err)
	}
	r, err := s.telemetryRetention(ctx, db)
	if err != nil {
		return 0, err
	}
	cutoff := s.now().AddDate(0, 0, -r.EffectiveDays)
	n, err := store.DeleteMatching(ctx, db.Collection(collTelemetry), store.Query{
		Filter: store.Compare{Path: "time", Op: store.OpLt, Value: store.FormatTime(cutoff)},
		Sort:   []store.SortKey{{Path: "time"}},
		Limit:  store.MaxLimit,
	})
	if err != nil {
		return n, fmt.Errorf("iotbridge: prune telemetry: %w", err)
	}
	return n, nil
}
