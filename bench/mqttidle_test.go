package bench

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/internal/testenv"
)

// BenchmarkMQTTIdleDevices measures what idle devices cost the broker:
// it runs the real `skybridge serve` binary as a subprocess (so that the
// resident memory read from /proc/<pid>/status is the server's alone),
// registers MQTT_IDLE_DEVICES devices (default 10,000) through the API,
// connects each once from this process (MQTT 3.1.1, clean session,
// keepalive 60s, its own secret) and, once every CONNACK is in, reads the
// server's VmRSS again; then every device disconnects and connects once
// more (a reconnect storm) and the RSS is read a third time. It reports
// the three and the difference per device of the first connections. Each connection is one file descriptor on both
// sides: the bench raises its RLIMIT_NOFILE soft limit to the hard limit
// (the server inherits it) and says so; it fails when the hard limit is
// too low (raise it with `ulimit -Hn` as root).
func BenchmarkMQTTIdleDevices(b *testing.B) {
	n := envInt("MQTT_IDLE_DEVICES", 10_000)
	raiseNoFile(b, uint64(n)+1024)
	b.Setenv("SKYBRIDGE_RATE_LIMIT_ENV", "off")
	b.Setenv("SKYBRIDGE_RATE_LIMIT_CLIENT", "off")
	srv := startIdleServer(b)
	devices := registerParallel(b, srv, n)
	for b.Loop() {
		before := srv.rss(b)
		start := time.Now()
		conns := connectIdle(b, srv.mqtt, devices)
		connectSecs := time.Since(start).Seconds()
		after := srv.settledRSS(b)
		closeAll(b, conns, n)
		// Every device reconnects once (a reconnect storm after a network
		// blip): memory freed by the old connections is reused.
		conns = connectIdle(b, srv.mqtt, devices)
		churned := srv.settledRSS(b)
		closeAll(b, conns, n)
		b.ReportMetric(float64(n), "devices")
		b.ReportMetric(float64(before)/(1<<20), "rss-before-MiB")
		b.ReportMetric(float64(after)/(1<<20), "rss-connected-MiB")
		b.ReportMetric(float64(churned)/(1<<20), "rss-reconnected-MiB")
		b.ReportMetric(float64(after-before)/float64(n)/1024, "KiB/device")
		b.ReportMetric(float64(n)/connectSecs, "connects/s")
		b.Logf("%d idle devices: server RSS %.1f MiB -> %.1f MiB, %.1f KiB per device; connected in %.1fs; after all reconnected once %.1f MiB",
			n, float64(before)/(1<<20), float64(after)/(1<<20), float64(after-before)/float64(n)/1024, connectSecs, float64(churned)/(1<<20))
	}
}

// settledRSS reads the server's RSS once it settled: every CONNACK is
// in, but the connection bookkeeping (last seen, audit) runs behind it,
// so it waits for two reads a second apart within 2% (at most 30s).
func (s *idleServer) settledRSS(tb testing.TB) int64 {
	rss := s.rss(tb)
	for range 30 {
		time.Sleep(time.Second) // sampling interval of a steady state, not a wait for an event
		now := s.rss(tb)
		settled := now <= rss*102/100 && now >= rss*98/100
		rss = now
		if settled {
			break
		}
	}
	return rss
}

// closeAll checks every connection is still open (the server dropped
// none while idle) and closes them.
func closeAll(tb testing.TB, conns []*idleConn, n int) {
	tb.Helper()
	alive := 0
	for _, c := range conns {
		if c.alive() {
			alive++
		}
		_ = c.Close()
	}
	if alive != n {
		tb.Fatalf("%d of %d connections still open at the measurement", alive, n)
	}
}

// raiseNoFile lifts this process's open-file soft limit to the hard limit
// (children inherit it) and fails when that is below need.
func raiseNoFile(tb testing.TB, need uint64) {
	tb.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		tb.Fatal(err)
	}
	old := lim.Cur
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		tb.Fatalf("raise RLIMIT_NOFILE: %v", err)
	}
	tb.Logf("RLIMIT_NOFILE soft limit raised from %d to the hard limit %d (the server subprocess inherits it)", old, lim.Cur)
	if lim.Cur < need {
		tb.Fatalf("RLIMIT_NOFILE hard limit %d is below the %d file descriptors the bench needs: raise it (ulimit -Hn) or set MQTT_IDLE_DEVICES lower", lim.Cur, need)
	}
}

