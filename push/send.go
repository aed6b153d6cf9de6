package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// Bounds of a send request.
const (
	MaxTargetIDs    = 500 // users or installations named in one send
	maxTextLen      = 4096
	maxDataBytes    = 3072
	maxVars         = 100
	maxDedupeKeyLen = 200
	maxCollapseID   = 64
	maxTTL          = 28 * 24 * time.Hour
)

// SendRequest is the body of POST /v1/push/send.
type SendRequest struct {
	Target       Target            `json:"target"`
	Notification Notification      `json:"notification"`
	IOS          *IOSOptions       `json:"ios,omitempty"`
	Android      *AndroidOptions   `json:"android,omitempty"`
	Template     Template          `json:"template,omitempty"`
	Vars         map[string]any    `json:"vars,omitempty"`
	ScheduleAt   string            `json:"scheduleAt,omitempty"`
	LocalTime    bool              `json:"localTime,omitempty"`
	DedupeKey    string            `json:"dedupeKey,omitempty"`
	parsedAt     time.Time         // ScheduleAt parsed (wall clock when LocalTime)
	segment      store.Filter      // Target.Segment parsed
	dataStrings  map[string]string // Notification.Data as FCM wants it
}

// Target selects installations: the union of every kind given.
type Target struct {
	Users         []string        `json:"users,omitempty"`
	Installations []string        `json:"installations,omitempty"`
	Topics        []string        `json:"topics,omitempty"`
	Segment       json.RawMessage `json:"segment,omitempty"`
}

// Notification is what the user sees, for every platform.
type Notification struct {
	Title            string         `json:"title,omitempty"`
	Body             string         `json:"body,omitempty"`
	Data             map[string]any `json:"data,omitempty"`
	Badge            *int           `json:"badge,omitempty"`
	Sound            string         `json:"sound,omitempty"`
	Category         string         `json:"category,omitempty"`
	CollapseID       string         `json:"collapseId,omitempty"`
	Priority         string         `json:"priority,omitempty"` // high (default) or normal
	TTL              int            `json:"ttl,omitempty"`      // seconds; 0: the service's default
	ContentAvailable bool           `json:"contentAvailable,omitempty"`
	ImageURL         string         `json:"imageUrl,omitempty"`
}

// IOSOptions are APNs-only settings.
type IOSOptions struct {
	ThreadID          string `json:"threadId,omitempty"`
	InterruptionLevel string `json:"interruptionLevel,omitempty"` // passive, active, time-sensitive, critical
	MutableContent    bool   `json:"mutableContent,omitempty"`
}

// AndroidOptions are FCM Android-only settings.
type AndroidOptions struct {
	ChannelID   string `json:"channelId,omitempty"`
	Icon        string `json:"icon,omitempty"`
	Color       string `json:"color,omitempty"`
	ClickAction string `json:"clickAction,omitempty"`
}

// segmentFields are the installation fields a segment may filter on.
var segmentFields = map[string]bool{"platform": true, "locale": true, "timezone": true, "appVersion": true, "topics": true, "userId": true, "_createdAt": true, "_updatedAt": true}

// validate checks the request and fills its parsed fields.
func (r *SendRequest) validate(now time.Time) error {
	t := r.Target
	if len(t.Users)+len(t.Installations)+len(t.Topics) == 0 && len(t.Segment) == 0 {
		return invalid("target", "name users, installations, topics or a segment")
	}
	for name, ids := range map[string][]string{"target.users": t.Users, "target.installations": t.Installations} {
		if len(ids) > MaxTargetIDs {
			return invalid(name, fmt.Sprintf("at most %d", MaxTargetIDs))
		}
		for i, id := range ids {
			if id == "" || len(id) > 128 {
				return invalid(fmt.Sprintf("%s[%d]", name, i), "must be an id of 1 to 128 characters")
			}
		}
	}
	if _, err := validTopics("target.topics", t.Topics); err != nil {
		return err
	}
	if len(t.Segment) > 0 {
		f, err := store.ParseFilter(t.Segment)
		if err != nil {
			return &FieldError{Field: "target.segment", Err: fmt.Errorf("%w: %v", ErrInvalid, err)}
		}
		if err := segmentPaths(f); err != nil {
			return err
		}
		r.segment = f
	}
	n := r.Notification
	if n.Title == "" && n.Body == "" && !n.ContentAvailable && len(r.Template) == 0 && len(n.Data) == 0 {
		return invalid("notification", "needs a title, body, data, contentAvailable or a template")
	}
	for field, v := range map[string]string{"notification.title": n.Title, "notification.body": n.Body, "notification.sound": n.Sound, "notification.category": n.Category, "notification.imageUrl": n.ImageURL} {
		if len(v) > maxTextLen {
			return invalid(field, fmt.Sprintf("is longer than %d bytes", maxTextLen))
		}
	}
	if len(n.CollapseID) > maxCollapseID {
		return invalid("notification.collapseId", fmt.Sprintf("is longer than %d bytes", maxCollapseID))
	}
	switch n.Priority {
	case "", "high", "normal":
	default:
		return invalid("notification.priority", fmt.Sprintf("%q is not high or normal", n.Priority))
	}
	if n.TTL < 0 || time.Duration(n.TTL)*time.Second > maxTTL {
		return invalid("notification.ttl", "must be 0 to 2419200 seconds")
	}
	if n.Badge != nil && *n.Badge < 0 {
		return invalid("notification.badge", "must not be negative")
	}
	if len(n.Data) > 0 {
		raw, _ := json.Marshal(n.Data)
		if len(raw) > maxDataBytes {
			return invalid("notification.data", fmt.Sprintf("is larger than %d bytes", maxDataBytes))
		}
		r.dataStrings = make(map[string]string, len(n.Data))
		for k, v := range n.Data {
			if k == "" || k == "aps" || k == "from" || k == messageIDKey {
				return invalid("notification.data."+k, "is a reserved key")
			}
			r.dataStrings[k] = textOf(v)
		}
	}
	if o := r.IOS; o != nil {
		switch o.InterruptionLevel {
		case "", "passive", "active", "time-sensitive", "critical":
		default:
			return invalid("ios.interruptionLevel", fmt.Sprintf("%q is not passive, active, time-sensitive or critical", o.InterruptionLevel))
		}
	}
	if err := r.Template.validate(); err != nil {
		return err
	}
	if len(r.Vars) > maxVars {
		return invalid("vars", fmt.Sprintf("at most %d variables", maxVars))
	}
	if len(r.DedupeKey) > maxDedupeKeyLen {
		return invalid("dedupeKey", fmt.Sprintf("is longer than %d bytes", maxDedupeKeyLen))
	}
	switch {
	case r.ScheduleAt == "" && r.LocalTime:
		return invalid("localTime", "needs scheduleAt")
	case r.ScheduleAt == "":
		r.parsedAt = time.Time{}
	case r.LocalTime:
		at, err := time.Parse("2006-01-02T15:04:05", trimZone(r.ScheduleAt))
		if err != nil {
			return invalid("scheduleAt", "with localTime, a wall-clock time such as 2026-05-01T09:00:00")
		}
		r.parsedAt = at
	default:
		at, err := time.Parse(time.RFC3339, r.ScheduleAt)
		if err != nil {
			return invalid("scheduleAt", "must be an RFC 3339 time such as 2026-05-01T09:00:00Z")
		}
		if at.After(now.Add(366 * 24 * time.Hour)) {
			return invalid("scheduleAt", "must be within a year")
		}
		r.parsedAt = at.UTC()
	}
	return nil
}

