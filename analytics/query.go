package analytics

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"
	"unicode/utf8"

	"github.com/skybridgehq/skybridge/store"
)

// Query selects the counts of a range of days, optionally of one event,
// app version or platform.
type Query struct {
	// From and To are the first and last day (UTC, YYYY-MM-DD), inclusive.
	From, To string
	// Event, AppVersion and Platform, when set, keep only their matches.
	Event, AppVersion, Platform string
}

// Query bounds.
const (
	// DefaultQueryDays is how many days a query without from covers.
	DefaultQueryDays = 30
	// MaxQueryDays bounds the days one query covers.
	MaxQueryDays = 366
)

// ParseQuery reads a Query from the URL parameters from, to, event,
// appVersion and platform. to defaults to today (UTC), from to
// DefaultQueryDays-1 days before to. Faults are *FieldError values naming
// the parameter.
func ParseQuery(v url.Values, now time.Time) (Query, error) {
	var errs []error
	for k, vals := range v {
		switch k {
		case "from", "to", "event", "appVersion", "platform":
			if len(vals) > 1 {
				errs = append(errs, fieldErr(k, "is given %d times", len(vals)))
			}
		default:
			field := clip(k)
			if field == "" {
				field = "query" // a parameter without a name
			}
			errs = append(errs, fieldErr(field, "is not a parameter of this route (from, to, event, appVersion, platform)"))
		}
	}
	if len(errs) > 0 {
		return Query{}, errors.Join(errs...)
	}
	q := Query{Event: v.Get("event"), AppVersion: v.Get("appVersion"), Platform: v.Get("platform")}
	parseDay := func(name string) (time.Time, bool) {
		s := v.Get(name)
		t, err := time.Parse(dayFormat, s)
		if err != nil || t.Format(dayFormat) != s || t.Year() < 1970 {
			errs = append(errs, fieldErr(name, "%q is not a day (YYYY-MM-DD, from 1970)", clip(s)))
			return time.Time{}, false
		}
		return t, true
	}
	to := now.UTC()
	toOK := true
	if v.Has("to") {
		to, toOK = parseDay("to")
	}
	to = time.Date(to.Year(), to.Month(), to.Day(), 0, 0, 0, 0, time.UTC)
	from := to.AddDate(0, 0, -(DefaultQueryDays - 1))
	fromOK := true
	if v.Has("from") {
		from, fromOK = parseDay("from")
	}
	if fromOK && toOK {
		switch {
		case from.After(to):
			errs = append(errs, fieldErr("from", "is after to"))
		case to.Sub(from) >= MaxQueryDays*24*time.Hour:
			errs = append(errs, fieldErr("from", "the range covers more than %d days", MaxQueryDays))
		}
	}
	if q.Event != "" && !ValidName(q.Event) {
		errs = append(errs, fieldErr("event", "%q is not an event name", clip(q.Event)))
	}
	if q.Platform != "" && !platforms[q.Platform] {
		errs = append(errs, fieldErr("platform", "%q: want ios, android, web or other", clip(q.Platform)))
	}
	if len(q.AppVersion) > maxAppVersionLen || !utf8.ValidString(q.AppVersion) {
		errs = append(errs, fieldErr("appVersion", "at most %d bytes of UTF-8", maxAppVersionLen))
	}
	if len(errs) > 0 {
		return Query{}, errors.Join(errs...)
	}
	q.From, q.To = from.Format(dayFormat), to.Format(dayFormat)
	return q, nil
}

// Row is the count of one event on one day, for one app version and
// platform.
type Row struct {
	Day        string `json:"day"`
	Event      string `json:"event"`
	AppVersion string `json:"appVersion"`
	Platform   string `json:"platform"`
	// Count is how many events were accepted.
	Count int64 `json:"count"`
	// Sessions and Users are the distinct sessions and signed-in users
	// behind them (saturating at Config.MaxDistinct).
	Sessions int64 `json:"sessions"`
	Users    int64 `json:"users"`
}

// Totals sum a Report's rows. Sessions and Users are the sums of the
// rows' distinct counts: a session seen under two events, versions or days
// counts in each (folded days keep only their rows' numbers, so nothing
// more exact survives compaction).
type Totals struct {
	Count    int64 `json:"count"`
	Sessions int64 `json:"sessions"`
	Users    int64 `json:"users"`
}

// Report is the answer to a Query.
type Report struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Days   []Row  `json:"days"`
	Totals Totals `json:"totals"`
}

// Query sums the counts q selects from db: the day documents of folded
// days, and the parts of batch documents for the days not folded, so that
// a day is never counted from both.
func (s *Service) Query(ctx context.Context, db store.DB, q Query) (Report, error) {
	t := tallies{}
	folded := map[string]bool{}
	keep := func(g group) bool {
		return g.Day >= q.From && g.Day <= q.To && !folded[g.Day] &&
			(q.Event == "" || g.Event == q.Event) &&
			(q.AppVersion == "" || g.AppVersion == q.AppVersion) &&
			(q.Platform == "" || g.Platform == q.Platform)
	}
	dayFilter := store.And{Filters: []store.Filter{
		store.Compare{Path: store.FieldID, Op: store.OpGte, Value: q.From},
		store.Compare{Path: store.FieldID, Op: store.OpLte, Value: q.To},
	}}
	var dayDocs []store.Doc
	err := each(ctx, db.Collection(collDays), dayFilter, func(d store.Doc) error {
		dayDocs = append(dayDocs, d)
		return nil
	})
	if err != nil {
		return Report{}, fmt.Errorf("analytics: read days: %w", err)
	}
	for _, d := range dayDocs {
		for _, p := range docParts(d) {
			t.merge(p, s.cfg.MaxDistinct, keep)
		}
		folded[store.DocID(d)] = true
	}
	batchFilter := store.And{Filters: []store.Filter{
		store.Compare{Path: "minDay", Op: store.OpLte, Value: q.To},
		store.Compare{Path: "maxDay", Op: store.OpGte, Value: q.From},
	}}
	err = each(ctx, db.Collection(collBatches), batchFilter, func(d store.Doc) error {
		for _, p := range docParts(d) {
			t.merge(p, s.cfg.MaxDistinct, keep)
		}
		return nil
	})
	if err != nil {
		return Report{}, fmt.Errorf("analytics: read batches: %w", err)
	}
	rep := Report{From: q.From, To: q.To, Days: make([]Row, 0, len(t))}
	for _, g := range t.groups() {
		x := t[g]
		sessions, users := x.distinct()
		rep.Days = append(rep.Days, Row{Day: g.Day, Event: g.Event, AppVersion: g.AppVersion, Platform: g.Platform,
			Count: x.count, Sessions: sessions, Users: users})
		rep.Totals.Count += x.count
		rep.Totals.Sessions += sessions
		rep.Totals.Users += users
	}
	return rep, nil
}

// each calls fn on every document of c that f selects, page by page.
func each(ctx context.Context, c store.Collection, f store.Filter, fn func(store.Doc) error) error {
	q := store.Query{Filter: f, Limit: store.MaxLimit}
	for {
		page, err := c.Find(ctx, q)
		if err != nil {
			return err
		}
		for _, d := range page.Docs {
			if err := fn(d); err != nil {
				return err
			}
		}
		if page.Cursor == "" {
			return nil
		}
		q.Cursor = page.Cursor
	}
}
