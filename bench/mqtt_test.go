package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	pahov3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/skybridgehq/skybridge/internal/testenv"
	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
)

// mqttDevices is the number of devices of the load (the peers' N).
const mqttDevices = 10

// BenchmarkMQTT: the embedded broker with the device policy on, in the
// real `skybridge serve` binary, beside mosquitto (MOSQUITTO, or
// mosquitto on PATH or in /usr/sbin) started by the benchmark in the same
// sitting and driven by the same load generator: 10 devices, each
// publishing 64-byte messages on its own topic and receiving them on a
// second connection (<id>:sub). qos=0 publishes as fast as it can; qos=1
// keeps up to 64 publishes in flight per device. Rounds alternate between
// the two brokers (MQTT_ROUNDS, default 2, of MQTT_DURATION, default 5s)
// and the best round of each counts. Reports delivered msg/s of both and
// their ratio (goal >= 1.0); without mosquitto, Skybridge's figures alone.
//
// shadow: 10 devices each send shadow updates ($aws/things/<id>/shadow/update,
// QoS 1, one at a time) and wait for /update/accepted; reports the round
// trip's p50 and p99 beside the same devices' plain MQTT echo round trip
// (publish to their own topic, receive it) on the same broker.
func BenchmarkMQTT(b *testing.B) {
	sky := startSkybridgeBinary(b)
	devices := sky.registerDevices(b, mqttDevices)
	mosq, mosqPID := startMosquitto(b)
	dur := envDuration("MQTT_DURATION", 5*time.Second)
	rounds := envInt("MQTT_ROUNDS", 2)
	for _, qos := range []byte{0, 1} {
		b.Run(fmt.Sprintf("qos=%d", qos), func(b *testing.B) {
			var best, bestMosq loadResult
			var cpu, cpuMosq brokerCPU
			for r := range rounds {
				if mosq != "" {
					before := childCPU(b, mosqPID)
					res := mqttLoad{addr: mosq, devices: anonymous(devices), qos: qos, dur: dur, size: 64, window: 64}.run(b)
					cpuMosq.add(childCPU(b, mosqPID)-before, res.received)
					b.Logf("round %d mosquitto: %s", r, res)
					if res.msgPerSec > bestMosq.msgPerSec {
						bestMosq = res
					}
				}
				before := childCPU(b, sky.pid)
				res := mqttLoad{addr: sky.mqtt, devices: devices, qos: qos, dur: dur, size: 64, window: 64}.run(b)
				cpu.add(childCPU(b, sky.pid)-before, res.received)
				b.Logf("round %d skybridge: %s", r, res)
				if res.msgPerSec > best.msgPerSec {
					best = res
				}
			}
			b.ReportMetric(best.msgPerSec, "msg/s")
			b.ReportMetric(float64(best.p99.Microseconds())/1000, "p99-ms")
			b.ReportMetric(cpu.perMessage(), "cpu-us/msg")
			if mosq != "" {
				b.ReportMetric(bestMosq.msgPerSec, "mosquitto-msg/s")
				b.ReportMetric(best.msgPerSec/bestMosq.msgPerSec, "sky/mosquitto")
				b.ReportMetric(cpuMosq.perMessage(), "mosquitto-cpu-us/msg")
				b.ReportMetric(cpuMosq.perMessage()/cpu.perMessage(), "cpu-mosquitto/sky")
			}
		})
	}
	b.Run("shadow", func(b *testing.B) {
		echo := roundTrips(b, sky.mqtt, devices, dur, func(d mqttDevice) (string, string, func(int) []byte) {
			t := "skybridge/devices/" + d.id + "/echo"
			return t, t, func(k int) []byte { return []byte(strconv.Itoa(k)) }
		})
		shadow := roundTrips(b, sky.mqtt, devices, dur, func(d mqttDevice) (string, string, func(int) []byte) {
			base := "$aws/things/" + d.id + "/shadow/update"
			return base, base + "/accepted", func(k int) []byte {
				return fmt.Appendf(nil, `{"state":{"reported":{"seq":%d,"temp":21.5}},"clientToken":"%d"}`, k, k)
			}
		})
		b.Logf("shadow update round trip: %s", shadow)
		b.Logf("plain echo round trip:    %s", echo)
		b.ReportMetric(float64(shadow.p50.Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(shadow.p99.Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(echo.p50.Microseconds())/1000, "echo-p50-ms")
		b.ReportMetric(float64(echo.p99.Microseconds())/1000, "echo-p99-ms")
		b.ReportMetric(shadow.msgPerSec, "updates/s")
	})
}

// brokerCPU sums a broker process's CPU time over the messages it
// delivered, across rounds.
type brokerCPU struct {
	cpu      time.Duration
	messages int64
}

func (c *brokerCPU) add(d time.Duration, delivered int64) {
	c.cpu += d
	c.messages += delivered
}

// perMessage is the broker's CPU time per delivered message, in µs.
func (c brokerCPU) perMessage() float64 {
	if c.messages == 0 {
		return 0
	}
	return float64(c.cpu.Microseconds()) / float64(c.messages)
}

// childCPU is the user and system CPU time process pid has used, from
// /proc/<pid>/stat (fields 14 and 15, in clock ticks of 1/100 s, the
// USER_HZ of every Linux this runs on).
func childCPU(tb testing.TB, pid int) time.Duration {
	tb.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatalf("read the CPU time of process %d: %v", pid, err)
	}
	// The command name (field 2) may hold spaces; the fields after it
	// start past its closing parenthesis.
	rest := raw[bytes.LastIndexByte(raw, ')')+2:]
	f := strings.Fields(string(rest))
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		tb.Fatalf("parse /proc/%d/stat: %q", pid, raw)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// anonymous is the devices without credentials, for mosquitto.
func anonymous(ds []mqttDevice) []mqttDevice {
	out := slices.Clone(ds)
	for i := range out {
		out[i].secret = ""
	}
	return out
}

// roundTrips has every device send one request at a time (QoS 1) on a
// request topic and wait for its answer on a reply topic (QoS 1), for dur,
// and measures the round trips. The k-th request's answer is the k-th
// message on the reply topic.
func roundTrips(tb testing.TB, addr string, devices []mqttDevice, dur time.Duration, shape func(mqttDevice) (req, reply string, payload func(int) []byte)) loadResult {
	tb.Helper()
	var mu sync.Mutex
	var lat []int64
	var wg sync.WaitGroup
	end := time.Now().Add(dur)
	start := time.Now()
	errs := make(chan error, len(devices))
	for _, d := range devices {
		req, reply, payload := shape(d)
		answers := make(chan struct{}, 16)
		c := mqttConnect(tb, addr, d.id, d.id, d.secret, 1)
		if t := c.Subscribe(reply, 1, func(pahov3.Client, pahov3.Message) { answers <- struct{}{} }); t.Wait() && t.Error() != nil {
			tb.Fatalf("subscribe %s: %v", reply, t.Error())
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Disconnect(100)
			for k := 0; time.Now().Before(end); k++ {
				t0 := time.Now()
				if t := c.Publish(req, 1, false, payload(k)); t.Wait() && t.Error() != nil {
					errs <- t.Error()
					return
				}
				select {
				case <-answers:
				case <-time.After(10 * time.Second):
					errs <- fmt.Errorf("%s: no answer on %s within 10s", d.id, reply)
					return
				}
				dt := time.Since(t0)
				mu.Lock()
				lat = append(lat, int64(dt))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
	slices.Sort(lat)
	return loadResult{sent: int64(len(lat)), received: int64(len(lat)), msgPerSec: float64(len(lat)) / time.Since(start).Seconds(),
		p50: quantile(lat, 0.5), p99: quantile(lat, 0.99)}
}

// skybridgeProcess is `skybridge serve` running as a subprocess with an
// app whose dev environment holds the devices.
type skybridgeProcess struct {
	base, mqtt string
	keys       testnode.EnvKeys
	pid        int
}

// startSkybridgeBinary runs `skybridge serve` on free ports with a fresh
// data dir, and creates an app.
func startSkybridgeBinary(tb testing.TB) *skybridgeProcess {
	tb.Helper()
	p := &skybridgeProcess{mqtt: testenv.FreeAddr(tb)}
	proc := testenv.Serve(tb, testenv.Binary(tb), "SKYBRIDGE_MQTT_ADDR="+p.mqtt,
		"SKYBRIDGE_DATA_DIR="+filepath.Join(tb.TempDir(), "data"), "SKYBRIDGE_LOG_LEVEL=warn",
		"SKYBRIDGE_ADMIN_EMAIL="+testnode.AdminEmail, "SKYBRIDGE_ADMIN_PASSWORD="+testnode.AdminPassword)
	p.base, p.pid = proc.URL, proc.Cmd.Process.Pid
	var login struct{ Token string }
	p.do(tb, http.MethodPost, "/admin/api/login", map[string]string{"email": testnode.AdminEmail, "password": testnode.AdminPassword}, nil, &login)
	var app testnode.App
	p.do(tb, http.MethodPost, "/admin/api/apps", map[string]string{"name": "mqtt-bench"}, map[string]string{"Authorization": "Bearer " + login.Token}, &app)
	p.keys = app.Env(tb, "dev")
	return p
}

// registerDevices registers n devices with the server key.
func (p *skybridgeProcess) registerDevices(tb testing.TB, n int) []mqttDevice {
	tb.Helper()
	keys := map[string]string{"X-Skybridge-Key": p.keys.AppKey, "X-Skybridge-Server-Key": p.keys.ServerKey}
	var out []mqttDevice
	for i := range n {
		id := fmt.Sprintf("bench-dev-%d", i)
		var d struct{ Secret string }
		p.do(tb, http.MethodPost, "/v1/devices", map[string]string{"id": id}, keys, &d)
		out = append(out, mqttDevice{id: id, secret: d.Secret, topic: "skybridge/devices/" + id + "/load"})
	}
	return out
}

// do sends a JSON request and decodes a 2xx answer into out.
func (p *skybridgeProcess) do(tb testing.TB, method, path string, body any, headers map[string]string, out any) {
	tb.Helper()
	testenv.DoJSON(tb, method, p.base+path, body, headers, out)
}

// startMosquitto starts mosquitto on a free loopback port with the peers'
// configuration and returns its address, or "" (logged) when mosquitto is
// not installed.
func startMosquitto(tb testing.TB) (addr string, pid int) {
	tb.Helper()
	bin := os.Getenv("MOSQUITTO")
	if bin == "" {
		bin, _ = exec.LookPath("mosquitto")
	}
	if bin == "" {
		if _, err := os.Stat("/usr/sbin/mosquitto"); err == nil {
			bin = "/usr/sbin/mosquitto"
		}
	}
	if bin == "" {
		tb.Log("mosquitto not installed (apt-get install mosquitto, or set MOSQUITTO): Skybridge figures only, no ratios")
		return "", 0
	}
	addr = testenv.FreeAddr(tb)
	_, port, _ := net.SplitHostPort(addr)
	conf := filepath.Join(tb.TempDir(), "mosquitto.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, "listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 10000\nlog_dest stderr\nlog_type error\n", port), 0o600); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", conf)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if !testenv.WaitFor(context.Background(), 10*time.Second, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}) {
		tb.Fatal("mosquitto did not listen within 10s")
	}
	return addr, cmd.Process.Pid
}

func envDuration(key string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(key)); err == nil && d > 0 {
		return d
	}
	return def
}

func envInt(key string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(key)); err == nil && n > 0 {
		return n
	}
	return def
}
