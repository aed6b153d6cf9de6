package dashboard

import (
	"math/bits"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Cache outcomes of a request, from its X-Skybridge-Cache answer.
const (
	CacheNone CacheOutcome = iota // not a cached route
	CacheHit                      // served from the cache (a stale answer included)
	CacheMiss                     // looked up, not found, computed
)

// CacheOutcome says whether a request was served from the cache.
type CacheOutcome uint8

// Other is the route and app version that traffic beyond the caps counts
// under.
const Other = "other"

// maxVersionLen bounds an app version kept as its own series; longer
// ones count as Other.
const maxVersionLen = 64

// Latency histogram, in the manner of HDR histograms: bucket 0 holds
// durations under 2^histMinOctave ns (8.2 µs); above, each power of two
// of nanoseconds is split in 4 equal sub-buckets, up to 2^37 ns (137 s),
// where the last bucket takes everything longer. A bucket is found from
// the bits of the duration (no logarithm), and is at most 25% wide, so
// percentiles interpolated within it are exact to within 25%.
const (
	histMinOctave = 13
	histOctaves   = 24
	histBuckets   = 1 + histOctaves*4
)

// bucketOf is the histogram bucket of duration d.
func bucketOf(d time.Duration) int {
	ns := uint64(max(d, 0))
	if ns < 1<<histMinOctave {
		return 0
	}
	o := bits.Len64(ns) - 1
	sub := int(ns>>(o-2)) & 3
	return min(1+(o-histMinOctave)*4+sub, histBuckets-1)
}

// bucketBounds are the lower and upper bounds of bucket i in
// milliseconds.
func bucketBounds(i int) (lo, hi float64) {
	const ms = float64(time.Millisecond)
	if i == 0 {
		return 0, float64(uint64(1)<<histMinOctave) / ms
	}
	o, sub := histMinOctave+(i-1)/4, (i-1)%4
	octave := float64(uint64(1)<<o) / ms
	return octave * (1 + float64(sub)/4), octave * (1 + float64(sub+1)/4)
}

// slots is how many minutes a series keeps counters for: the open
// minute, the one the flusher may still be draining, and spare ones, so
// that a minute's slot is reused only minutes after it was drained.
const slots = 4

// slot holds one minute's counters of one series. Only the flusher resets
// it, by swapping each counter with zero, so no count is lost.
type slot struct {
	requests, errors, clientErrors, cacheHits, cacheMisses atomic.Int64
	hist                                                   [histBuckets]atomic.Int64
}

// series is one (method, route, app version) of one environment.
type series struct {
	method, route, version string
	slots                  [slots]slot
}

// envKey names an app environment.
type envKey struct{ app, env string }

// envStats is what a node records of one app environment beyond its
// series: the push messages sent and the list of its series.
type envStats struct {
	app, env string
	pushes   [slots]atomic.Int64

	mu     sync.Mutex
	series []*series // append-only, under mu
	other  *series   // the overflow series, once the cap is reached
	max    int
}

// add makes a series for (method, route, version), or returns the
// environment's overflow series when it holds MaxSeries already.
func (e *envStats) add(method, route, version string) *series {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.series) >= e.max {
		if e.other == nil {
			e.other = &series{method: Other, route: Other, version: Other}
			e.series = append(e.series, e.other)
		}
		return e.other
	}
	s := &series{method: method, route: route, version: version}
	e.series = append(e.series, s)
	return s
}

// list is a snapshot of the environment's series.
func (e *envStats) list() []*series {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.series[:len(e.series):len(e.series)]
}

// routeKey names one route of one app environment.
type routeKey struct{ app, env, method, route string }

// routeStats finds the series of a route's app versions.
type routeStats struct {
	env      *envStats
	method   string
	route    string
	versions atomic.Pointer[versionTable]
	mu       sync.Mutex // serialises additions to versions
}

// versionTable is a route's app versions; replaced, never changed.
type versionTable struct {
	m     map[string]*series
	other *series // set once the route holds MaxVersions
}

