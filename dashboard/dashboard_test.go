package dashboard

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/internal/testenv"
	"github.com/skybridgehq/skybridge/internal/testenv/teststore"
	"github.com/skybridgehq/skybridge/store"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopShared()
	os.Exit(code)
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 7, 2, 30, 10, 0, time.UTC)} }

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func sqliteSys(t *testing.T) store.DB {
	t.Helper()
	db, err := teststore.SQLite(t).DB(context.Background(), store.SystemDB)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func newRecorder(t *testing.T, sys store.DB, c *clock, cfg Config) *Recorder {
	t.Helper()
	cfg.Now = c.now
	r := New(sys, cfg)
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Shutdown(context.Background()) })
	return r
}

// call records one request ending now on r's clock.
func call(r *Recorder, app, env, method, route, version string, status int, d time.Duration, cache CacheOutcome) {
	r.Request(&Call{App: app, Env: env, Method: method, Route: route, Version: version, Status: status, End: r.cfg.Now(), Duration: d, Cache: cache})
}

func TestConfigWithDefaults(t *testing.T) {
	t.Parallel()
	c := Config{}.withDefaults()
	if c.MaxSeries != DefaultMaxSeries || c.MaxVersions != DefaultMaxVersions || c.Retention != DefaultRetention ||
		c.FlushInterval != DefaultFlushInterval || c.FlushDelay != DefaultFlushDelay || c.Node == "" || c.Logger == nil || c.Now == nil {
		t.Fatalf("defaults %+v", c)
	}
	set := Config{MaxSeries: 3, MaxVersions: 2, Retention: time.Hour, FlushInterval: time.Second, FlushDelay: time.Millisecond, Node: "n1"}.withDefaults()
	if set.MaxSeries != 3 || set.MaxVersions != 2 || set.Retention != time.Hour || set.FlushInterval != time.Second ||
		set.FlushDelay != time.Millisecond || set.Node != "n1" {
		t.Fatalf("set values replaced: %+v", set)
	}
}

func TestBucketsAndQuantiles(t *testing.T) {
	t.Parallel()
	for _, d := range []time.Duration{0, 5 * time.Microsecond, 10 * time.Microsecond, 3 * time.Millisecond, 41 * time.Millisecond, 2 * time.Second, time.Hour} {
		i := bucketOf(d)
		lo, hi := bucketBounds(i)
		ms := float64(d) / float64(time.Millisecond)
		if ms < lo || (ms >= hi && i != histBuckets-1) {
			t.Errorf("%v in bucket %d [%v, %v)", d, i, lo, hi)
		}
	}
	var h [histBuckets]int64
	for range 98 {
		h[bucketOf(3*time.Millisecond)]++
	}
	h[bucketOf(400*time.Millisecond)] += 2
	p50, p99 := quantile(&h, 0.5), quantile(&h, 0.99)
	if p50 < 3/1.25 || p50 > 3*1.25 {
		t.Errorf("p50 %v ms, want about 3", p50)
	}
	if p99 < 400/1.25 || p99 > 400*1.25 {
		t.Errorf("p99 %v ms, want about 400", p99)
	}
	var empty [histBuckets]int64
	if quantile(&empty, 0.5) != 0 {
		t.Error("quantile of nothing is not 0")
	}
}

