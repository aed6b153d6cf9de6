package bench

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pahov3 "github.com/eclipse/paho.mqtt.golang"
)

// The MQTT load generator of BenchmarkMQTT: the load shape of the peers'
// mosquitto baseline (../shared/bench/peers/mqttbench), written for this
// repository, with device credentials. Each of n devices publishes on its
// own topic from one connection (client id <id>) and receives on a second
// connection of the same device (client id <id>:sub); payloads carry the
// send time for the latency figures. MQTT 3.1.1 through
// eclipse/paho.mqtt.golang, the peers' client, for every broker alike.

// mqttDevice is one device of the load: its credentials (empty for an
// anonymous broker) and its topic.
type mqttDevice struct {
	id, secret, topic string
}

// mqttLoad is one load run's shape.
type mqttLoad struct {
	addr    string // host:port
	devices []mqttDevice
	qos     byte
	dur     time.Duration
	size    int // payload bytes, at least 8
	window  int // QoS 1 publishes in flight per publisher
}

// loadResult is what a run measured.
type loadResult struct {
	sent, received int64
	msgPerSec      float64 // delivered over the publish window
	p50, p99       time.Duration
}

func (r loadResult) String() string {
	return fmt.Sprintf("%.0f msg/s delivered (sent %d, received %d, p50 %s, p99 %s)", r.msgPerSec, r.sent, r.received, r.p50, r.p99)
}

// mqttConnect connects one paho 3.1.1 client with a clean session.
func mqttConnect(tb testing.TB, addr, clientID, user, secret string, window int) pahov3.Client {
	tb.Helper()
	o := pahov3.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(clientID).SetCleanSession(true)
	o.SetMaxResumePubInFlight(window).SetWriteTimeout(30 * time.Second).SetAutoReconnect(false)
	if user != "" {
		o.SetUsername(user).SetPassword(secret)
	}
	c := pahov3.NewClient(o)
	if t := c.Connect(); t.Wait() && t.Error() != nil {
		tb.Fatalf("connect %s: %v", clientID, t.Error())
	}
	return c
}

// run drives the load and measures it.
func (l mqttLoad) run(tb testing.TB) loadResult {
	tb.Helper()
	n := len(l.devices)
	var recv, sent atomic.Int64
	var mu sync.Mutex
	var lat []int64
	subs := make([]pahov3.Client, n)
	for i, d := range l.devices {
		c := mqttConnect(tb, l.addr, d.id+":sub", d.id, d.secret, l.window)
		t := c.Subscribe(d.topic, l.qos, func(_ pahov3.Client, m pahov3.Message) {
			ts := int64(binary.BigEndian.Uint64(m.Payload()[:8]))
			dt := time.Now().UnixNano() - ts
			mu.Lock()
			lat = append(lat, dt)
			mu.Unlock()
			recv.Add(1)
		})
		if t.Wait() && t.Error() != nil {
			tb.Fatalf("subscribe %s: %v", d.topic, t.Error())
		}
		subs[i] = c
	}
	pubs := make([]pahov3.Client, n)
	for i, d := range l.devices {
		pubs[i] = mqttConnect(tb, l.addr, d.id, d.id, d.secret, l.window)
	}
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(l.dur)
	for i, d := range l.devices {
		c := pubs[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			var pending []pahov3.Token
			buf := make([]byte, l.size)
			for time.Now().Before(end) {
				binary.BigEndian.PutUint64(buf, uint64(time.Now().UnixNano()))
				t := c.Publish(d.topic, l.qos, false, slices.Clone(buf))
				sent.Add(1)
				if l.qos == 0 {
					t.Wait()
					continue
				}
				pending = append(pending, t)
				if len(pending) >= l.window {
					pending[0].Wait()
					pending = pending[1:]
				}
			}
			for _, t := range pending {
				t.Wait()
			}
		}()
	}
	wg.Wait()
	pubSecs := time.Since(start).Seconds()
	// Drain: until the count stops growing between polls (at most 5 s).
	for last, k := int64(-1), 0; k < 50; k++ {
		cur := recv.Load()
		if cur == last || cur >= sent.Load() {
			break
		}
		last = cur
		time.Sleep(100 * time.Millisecond)
	}
	for _, c := range append(pubs, subs...) {
		c.Disconnect(100)
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	return loadResult{
		sent: sent.Load(), received: recv.Load(),
		msgPerSec: float64(recv.Load()) / pubSecs,
		p50:       quantile(lat, 0.50), p99: quantile(lat, 0.99),
	}
}

// quantile of sorted nanosecond samples.
func quantile(sorted []int64, q float64) time.Duration {
	if len(sorted) == 0 {
		return -1
	}
	return time.Duration(sorted[int(q*float64(len(sorted)-1))])
}