// Call is one served /v1 request, as Request records it.
type Call struct {
	// App and Env are the app environment whose key the request
	// presented.
	App, Env string
	// Method and Route are the request's method and chi route pattern
	// (never the raw path).
	Method, Route string
	// Version is the X-App-Version sent ("" for none).
	Version string
	// Status is the response status: 5xx count as errors, 4xx as client
	// errors.
	Status int
	// End is when the request finished (its minute is the one counted)
	// and Duration how long it took.
	End      time.Time
	Duration time.Duration
	// Cache is the request's cache outcome.
	Cache CacheOutcome
}

// Request records one served request. It is safe for concurrent use and,
// once the request's series exists, takes no lock, reads no clock and
// allocates nothing: one map lookup of the route, one of the version,
// and a few atomic adds.
func (r *Recorder) Request(c *Call) {
	s := r.seriesOf(c)
	sl := &s.slots[minuteOf(c.End)&(slots-1)]
	sl.requests.Add(1)
	switch {
	case c.Status >= 500:
		sl.errors.Add(1)
	case c.Status >= 400:
		sl.clientErrors.Add(1)
	}
	switch c.Cache {
	case CacheHit:
		sl.cacheHits.Add(1)
	case CacheMiss:
		sl.cacheMisses.Add(1)
	}
	sl.hist[bucketOf(c.Duration)].Add(1)
}

// Pushes records n push messages sent for app environment (app, env).
func (r *Recorder) Pushes(app, env string, n int) {
	if n <= 0 {
		return
	}
	e := r.envOf(app, env)
	e.pushes[minuteOf(r.cfg.Now())&(slots-1)].Add(int64(n))
}

// seriesOf finds or makes the series of a request.
func (r *Recorder) seriesOf(c *Call) *series {
	rs := (*r.routes.Load())[routeKey{c.App, c.Env, c.Method, c.Route}]
	if rs == nil {
		rs = r.addRoute(c)
	}
	version := c.Version
	if len(version) > maxVersionLen {
		version = Other
	}
	t := rs.versions.Load()
	if s, ok := t.m[version]; ok {
		return s
	}
	if t.other != nil {
		return t.other
	}
	return r.addVersion(rs, version)
}

// addRoute adds a route to the route table, copying it. Routes are
// bounded by the router's patterns and the environments.
func (r *Recorder) addRoute(c *Call) *routeStats {
	r.routesMu.Lock()
	defer r.routesMu.Unlock()
	old := *r.routes.Load()
	if rs := old[routeKey{c.App, c.Env, c.Method, c.Route}]; rs != nil {
		return rs
	}
	rs := &routeStats{env: r.envOf(c.App, c.Env), method: strings.Clone(c.Method), route: strings.Clone(c.Route)}
	rs.versions.Store(&versionTable{m: map[string]*series{}})
	m := make(map[routeKey]*routeStats, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[routeKey{rs.env.app, rs.env.env, rs.method, rs.route}] = rs
	r.routes.Store(&m)
	return rs
}

// addVersion adds a version's series to a route, copying its table.
// Once the route holds MaxVersions, it and every later version count
// under the route's Other series, which the fast path then finds without
// the lock.
func (r *Recorder) addVersion(rs *routeStats, version string) *series {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	t := rs.versions.Load()
	if s, ok := t.m[version]; ok {
		return s
	}
	if t.other != nil {
		return t.other
	}
	nt := &versionTable{m: copyVersions(t.m)}
	kept := len(t.m)
	if _, ok := t.m[Other]; ok {
		kept--
	}
	var s *series
	if version == Other || kept >= r.cfg.MaxVersions {
		if s = nt.m[Other]; s == nil {
			s = rs.env.add(rs.method, rs.route, Other)
			nt.m[Other] = s
		}
		if version != Other {
			nt.other = s
		}
	} else {
		version = strings.Clone(version)
		s = rs.env.add(rs.method, rs.route, version)
		nt.m[version] = s
	}
	rs.versions.Store(nt)
	return s
}

func copyVersions(m map[string]*series) map[string]*series {
	out := make(map[string]*series, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// envOf finds or makes the stats of an app environment.
func (r *Recorder) envOf(app, env string) *envStats {
	k := envKey{app, env}
	if v, ok := r.envs.Load(k); ok {
		return v.(*envStats)
	}
	e := &envStats{app: strings.Clone(app), env: strings.Clone(env), max: r.cfg.MaxSeries}
	v, _ := r.envs.LoadOrStore(envKey{e.app, e.env}, e)
	return v.(*envStats)
}
