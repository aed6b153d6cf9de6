package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
	"github.com/skybridgehq/skybridge/store"
)

// BenchmarkTelemetry: devices (eclipse/paho.golang, MQTT 5, QoS 1) on a
// node's embedded broker, SQLite store, publish JSON telemetry; the
// figure is messages stored per second, end to end: from the first
// publish until every message is in the store (its batch writer flushed
// and the rows counted). The baseline of the same run is the same load
// on a topic the bridge does not store (skybridge/devices/<id>/raw: the
// broker, the device policy and the hook, no storage). Rounds alternate
// raw and telemetry; the best round of each counts.
//
// Reports stored-msg/s, raw-msg/s, their ratio stored/raw and the
// messages dropped (queue full: the store did not keep up).
// TELEMETRY_MESSAGES (default 20000) per round, TELEMETRY_DEVICES (16).
func BenchmarkTelemetry(b *testing.B) {
	total, nDev := envInt("TELEMETRY_MESSAGES", 20000), envInt("TELEMETRY_DEVICES", 16)
	s := testnode.Start(b, testnode.Options{Configure: noRateLimits})
	app := s.CreateApp(b, "bench-telemetry")
	keys := app.Env(b, "dev")
	h := map[string]string{"X-Skybridge-Key": keys.AppKey, "X-Skybridge-Server-Key": keys.ServerKey}
	ctx := context.Background()
	clients := make([]*paho.Client, nDev)
	ids := make([]string, nDev)
	for i := range nDev {
		ids[i] = fmt.Sprintf("tel-bench-%d", i)
		resp, body := s.Do(b, http.MethodPost, "/v1/devices", map[string]any{"id": ids[i]}, h)
		var reg struct{ Secret string }
		if resp.StatusCode != http.StatusCreated || json.Unmarshal(body, &reg) != nil {
			b.Fatalf("register: %d %s", resp.StatusCode, body)
		}
		conn, err := net.Dial("tcp", s.MQTTAddr)
		if err != nil {
			b.Fatal(err)
		}
		c := paho.NewClient(paho.ClientConfig{Conn: conn})
		if _, err := c.Connect(ctx, &paho.Connect{ClientID: ids[i], Username: ids[i], UsernameFlag: true, Password: []byte(reg.Secret), PasswordFlag: true, KeepAlive: 60, CleanStart: true}); err != nil {
			b.Fatal(err)
		}
		clients[i] = c
		b.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	}
	db, err := s.Node.Store.DB(ctx, store.EnvDBName(app.ID, "dev"))
	if err != nil {
		b.Fatal(err)
	}
	rows := db.Collection("deviceTelemetry") // the bridge's collection

	// round publishes total messages (each device its share, one at a
	// time, QoS 1) on the topic of suffix and returns how long it took.
	round := func(suffix string) time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, nDev)
		for i, c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				topic := "skybridge/devices/" + ids[i] + suffix
				for k := i; k < total; k += nDev {
					p := []byte(`{"ts":` + strconv.FormatInt(time.Now().UnixMilli(), 10) + `,"temp":21.5,"seq":` + strconv.Itoa(k) + `}`)
					if _, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: p}); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
		if suffix != "/raw" {
			s.Node.Devices.FlushTelemetry() // every PUBACKed message is queued: store them
		}
		return time.Since(start)
	}
	rounds := max(b.N, 2)
	var bestRaw, bestTel time.Duration
	var stored int64
	b.ResetTimer()
	for r := range rounds {
		raw := round("/raw")
		tel := round("/telemetry/bench")
		if r == 0 || raw < bestRaw {
			bestRaw = raw
		}
		if r == 0 || tel < bestTel {
			bestTel = tel
		}
	}
	b.StopTimer()
	if stored, err = rows.Count(ctx, nil); err != nil {
		b.Fatal(err)
	}
	want := int64(rounds * total)
	b.ReportMetric(float64(total)/bestTel.Seconds(), "stored-msg/s")
	b.ReportMetric(float64(total)/bestRaw.Seconds(), "raw-msg/s")
	b.ReportMetric(bestRaw.Seconds()/bestTel.Seconds(), "stored/raw")
	b.ReportMetric(float64(want-stored), "dropped")
	if stored > want {
		b.Fatalf("%d rows stored for %d messages", stored, want)
	}
}