// idleServer is `skybridge serve` as a subprocess.
type idleServer struct{ *skybridgeProcess }

// startIdleServer starts the binary on free ports with a fresh data dir
// and creates an app.
func startIdleServer(tb testing.TB) *idleServer {
	tb.Helper()
	return &idleServer{startSkybridgeBinary(tb)}
}

// rss is the server's resident set size in bytes.
func (s *idleServer) rss(tb testing.TB) int64 {
	tb.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				tb.Fatalf("VmRSS %q: %v", v, err)
			}
			return kb << 10
		}
	}
	tb.Fatal("no VmRSS in /proc status")
	return 0
}

// registerParallel registers n devices through POST /v1/devices with
// the server key, 16 requests at a time; each gets its own secret.
func registerParallel(tb testing.TB, s *idleServer, n int) []mqttDevice {
	tb.Helper()
	keys := map[string]string{"X-Skybridge-Key": s.keys.AppKey, "X-Skybridge-Server-Key": s.keys.ServerKey}
	out := make([]mqttDevice, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				id := fmt.Sprintf("idle-%05d", i)
				var d struct{ Secret string }
				testenv.DoJSON(tb, http.MethodPost, s.base+"/v1/devices", map[string]string{"id": id}, keys, &d)
				out[i] = mqttDevice{id: id, secret: d.Secret}
			}
		})
	}
	wg.Wait()
	for _, d := range out {
		if d.secret == "" {
			tb.Fatal("a device registration failed")
		}
	}
	return out
}

// idleConn is one idle device connection; a goroutine reads (and drops)
// what the server sends and notes when the connection ends.
type idleConn struct {
	net.Conn
	done atomic.Bool
}

func (c *idleConn) alive() bool { return !c.done.Load() }

// connectIdle connects every device, 64 at a time, and returns once
// each has its CONNACK (code 0). A pinger sends PINGREQ every 30s, as
// a client with keepalive 60s does.
func connectIdle(tb testing.TB, addr string, devices []mqttDevice) []*idleConn {
	tb.Helper()
	conns := make([]*idleConn, len(devices))
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(devices) || failed.Load() != nil {
					return
				}
				c, err := dialIdle(addr, devices[i])
				if err != nil {
					failed.Store(fmt.Errorf("device %d: %w", i, err))
					return
				}
				conns[i] = c
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		for _, c := range conns {
			if c != nil {
				_ = c.Close()
			}
		}
		tb.Fatal(err)
	}
	stop := make(chan struct{})
	var pinger sync.WaitGroup
	pinger.Go(func() {
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				for _, c := range conns {
					_, _ = c.Write([]byte{0xC0, 0})
				}
			}
		}
	})
	tb.Cleanup(func() { close(stop); pinger.Wait() })
	return conns
}

// dialIdle opens one MQTT 3.1.1 connection with the device's credentials
// and waits for its CONNACK.
func dialIdle(addr string, d mqttDevice) (*idleConn, error) {
	conn, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return nil, err
	}
	var vh bytes.Buffer
	putStr := func(s string) {
		_ = binary.Write(&vh, binary.BigEndian, uint16(len(s)))
		vh.WriteString(s)
	}
	putStr("MQTT")
	vh.WriteByte(4)         // protocol level 3.1.1
	vh.WriteByte(0xC2)      // username, password, clean session
	vh.Write([]byte{0, 60}) // keepalive 60s
	putStr(d.id)            // client id
	putStr(d.id)            // username
	putStr(d.secret)        // password
	pkt := []byte{0x10}
	for l := vh.Len(); ; {
		b := byte(l % 128)
		if l /= 128; l > 0 {
			b |= 0x80
		}
		pkt = append(pkt, b)
		if l == 0 {
			break
		}
	}
	pkt = append(pkt, vh.Bytes()...)
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := conn.Write(pkt); err != nil {
		conn.Close()
		return nil, err
	}
	r := bufio.NewReaderSize(conn, 16)
	var ack [4]byte
	if _, err := io.ReadFull(r, ack[:]); err != nil {
		conn.Close()
		return nil, fmt.Errorf("read CONNACK: %w", err)
	}
	if ack[0] != 0x20 || ack[3] != 0 {
		conn.Close()
		return nil, fmt.Errorf("CONNACK % x", ack)
	}
	_ = conn.SetDeadline(time.Time{})
	c := &idleConn{Conn: conn}
	go func() {
		_, _ = io.Copy(io.Discard, r)
		c.done.Store(true)
	}()
	return c, nil
}
