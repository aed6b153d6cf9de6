package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/internal/server"
	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
	"github.com/skybridgehq/skybridge/objectstore"
	"github.com/skybridgehq/skybridge/push"
	"github.com/skybridgehq/skybridge/push/pushtest"
	"github.com/skybridgehq/skybridge/store"
)

// pushInstallations is the size of the benchmark's topic, pushRate the
// app's send rate limit (SKYBRIDGE_PUSH_RATE_PER_APP) in the benchmark.
const (
	pushInstallations = 100_000
	pushRate          = 2_200
)

// BenchmarkPushTopicSend: one send to a topic of 100,000 installations
// (half iOS, half Android) of a node on the SQLite default, delivered to
// the fake APNs (HTTP/2 TLS) and FCM of push/pushtest. Reports
// notifications/s handed to the fakes, the process's peak RSS (VmHWM: the
// node and the fakes together), and the p99 of object GETs from 4
// clients during the send against the same GETs while idle, measured in
// the same run (get-p99-ratio; the goal is under 1.5). The app's send
// rate limit is pushRate (2,200/s: 100,000 in 45 s at best).
func BenchmarkPushTopicSend(b *testing.B) {
	apns, fcm := pushtest.NewAPNs(b), pushtest.NewFCM(b)
	apns.SetLean(true)
	fcm.SetLean(true)
	ca := apns.WriteCA(b, b.TempDir())
	node := &server.Options{Auth: auth.Config{Password: auth.PasswordParams{Memory: 1024, Time: 1, Threads: 1}}}
	s := testnode.Start(b, testnode.Options{Node: node, Configure: func(c *server.Config) {
		noRateLimits(c)
		c.PushAPNsURL, c.PushAPNsCAFile, c.PushFCMURL = apns.URL, ca, fcm.URL
		// Paced a little above what the goal needs (100,000 in 60 s), so
		// that the send leaves the node's other requests their CPU.
		c.PushRatePerApp = pushRate
	}})
	app := s.CreateApp(b, "bench")
	keys := app.Env(b, "dev")
	ctx := context.Background()
	penv := push.Env{AppID: app.ID, Name: "dev"}
	if _, err := s.Node.Push.SetAPNs(ctx, penv, push.APNsCredentials{Key: apns.Key, KeyID: apns.KeyID, TeamID: apns.TeamID, BundleID: apns.BundleID}); err != nil {
		b.Fatal(err)
	}
	if _, err := s.Node.Push.SetFCM(ctx, penv, push.FCMCredentials{ServiceAccount: fcm.ServiceAccountJSON}); err != nil {
		b.Fatal(err)
	}
	db, err := s.Node.Store.DB(ctx, store.EnvDBName(app.ID, "dev"))
	if err != nil {
		b.Fatal(err)
	}
	batch := make([]store.Doc, 0, 1000)
	for i := range pushInstallations {
		d := store.Doc{"platform": "ios", "token": fmt.Sprintf("%064x", i+1), "userId": "", "topics": []any{"all"}}
		if i%2 == 1 {
			d["platform"], d["token"] = "android", fmt.Sprintf("fcm-bench-token-%08d", i)
		}
		if batch = append(batch, d); len(batch) == cap(batch) {
			if _, err := db.Collection(push.InstallationsCollection).InsertMany(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	oenv := objectstore.Env{DB: store.EnvDBName(app.ID, "dev"), AllowClientCreate: true}
	public := "public"
	if _, err := s.Node.Objects.PutSettings(ctx, oenv, "items", objectstore.SettingsPatch{Rules: &objectstore.RulesPatch{Read: &public, Create: &public, Update: &public, Delete: &public}}); err != nil {
		b.Fatal(err)
	}
	o, err := s.Node.Objects.Create(ctx, oenv, objectstore.Principal{Server: true}, "items", map[string]any{"title": "probe", "n": 1})
	if err != nil {
		b.Fatal(err)
	}
	getURL := s.URL + "/v1/collections/items/objects/" + o.ID()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	get := func() time.Duration {
		req, _ := http.NewRequest(http.MethodGet, getURL, nil)
		req.Header.Set("X-Skybridge-Key", keys.AppKey)
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Error(err)
			return 0
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Errorf("GET: %d", resp.StatusCode)
		}
		return time.Since(t0)
	}
	// gets runs GETs from 4 clients until stop closes (or n are done)
	// and returns their latencies.
	gets := func(stop <-chan struct{}, n int) []time.Duration {
		var mu sync.Mutex
		var lat []time.Duration
		var count atomic.Int64
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n <= 0 || count.Add(1) <= int64(n) {
					select {
					case <-stop:
						return
					default:
					}
					d := get()
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		return lat
	}
	idle := p99(gets(nil, 4000))

	b.ResetTimer()
	var rate, busy, cpuPer float64
	for range b.N {
		cpu0 := cpuTime()
		before := apns.Total() + fcm.Total()
		stop := make(chan struct{})
		var during []time.Duration
		done := make(chan struct{})
		go func() { during = gets(stop, 0); close(done) }()
		t0 := time.Now()
		id, err := s.Node.Push.Send(ctx, penv, push.SendRequest{Target: push.Target{Topics: []string{"all"}}, Notification: push.Notification{Title: "Sale", Body: "Today only"}})
		if err != nil {
			b.Fatal(err)
		}
		for apns.Total()+fcm.Total()-before < pushInstallations {
			if time.Since(t0) > 10*time.Minute {
				b.Fatalf("only %d handed over in 10 minutes", apns.Total()+fcm.Total()-before)
			}
			time.Sleep(5 * time.Millisecond) // sampling the fakes' counters, not waiting for an event
		}
		elapsed := time.Since(t0)
		cpuPer = float64(cpuTime()-cpu0) / float64(time.Millisecond) / (pushInstallations / 1000)
		close(stop)
		<-done
		rate = pushInstallations / elapsed.Seconds()
		busy = float64(p99(during))
		b.Logf("notification %s: %d handed over in %s", id, pushInstallations, elapsed.Round(time.Millisecond))
	}
	b.StopTimer()
	b.ReportMetric(rate, "notifications/s")
	b.ReportMetric(float64(pushInstallations)/rate, "send-s")
	// CPU per 1,000 notifications (node, fakes and the GET clients
	// together) is steadier than the rate on a shared machine.
	b.ReportMetric(cpuPer, "cpu-ms/1k-notifications")
	b.ReportMetric(vmHWM()/(1<<20), "peak-rss-MiB")
	b.ReportMetric(float64(idle)/1e6, "idle-get-p99-ms")
	b.ReportMetric(busy/1e6, "busy-get-p99-ms")
	b.ReportMetric(busy/float64(idle), "get-p99-ratio")
}

func p99(lat []time.Duration) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	slices.Sort(lat)
	return lat[len(lat)*99/100]
}

// cpuTime is the CPU time (user and system) the process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// vmHWM is the process's peak resident set, in bytes (0 off Linux).
func vmHWM() float64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return float64(kb) * 1024
		}
	}
	return 0
}