func TestReportPerRouteAndVersion(t *testing.T) {
	t.Parallel()
	c := newClock()
	r := newRecorder(t, sqliteSys(t), c, Config{Node: "a"})
	ctx := context.Background()
	flow := "/v1/flows/{name}"
	for range 6 {
		call(r, "app1", "dev", "GET", flow, "2.3.0", 200, 2*time.Millisecond, CacheHit)
	}
	call(r, "app1", "dev", "GET", flow, "2.3.0", 200, 20*time.Millisecond, CacheMiss)
	call(r, "app1", "dev", "GET", flow, "", 503, time.Millisecond, CacheNone)
	call(r, "app1", "dev", "POST", "/v1/collections/{col}/objects", "1.0.0", 400, time.Millisecond, CacheNone)
	call(r, "app1", "prod", "GET", flow, "2.3.0", 200, time.Millisecond, CacheNone) // another environment
	r.Pushes("app1", "dev", 3)
	c.add(time.Minute) // an older minute, still in memory
	call(r, "app1", "dev", "GET", flow, "2.3.0", 200, 2*time.Millisecond, CacheHit)

	rep, err := r.Report(ctx, "app1", "dev", 5)
	if err != nil {
		t.Fatal(err)
	}
	tot := rep.Totals
	if tot.Requests != 10 || tot.Errors != 1 || tot.ClientErrors != 1 || tot.CacheHits != 7 || tot.CacheMisses != 1 || tot.PushesSent != 3 {
		t.Fatalf("totals %+v", tot)
	}
	if tot.ErrorRate != 0.1 || tot.CacheHitRatio != 0.875 || tot.P50Ms <= 0 || tot.P99Ms < tot.P50Ms {
		t.Fatalf("rates %+v", tot)
	}
	if len(rep.Series) != 5 || !rep.Series[0].T.Equal(rep.From) || !rep.To.Equal(rep.Series[4].T.Add(time.Minute)) {
		t.Fatalf("series %+v from %v to %v", rep.Series, rep.From, rep.To)
	}
	if rep.Series[3].Requests != 9 || rep.Series[3].PushesSent != 3 || rep.Series[4].Requests != 1 || rep.Series[0].Requests != 0 {
		t.Fatalf("series %+v", rep.Series)
	}
	want := []RouteRow{
		{Route: "GET " + flow, AppVersion: "2.3.0", Requests: 8},
		{Route: "GET " + flow, AppVersion: "", Requests: 1, Errors: 1},
		{Route: "POST /v1/collections/{col}/objects", AppVersion: "1.0.0", Requests: 1, ClientErrors: 1},
	}
	if len(rep.Routes) != len(want) {
		t.Fatalf("routes %+v", rep.Routes)
	}
	for i, w := range want {
		g := rep.Routes[i]
		if g.Route != w.Route || g.AppVersion != w.AppVersion || g.Requests != w.Requests || g.Errors != w.Errors || g.ClientErrors != w.ClientErrors {
			t.Errorf("route %d: %+v, want %+v", i, g, w)
		}
	}
	if rep.Routes[0].PerMinute != 1.6 {
		t.Errorf("perMinute %v, want 8/5", rep.Routes[0].PerMinute)
	}
	for _, bad := range []int{0, -1, 24*60 + 1} {
		if _, err := r.Report(ctx, "app1", "dev", bad); err == nil {
			t.Errorf("minutes %d accepted", bad)
		}
	}
}

func TestCapsFoldIntoOther(t *testing.T) {
	t.Parallel()
	c := newClock()
	r := newRecorder(t, sqliteSys(t), c, Config{MaxVersions: 2, MaxSeries: 4})
	for _, v := range []string{"1.0.0", "1.1.0", "1.2.0", "9.9.9", string(make([]byte, 100))} {
		call(r, "a", "dev", "GET", "/v1/x", v, 200, time.Millisecond, CacheNone)
	}
	for _, route := range []string{"/v1/y", "/v1/z", "/v1/w"} {
		call(r, "a", "dev", "GET", route, "1.0.0", 200, time.Millisecond, CacheNone)
	}
	rep, err := r.Report(context.Background(), "a", "dev", 1)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, row := range rep.Routes {
		got[row.Route+"@"+row.AppVersion] = row.Requests
	}
	want := map[string]int64{"GET /v1/x@1.0.0": 1, "GET /v1/x@1.1.0": 1, "GET /v1/x@other": 3, "GET /v1/y@1.0.0": 1, "other@other": 2}
	if len(got) != len(want) {
		t.Fatalf("rows %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d, want %d (all %v)", k, got[k], n, got)
		}
	}
}

func TestFlushMergesNodes(t *testing.T) {
	t.Parallel()
	for name, sys := range teststore.SystemDBs(t) {
		t.Run("store="+name, func(t *testing.T) {
			t.Parallel()
			c := newClock()
			a := newRecorder(t, sys, c, Config{Node: "a"})
			b := newRecorder(t, sys, c, Config{Node: "b"})
			ctx := context.Background()
			for range 3 {
				call(a, "app1", "dev", "GET", "/v1/flows/{name}", "1.0.0", 200, time.Millisecond, CacheHit)
				call(b, "app1", "dev", "GET", "/v1/flows/{name}", "1.0.0", 500, time.Millisecond, CacheMiss)
			}
			b.Pushes("app1", "dev", 2)
			c.add(time.Minute + DefaultFlushDelay)
			// b's closed minute goes to the store; a's stays in memory.
			if err := b.flush(ctx, false); err != nil {
				t.Fatal(err)
			}
			call(b, "app1", "dev", "GET", "/v1/flows/{name}", "1.0.0", 200, time.Millisecond, CacheNone) // b's open minute: not seen by a yet
			for _, rec := range []*Recorder{a, b} {
				rep, err := rec.Report(ctx, "app1", "dev", 10)
				if err != nil {
					t.Fatal(err)
				}
				wantReq := int64(6)
				if rec == b {
					wantReq = 4 // its own 4, and a's 3 are in a's memory
				}
				if rec == a && (rep.Totals.Requests != wantReq || rep.Totals.Errors != 3 || rep.Totals.CacheHits != 3 || rep.Totals.CacheMisses != 3 || rep.Totals.PushesSent != 2) {
					t.Errorf("node a: %+v", rep.Totals)
				}
				if rec == b && rep.Totals.Requests != wantReq {
					t.Errorf("node b: %+v", rep.Totals)
				}
			}
			// Shutdown writes everything, the open minute included.
			if err := b.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			if err := a.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			fresh := New(sys, Config{Now: c.now})
			rep, err := fresh.Report(ctx, "app1", "dev", 10)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Totals.Requests != 7 || rep.Totals.PushesSent != 2 || len(rep.Routes) != 1 || rep.Routes[0].Requests != 7 {
				t.Fatalf("after shutdown: %+v %+v", rep.Totals, rep.Routes)
			}
		})
	}
}

