package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/internal/server"
	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
)

// BenchmarkAnalytics: POST /v1/analytics/events over HTTP on the SQLite
// default, the server in-process, 32 concurrent clients, batches of 50 and
// 500 events (10 event names, 3 app versions, 2 platforms, 20 sessions,
// 3 properties each). Reports batches/s as ops/s, events/s and p99.
func BenchmarkAnalytics(b *testing.B) {
	node := &server.Options{Auth: auth.Config{Password: auth.PasswordParams{Memory: 1024, Time: 1, Threads: 1}}}
	s := testnode.Start(b, testnode.Options{Node: node, Configure: noRateLimits})
	key := s.CreateApp(b, "bench").Env(b, "dev").AppKey
	for _, size := range []int{50, 500} {
		body := analyticsBatch(b, size)
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			start := time.Now()
			measured(b, func() (*http.Request, error) {
				r, err := http.NewRequest("POST", s.URL+"/v1/analytics/events", bytes.NewReader(body))
				if err == nil {
					r.Header.Set("Content-Type", "application/json")
					r.Header.Set("X-Skybridge-Key", key)
				}
				return r, err
			}, http.StatusAccepted)
			b.ReportMetric(float64(b.N*size)/time.Since(start).Seconds(), "events/s")
		})
	}
}

// analyticsBatch is one batch body of n events stamped a minute ago.
func analyticsBatch(b *testing.B, n int) []byte {
	ts := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	platforms := []string{"ios", "android"}
	events := make([]map[string]any, n)
	for i := range events {
		events[i] = map[string]any{
			"name": fmt.Sprintf("event_%d", i%10), "timestamp": ts,
			"appVersion": fmt.Sprintf("1.%d.0", i%3), "platform": platforms[i%2], "session": fmt.Sprintf("session-%d", i%20),
			"properties": map[string]any{"screen": "home", "value": i, "first": i == 0},
		}
	}
	body, err := json.Marshal(map[string]any{"events": events})
	if err != nil {
		b.Fatal(err)
	}
	return body
}
