package bench

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
)

// BenchmarkShadowRoundTrip: one device (eclipse/paho.golang, MQTT 5) on
// the node's embedded broker, SQLite store. Each iteration times two
// round trips, one after the other on the same connection:
//   - echo: a QoS 1 publish to the device's own topic until it comes
//     back to it — the broker alone, the baseline of this run;
//   - shadow: a reported-state update on $aws/things/<id>/shadow/update
//     until its /update/accepted (with its clientToken) arrives: policy,
//     parse, merge, compare-and-swap write in the store, three replies.
//
// Reports the shadow's p50-ms and p99-ms, the echo's, the shadow/echo
// ratios, and shadow updates per second (one at a time).
func BenchmarkShadowRoundTrip(b *testing.B) {
	s := testnode.Start(b, testnode.Options{Configure: noRateLimits})
	keys := s.CreateApp(b, "bench-iot").Env(b, "dev")
	h := map[string]string{"X-Skybridge-Key": keys.AppKey, "X-Skybridge-Server-Key": keys.ServerKey}
	resp, body := s.Do(b, http.MethodPost, "/v1/devices", map[string]any{"id": "bench-1"}, h)
	if resp.StatusCode != http.StatusCreated {
		b.Fatalf("register: %d %s", resp.StatusCode, body)
	}
	var reg struct{ Secret string }
	if err := json.Unmarshal(body, &reg); err != nil {
		b.Fatal(err)
	}
	conn, err := net.Dial("tcp", s.MQTTAddr)
	if err != nil {
		b.Fatal(err)
	}
	in := make(chan *paho.Publish, 16)
	c := paho.NewClient(paho.ClientConfig{Conn: conn, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(pr paho.PublishReceived) (bool, error) { in <- pr.Packet; return true, nil },
	}})
	ctx := context.Background()
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: "bench-1", Username: "bench-1", UsernameFlag: true, Password: []byte(reg.Secret), PasswordFlag: true, KeepAlive: 60, CleanStart: true}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	const (
		echo     = "skybridge/devices/bench-1/echo"
		update   = "$aws/things/bench-1/shadow/update"
		accepted = update + "/accepted"
	)
	if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: echo, QoS: 1}, {Topic: accepted, QoS: 1}}}); err != nil {
		b.Fatal(err)
	}
	// roundTrip publishes payload to topic and waits for the message on
	// want whose payload contains mark.
	roundTrip := func(topic, want string, payload []byte, mark string) time.Duration {
		start := time.Now()
		if _, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: payload}); err != nil {
			b.Fatal(err)
		}
		timeout := time.After(10 * time.Second)
		for {
			select {
			case p := <-in:
				if p.Topic == want && json.Valid(p.Payload) && hasClientToken(p.Payload, mark) {
					return time.Since(start)
				}
			case <-timeout:
				b.Fatalf("no answer on %s", want)
			}
		}
	}
	var echoes, shadows []time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	var shadowTotal time.Duration
	for i := range b.N {
		tok := "t" + strconv.Itoa(i)
		echoes = append(echoes, roundTrip(echo, echo, []byte(`{"clientToken":"`+tok+`"}`), tok))
		d := roundTrip(update, accepted, []byte(`{"state":{"reported":{"temp":`+strconv.Itoa(i%40)+`,"seq":`+strconv.Itoa(i)+`}},"clientToken":"`+tok+`"}`), tok)
		shadows = append(shadows, d)
		shadowTotal += d
	}
	b.StopTimer()
	e50, e99 := shadowPercentiles(echoes)
	s50, s99 := shadowPercentiles(shadows)
	b.ReportMetric(durMS(s50), "p50-ms")
	b.ReportMetric(durMS(s99), "p99-ms")
	b.ReportMetric(durMS(e50), "echo-p50-ms")
	b.ReportMetric(durMS(e99), "echo-p99-ms")
	b.ReportMetric(float64(s50)/float64(e50), "p50/echo")
	b.ReportMetric(float64(s99)/float64(e99), "p99/echo")
	b.ReportMetric(float64(b.N)/shadowTotal.Seconds(), "ops/s")
}

func hasClientToken(payload []byte, tok string) bool {
	var m struct {
		ClientToken string `json:"clientToken"`
	}
	return json.Unmarshal(payload, &m) == nil && m.ClientToken == tok
}

// shadowPercentiles returns the 50th and 99th percentile of ds.
func shadowPercentiles(ds []time.Duration) (time.Duration, time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2], s[min(len(s)-1, len(s)*99/100)]
}

func durMS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