func TestPruneDropsOldMinutes(t *testing.T) {
	t.Parallel()
	c := newClock()
	sys := sqliteSys(t)
	r := newRecorder(t, sys, c, Config{Retention: time.Hour})
	ctx := context.Background()
	call(r, "a", "dev", "GET", "/v1/x", "", 200, time.Millisecond, CacheNone)
	c.add(time.Minute + DefaultFlushDelay)
	if err := r.flush(ctx, false); err != nil {
		t.Fatal(err)
	}
	if n, _ := sys.Collection(Collection).Count(ctx, nil); n != 1 {
		t.Fatalf("%d documents after flush", n)
	}
	c.add(2 * time.Hour)
	r.prune(ctx)
	if n, _ := sys.Collection(Collection).Count(ctx, nil); n != 0 {
		t.Fatalf("%d documents after prune", n)
	}
}

func TestRequestAllocatesNothing(t *testing.T) {
	c := newClock()
	r := New(nil, Config{Now: c.now})
	rc := &Call{App: "app1", Env: "dev", Method: "GET", Route: "/v1/flows/{name}", Version: "2.3.0", Status: 200, End: c.now(), Duration: time.Millisecond, Cache: CacheHit}
	r.Request(rc)
	n := testing.AllocsPerRun(1000, func() { r.Request(rc) })
	if n != 0 {
		t.Fatalf("%v allocations per request", n)
	}
}

// BenchmarkRequest is the recorder's cost per request, from every
// core at once on one series (the worst case for contention) and on
// one series per goroutine.
func BenchmarkRequest(b *testing.B) {
	b.Run("series=shared", func(b *testing.B) {
		r := New(nil, Config{})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			rc := benchCall()
			for pb.Next() {
				r.Request(&rc)
			}
		})
	})
	b.Run("series=serial", func(b *testing.B) {
		r := New(nil, Config{})
		b.ReportAllocs()
		rc := benchCall()
		for b.Loop() {
			r.Request(&rc)
		}
	})
}

// benchCall is a cached flow call as the API records it (its strings
// built anew, as a request's would be).
func benchCall() Call {
	return Call{App: string([]byte("app1")), Env: "dev", Method: "GET", Route: "/v1/flows/{name}",
		Version: string([]byte("2.3.0")), Status: 200, End: time.Now(), Duration: 3 * time.Millisecond, Cache: CacheHit}
}

// FuzzRequestVersion feeds arbitrary X-App-Version values: the series
// stay within the caps and every request is counted once.
func FuzzRequestVersion(f *testing.F) {
	for _, s := range []string{"", "1.0.0", "other", "2.3.0-beta.1+build.7", string(make([]byte, 65)), "\x00\xff"} {
		f.Add(s, s+"x")
	}
	f.Fuzz(func(t *testing.T, v1, v2 string) {
		c := newClock()
		r := New(nil, Config{Now: c.now, MaxVersions: 1, MaxSeries: 3})
		for _, v := range []string{v1, v2, v1} {
			call(r, "a", "dev", "GET", "/v1/x", v, 200, time.Millisecond, CacheNone)
		}
		d := collectEnv(r.envOf("a", "dev"), minuteOf(c.now()), false)
		var n int64
		for _, s := range d.series {
			n += s.requests
			if len(s.version) > maxVersionLen {
				t.Fatalf("version of %d bytes kept", len(s.version))
			}
		}
		if n != 3 || len(d.series) > 3 {
			t.Fatalf("%d requests in %d series", n, len(d.series))
		}
	})
}