// trimZone drops a trailing Z or ±hh:mm from an RFC 3339 time: with
// localTime only its wall clock counts.
func trimZone(s string) string {
	if len(s) > 19 {
		return s[:19]
	}
	return s
}

// segmentPaths refuses segment filters on fields installations do not
// have (the token above all).
func segmentPaths(f store.Filter) error {
	var path string
	switch x := f.(type) {
	case store.Compare:
		path = x.Path
	case store.In:
		path = x.Path
	case store.Exists:
		path = x.Path
	case store.Regex:
		path = x.Path
	case store.And:
		for _, g := range x.Filters {
			if err := segmentPaths(g); err != nil {
				return err
			}
		}
		return nil
	case store.Or:
		for _, g := range x.Filters {
			if err := segmentPaths(g); err != nil {
				return err
			}
		}
		return nil
	case store.Not:
		return segmentPaths(x.Filter)
	default:
		return nil
	}
	if !segmentFields[path] {
		return invalid("target.segment", fmt.Sprintf("%q is not an installation field (platform, locale, timezone, appVersion, topics, userId, _createdAt, _updatedAt)", path))
	}
	return nil
}

// filter is the store filter of the request's target.
func (r *SendRequest) filter() store.Filter {
	var or []store.Filter
	anyOf := func(path string, vals []string) {
		if len(vals) == 0 {
			return
		}
		l := make([]any, len(vals))
		for i, v := range vals {
			l[i] = v
		}
		or = append(or, store.In{Path: path, Values: l})
	}
	anyOf("userId", r.Target.Users)
	anyOf(store.FieldID, r.Target.Installations)
	anyOf("topics", r.Target.Topics)
	if r.segment != nil {
		or = append(or, r.segment)
	}
	if len(or) == 1 {
		return or[0]
	}
	return store.Or{Filters: or}
}

// Send queues a notification and returns its id at once; workers deliver
// it. With a DedupeKey, a second send with the same key in the same
// environment returns the first one's id and sends nothing.
func (s *Service) Send(ctx context.Context, env Env, req SendRequest) (string, error) {
	env = env.withDB()
	now := s.cfg.Now().UTC()
	if err := req.validate(now); err != nil {
		return "", err
	}
	raw, err := json.Marshal(req)
	if err != nil {
		return "", fmt.Errorf("push: encode request: %w", err)
	}
	id := "n" + randomHex(12)
	if req.DedupeKey != "" {
		id = "n" + hashID(env.AppID, env.Name, "dedupe", req.DedupeKey)[:24]
	}
	doc := store.Doc{
		store.FieldID: id, "app": env.AppID, "env": env.Name, "db": env.DB, "request": string(raw),
		"plan": statePending, "planPage": int64(0), "planCursor": "", "batches": int64(0), "targeted": int64(0),
		"reason": "", "queuedAt": store.FormatTime(now),
	}
	if _, err := s.sys.Collection(NotificationsCollection).Insert(ctx, doc); err != nil {
		if errors.Is(err, store.ErrDuplicate) && req.DedupeKey != "" {
			s.metrics.notifications.WithLabelValues("deduplicated").Inc()
			return id, nil
		}
		return "", fmt.Errorf("push: queue notification: %w", err)
	}
	s.metrics.notifications.WithLabelValues("queued").Inc()
	s.nudge()
	return id, nil
}

// decodeRequest reads a stored request back.
func decodeRequest(raw string, now time.Time) (SendRequest, error) {
	var r SendRequest
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return r, fmt.Errorf("push: stored request: %w", err)
	}
	if err := r.validate(now); err != nil {
		return r, fmt.Errorf("push: stored request: %w", err)
	}
	return r, nil
}

// textOf renders a JSON value as the text FCM data values must be.
func textOf(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	}
	raw, _ := json.Marshal(v)
	return string(raw)
}
