package dashboard

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// MaxRoutes caps Report.Routes.
const MaxRoutes = 50

// Report is the dashboard of one app environment over a window of whole
// minutes, the open minute last.
type Report struct {
	// From and To bound the window [From, To).
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Totals sum the window.
	Totals Totals `json:"totals"`
	// Series has one entry per minute of the window, oldest first,
	// minutes without traffic included with zeros.
	Series []Minute `json:"series"`
	// Routes are the route × app version rows, by requests descending,
	// at most MaxRoutes.
	Routes []RouteRow `json:"routes"`
}

// Totals are the figures of a whole window. Latencies are in
// milliseconds, interpolated within the histogram's buckets (exact to
// within 25%).
type Totals struct {
	Requests int64 `json:"requests"`
	// Errors counts responses with status ≥ 500, ClientErrors 4xx.
	Errors       int64   `json:"errors"`
	ClientErrors int64   `json:"clientErrors"`
	ErrorRate    float64 `json:"errorRate"` // Errors / Requests
	P50Ms        float64 `json:"p50Ms"`
	P99Ms        float64 `json:"p99Ms"`
	// CacheHits (stale answers included) and CacheMisses count the
	// answers that carried X-Skybridge-Cache.
	CacheHits     int64   `json:"cacheHits"`
	CacheMisses   int64   `json:"cacheMisses"`
	CacheHitRatio float64 `json:"cacheHitRatio"` // hits / (hits + misses)
	// ConnectedDevices is current, not windowed; the recorder leaves it
	// to its caller (the IoT bridge knows it).
	ConnectedDevices int64 `json:"connectedDevices"`
	// PushesSent counts the push messages sent (one per device).
	PushesSent int64 `json:"pushesSent"`
}

// Minute is one minute of a Report's series.
type Minute struct {
	T            time.Time `json:"t"`
	Requests     int64     `json:"requests"`
	Errors       int64     `json:"errors"`
	ClientErrors int64     `json:"clientErrors"`
	P50Ms        float64   `json:"p50Ms"`
	P99Ms        float64   `json:"p99Ms"`
	CacheHits    int64     `json:"cacheHits"`
	CacheMisses  int64     `json:"cacheMisses"`
	PushesSent   int64     `json:"pushesSent"`
}

// RouteRow is one route and app version over a Report's window.
type RouteRow struct {
	// Route is the method and chi route pattern: "GET /v1/flows/{name}".
	Route string `json:"route"`
	// AppVersion is the X-App-Version sent ("" for none, "other" past
	// the caps).
	AppVersion   string  `json:"appVersion"`
	Requests     int64   `json:"requests"`
	PerMinute    float64 `json:"perMinute"`
	Errors       int64   `json:"errors"`
	ClientErrors int64   `json:"clientErrors"`
	P50Ms        float64 `json:"p50Ms"`
	P99Ms        float64 `json:"p99Ms"`
}

// Report returns the dashboard of app environment (app, env) over the
// last minutes minutes (the open one included): every node's flushed
// minutes from the store, merged with what this node still holds in
// memory. minutes must be within 1 and the retention (ErrInvalid).
func (r *Recorder) Report(ctx context.Context, app, env string, minutes int) (Report, error) {
	if minutes < 1 || time.Duration(minutes)*time.Minute > r.cfg.Retention {
		return Report{}, fmt.Errorf("%w: minutes must be within 1 and %d", ErrInvalid, int(r.cfg.Retention/time.Minute))
	}
	to := minuteOf(r.cfg.Now()) + 1
	from := to - int64(minutes)
	docs, err := r.minutes(ctx, app, env, from, to)
	if err != nil {
		return Report{}, err
	}
	return build(docs, from, to), nil
}

// minutes gathers the documents of (app, env) in [from, to): the store's,
// then this node's pending and open ones over them by id. It holds r.mu
// throughout, so that no drain moves counts from memory to the store
// between the two reads (a pending write finishing meanwhile is the same
// id in both).
func (r *Recorder) minutes(ctx context.Context, app, env string, from, to int64) ([]*minuteDoc, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	byID := map[string]*minuteDoc{}
	var open []*minuteDoc
	if v, ok := r.envs.Load(envKey{app, env}); ok {
		e := v.(*envStats)
		cur := minuteOf(r.cfg.Now())
		for m := max(r.drained+1, cur-slots+2, from); m <= cur && m < to; m++ {
			if d := collectEnv(e, m, false); d != nil {
				open = append(open, d)
			}
		}
	}
	for id, d := range r.pending {
		if d.app == app && d.env == env && d.minute >= from && d.minute < to {
			byID[id] = d
		}
	}
	q := store.Query{
		Filter: store.And{Filters: []store.Filter{
			store.Compare{Path: "app", Op: store.OpEq, Value: app},
			store.Compare{Path: "env", Op: store.OpEq, Value: env},
			store.Compare{Path: "minute", Op: store.OpGte, Value: from},
			store.Compare{Path: "minute", Op: store.OpLt, Value: to},
		}},
		Limit: store.MaxLimit,
	}
	coll := r.sys.Collection(Collection)
	for {
		page, err := coll.Find(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("dashboard: read minutes: %w", err)
		}
		for _, doc := range page.Docs {
			if id := store.DocID(doc); byID[id] == nil {
				byID[id] = decodeMinute(doc)
			}
		}
		if page.Cursor == "" {
			break
		}
		q.Cursor = page.Cursor
	}
	out := open
	for _, d := range byID {
		out = append(out, d)
	}
	return out, nil
}

