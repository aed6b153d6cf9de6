package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/skybridgehq/skybridge/store"
)

// Query selects audit records; empty fields match everything. Results come
// newest first.
type Query struct {
	App string
	Env string
	// ActorKind and ActorID match the actor.
	ActorKind string
	ActorID   string
	// Resource matches the resource itself and everything under it:
	// "collections/todos" matches "collections/todos/objects/42".
	Resource string
	Action   string
	// From (inclusive) and To (exclusive) bound the record time.
	From time.Time
	To   time.Time
	// Limit caps the page: 0 means 100, at most 1000.
	Limit int
	// Cursor continues from a previous Page.Cursor of the same query.
	Cursor string
}

// Page is one page of query results.
type Page struct {
	Items []Record `json:"items"`
	// Cursor continues after the last item; "" on the last page.
	Cursor string `json:"cursor,omitempty"`
}

// Limits of a query.
const (
	DefaultLimit   = 100
	MaxLimit       = 1000
	maxParamLength = 256
)

var actorKinds = map[string]bool{ActorUser: true, ActorAdmin: true, ActorServer: true, ActorDevice: true, ActorAnonymous: true, ActorDeployToken: true}

// ParseQuery reads a query from URL parameters: app, env, actor ("kind" or
// "kind:id"), resource, action, from and to (RFC 3339), limit and cursor.
// Unknown parameters are refused, so that a typo does not silently widen
// the query. Errors wrap ErrInvalid and name the parameter.
func ParseQuery(v url.Values) (Query, error) {
	var q Query
	for name, vals := range v {
		if len(vals) != 1 {
			return q, fmt.Errorf("%w: parameter %q given %d times", ErrInvalid, name, len(vals))
		}
		val := vals[0]
		if len(val) > maxParamLength && name != "cursor" || len(val) > 4096 {
			return q, fmt.Errorf("%w: parameter %q is too long", ErrInvalid, name)
		}
		if !utf8.ValidString(val) {
			return q, fmt.Errorf("%w: parameter %q is not valid UTF-8", ErrInvalid, name)
		}
		var err error
		switch name {
		case "app":
			q.App = val
		case "env":
			q.Env = val
		case "actor":
			kind, id, _ := strings.Cut(val, ":")
			if !actorKinds[kind] {
				return q, fmt.Errorf("%w: parameter \"actor\": unknown kind %q", ErrInvalid, kind)
			}
			q.ActorKind, q.ActorID = kind, id
		case "resource":
			q.Resource = strings.Trim(val, "/")
			if len(resourcePattern(q.Resource)) > store.MaxRegexLen {
				err = errors.New("too long")
			}
		case "action":
			q.Action = val
		case "from":
			q.From, err = time.Parse(time.RFC3339Nano, val)
		case "to":
			q.To, err = time.Parse(time.RFC3339Nano, val)
		case "limit":
			q.Limit, err = strconv.Atoi(val)
			if err == nil && (q.Limit < 1 || q.Limit > MaxLimit) {
				err = fmt.Errorf("want 1 to %d", MaxLimit)
			}
		case "cursor":
			q.Cursor = val
		default:
			return q, fmt.Errorf("%w: unknown parameter %q", ErrInvalid, name)
		}
		if err != nil {
			return q, fmt.Errorf("%w: parameter %q: %v", ErrInvalid, name, err)
		}
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return q, fmt.Errorf("%w: parameter \"from\" must be before \"to\"", ErrInvalid)
	}
	return q, nil
}

// segmentFilter selects the segments that may hold records q selects at
// or after position after (nil: from the newest): the app environment,
// and segments whose time range meets the query's.
func (q Query) segmentFilter(after *queryKey) store.Filter {
	var fs []store.Filter
	eq := func(path, v string) {
		if v != "" {
			fs = append(fs, store.Compare{Path: path, Op: store.OpEq, Value: v})
		}
	}
	eq("app", q.App)
	eq("env", q.Env)
	if !q.From.IsZero() {
		fs = append(fs, store.Compare{Path: "to", Op: store.OpGte, Value: store.FormatTime(q.From)})
	}
	if !q.To.IsZero() {
		fs = append(fs, store.Compare{Path: "from", Op: store.OpLt, Value: store.FormatTime(q.To)})
	}
	if after != nil {
		fs = append(fs, store.Compare{Path: "from", Op: store.OpLte, Value: store.FormatTime(after.Time)})
	}
	if len(fs) == 0 {
		return nil
	}
	return store.And{Filters: fs}
}

// matches reports whether q selects r (the cursor aside).
func (q Query) matches(r *Record) bool {
	switch {
	case q.App != "" && r.App != q.App,
		q.Env != "" && r.Env != q.Env,
		q.ActorKind != "" && r.Actor.Kind != q.ActorKind,
		q.ActorID != "" && r.Actor.ID != q.ActorID,
		q.Action != "" && r.Action != q.Action,
		q.Resource != "" && r.Resource != q.Resource && !strings.HasPrefix(r.Resource, q.Resource+"/"),
		!q.From.IsZero() && r.Time.Before(q.From),
		!q.To.IsZero() && !r.Time.Before(q.To):
		return false
	}
	return true
}

// resourcePattern matches a resource and everything under it, as
// Query.matches does without a regex. Its length bounds the resource
// parameter (the store bounds regexes alike), so that a query stays
// expressible as a store filter.
func resourcePattern(res string) string {
	return "^" + regexp.QuoteMeta(res) + "(/|$)"
}

// Export writes every record q selects to w as NDJSON (one JSON record a
// line), newest first, paging through the store; q.Limit sets the page
// size, q.Cursor where to start.
func (s *Service) Export(ctx context.Context, q Query, w io.Writer) error {
	if q.Limit == 0 {
		q.Limit = MaxLimit
	}
	enc := json.NewEncoder(w)
	for {
		p, err := s.Query(ctx, q)
		if err != nil {
			return err
		}
		for i := range p.Items {
			if err := enc.Encode(&p.Items[i]); err != nil {
				return fmt.Errorf("audit: export: %w", err)
			}
		}
		if p.Cursor == "" {
			return nil
		}
		q.Cursor = p.Cursor
	}
}

// ReadNDJSON decodes an export back into records, calling fn for each; it
// stops at the first malformed line (an error wrapping ErrInvalid that
// names the line) or the first error fn returns.
func ReadNDJSON(r io.Reader, fn func(Record) error) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	for line := 1; ; line++ {
		var rec Record
		err := dec.Decode(&rec)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: NDJSON record %d: %v", ErrInvalid, line, err)
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
}
