package bench

import (
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/internal/server"
	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
)

// auditRound is how many requests one node serves before the other takes
// its turn.
const auditRound = 2000

// BenchmarkAuditOverhead measures what the audit trail costs an
// authenticated GET as a ratio that survives a noisy machine: two nodes
// run side by side, one with the trail and one without, and serve
// alternating rounds of auditRound requests from 32 clients, so that
// background load hits both alike. A round of the audited node ends only
// when its records are stored (Flush), so the writer's work is charged to
// it, not left to run during the other node's round. It reports each
// node's ops/s and on/off (goal >= 0.9).
func BenchmarkAuditOverhead(b *testing.B) {
	type side struct {
		s          *testnode.Server
		key, token string
		busy       time.Duration
		cpu        time.Duration
		served     int
	}
	start := func(audit bool) *side {
		node := &server.Options{Auth: auth.Config{Password: auth.PasswordParams{Memory: 1024, Time: 1, Threads: 1}}, DisableAudit: !audit}
		s := testnode.Start(b, testnode.Options{Node: node, Configure: noRateLimits})
		key, tok := signup(b, s, "reader@example.com")
		return &side{s: s, key: key, token: tok}
	}
	on, off := start(true), start(false)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	round := func(sd *side, n int) {
		var next atomic.Int64
		var wg sync.WaitGroup
		t0, c0 := time.Now(), processCPU()
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(n) {
					r, _ := http.NewRequest("GET", sd.s.URL+"/v1/auth/me", nil)
					r.Header.Set("X-Skybridge-Key", sd.key)
					r.Header.Set("Authorization", "Bearer "+sd.token)
					resp, err := client.Do(r)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			}()
		}
		wg.Wait()
		if sd.s.Node.Audit != nil {
			if err := sd.s.Node.Audit.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		sd.busy += time.Since(t0)
		sd.cpu += processCPU() - c0
		sd.served += n
	}
	round(on, 200) // warm both up
	round(off, 200)
	on.busy, on.cpu, on.served, off.busy, off.cpu, off.served = 0, 0, 0, 0, 0, 0
	b.ResetTimer()
	for left := b.N; left > 0; left -= auditRound {
		n := min(left, auditRound)
		round(on, n)
		round(off, n)
	}
	b.StopTimer()
	onRate := float64(on.served) / on.busy.Seconds()
	offRate := float64(off.served) / off.busy.Seconds()
	b.ReportMetric(onRate, "on-ops/s")
	b.ReportMetric(offRate, "off-ops/s")
	b.ReportMetric(onRate/offRate, "on/off")
	// CPU per request (the whole process: clients, the serving node and
	// whatever the idle one does) is steadier than throughput on a shared
	// machine; their ratio says the same thing from the other side.
	onCPU := float64(on.cpu.Microseconds()) / float64(on.served)
	offCPU := float64(off.cpu.Microseconds()) / float64(off.served)
	b.ReportMetric(onCPU, "on-cpu-µs/op")
	b.ReportMetric(offCPU, "off-cpu-µs/op")
	b.ReportMetric(offCPU/onCPU, "cpu-off/on")
}

// processCPU returns the user and system CPU time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