// routeID keys a RouteRow while building.
type routeID struct{ method, route, version string }

// acc accumulates counts and a histogram.
type acc struct {
	requests, errors, clientErrors, cacheHits, cacheMisses, pushes int64
	hist                                                           [histBuckets]int64
}

func (a *acc) add(c *seriesCounts) {
	a.requests += c.requests
	a.errors += c.errors
	a.clientErrors += c.clientErrors
	a.cacheHits += c.cacheHits
	a.cacheMisses += c.cacheMisses
	for i, n := range c.hist {
		a.hist[i] += n
	}
}

// build merges docs into the Report of [from, to).
func build(docs []*minuteDoc, from, to int64) Report {
	n := int(to - from)
	perMinute := make([]acc, n)
	var total acc
	routes := map[routeID]*acc{}
	for _, d := range docs {
		if d.minute < from || d.minute >= to {
			continue
		}
		m := &perMinute[d.minute-from]
		m.pushes += d.pushes
		total.pushes += d.pushes
		for i := range d.series {
			c := &d.series[i]
			m.add(c)
			total.add(c)
			k := routeID{c.method, c.route, c.version}
			ra := routes[k]
			if ra == nil {
				ra = &acc{}
				routes[k] = ra
			}
			ra.add(c)
		}
	}
	rep := Report{From: timeOf(from), To: timeOf(to), Series: make([]Minute, n), Routes: []RouteRow{}}
	for i := range perMinute {
		a := &perMinute[i]
		rep.Series[i] = Minute{
			T: timeOf(from + int64(i)), Requests: a.requests, Errors: a.errors, ClientErrors: a.clientErrors,
			P50Ms: quantile(&a.hist, 0.5), P99Ms: quantile(&a.hist, 0.99),
			CacheHits: a.cacheHits, CacheMisses: a.cacheMisses, PushesSent: a.pushes,
		}
	}
	rep.Totals = Totals{
		Requests: total.requests, Errors: total.errors, ClientErrors: total.clientErrors,
		ErrorRate: ratio(total.errors, total.requests),
		P50Ms:     quantile(&total.hist, 0.5), P99Ms: quantile(&total.hist, 0.99),
		CacheHits: total.cacheHits, CacheMisses: total.cacheMisses,
		CacheHitRatio: ratio(total.cacheHits, total.cacheHits+total.cacheMisses),
		PushesSent:    total.pushes,
	}
	for k, a := range routes {
		route := k.method + " " + k.route
		if k.method == Other {
			route = Other
		}
		rep.Routes = append(rep.Routes, RouteRow{
			Route: route, AppVersion: k.version, Requests: a.requests,
			PerMinute: round(float64(a.requests) / float64(n)), Errors: a.errors, ClientErrors: a.clientErrors,
			P50Ms: quantile(&a.hist, 0.5), P99Ms: quantile(&a.hist, 0.99),
		})
	}
	slices.SortFunc(rep.Routes, func(a, b RouteRow) int {
		return cmp.Or(cmp.Compare(b.Requests, a.Requests), cmp.Compare(a.Route, b.Route), cmp.Compare(a.AppVersion, b.AppVersion))
	})
	if len(rep.Routes) > MaxRoutes {
		rep.Routes = rep.Routes[:MaxRoutes]
	}
	return rep
}

// quantile is the q-quantile of the histogram in milliseconds, linearly
// interpolated within the bucket it falls in; 0 for an empty histogram.
func quantile(h *[histBuckets]int64, q float64) float64 {
	var total int64
	for _, n := range h {
		total += n
	}
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	var cum float64
	for i, n := range h {
		if n == 0 {
			continue
		}
		if cum+float64(n) >= rank {
			lo, hi := bucketBounds(i)
			return round(lo + (hi-lo)*(rank-cum)/float64(n))
		}
		cum += float64(n)
	}
	lo, _ := bucketBounds(histBuckets - 1)
	return round(lo)
}

// ratio is a/b, 0 when b is.
func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return round(float64(a) / float64(b))
}

// round keeps 4 decimals, enough for a chart.
func round(x float64) float64 { return math.Round(x*1e4) / 1e4 }
