package testenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"
)

// Redis is a redis-server process started for tests: loopback only, no
// persistence, in a temporary directory.
type Redis struct {
	addr string
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// ErrNoRedis explains what to install when redis-server is missing.
var ErrNoRedis = errors.New("testenv: redis-server not found on PATH: install the Debian package redis-server (make test does so when run as root)")

// StartRedis starts redis-server on a free loopback port and waits until it
// answers PING.
func StartRedis() (*Redis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, ErrNoRedis
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		r, err := startRedis(bin)
		if err == nil {
			return r, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

// StartRedisOn starts redis-server on port, e.g. again on the port of one
// a test killed (Stop), and waits until it answers PING.
func StartRedisOn(port int) (*Redis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, ErrNoRedis
	}
	return startRedisOn(bin, port)
}

func startRedis(bin string) (*Redis, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	return startRedisOn(bin, port)
}

func startRedisOn(bin string, port int) (*Redis, error) {
	dir, err := os.MkdirTemp("", "sb-redis-")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin,
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir,
		"--daemonize", "no", "--protected-mode", "yes", "--loglevel", "warning")
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("testenv: start redis-server: %w", err)
	}
	r := &Redis{addr: fmt.Sprintf("127.0.0.1:%d", port), dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(r.done) }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-r.done:
			os.RemoveAll(dir)
			return nil, fmt.Errorf("testenv: redis-server on port %d exited early", port)
		default:
		}
		if pingRedis(r.addr) == nil {
			return r, nil
		}
		time.Sleep(20 * time.Millisecond) // polling readiness of a child process
	}
	r.Stop()
	return nil, fmt.Errorf("testenv: redis-server on %s not ready within 10s", r.addr)
}

// pingRedis speaks RESP directly so that testenv needs no client library.
func pingRedis(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("unexpected PING answer %q", line)
	}
	return nil
}

// Addr is host:port of the server.
func (r *Redis) Addr() string { return r.addr }

// URL is the redis:// URL of database n.
func (r *Redis) URL(n int) string { return fmt.Sprintf("redis://%s/%d", r.addr, n) }

// Stop kills the server and removes its directory.
func (r *Redis) Stop() {
	if r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
	}
	<-r.done
	os.RemoveAll(r.dir)
}

var (
	sharedRedis     *Redis
	sharedRedisErr  error
	sharedRedisOnce sync.Once
)

// SharedRedis returns one redis-server per test process, started on first
// use. Tests isolate themselves by database number or key prefix. Call
// StopShared from TestMain to stop it.
func SharedRedis() (*Redis, error) {
	sharedRedisOnce.Do(func() { sharedRedis, sharedRedisErr = StartRedis() })
	return sharedRedis, sharedRedisErr
}

// StopShared stops the shared servers started by this process. TestMain
// calls it after m.Run.
func StopShared() {
	if sharedRedis != nil {
		sharedRedis.Stop()
	}
	if sharedFerret != nil {
		sharedFerret.Stop()
	}
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// WaitFor polls cond every few milliseconds until it returns true or the
// timeout passes.
func WaitFor(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if cond() {
			return true
		}
		select {
		case <-ctx.Done():
			return cond()
		case <-t.C:
		}
	}
}
