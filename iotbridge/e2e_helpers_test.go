package iotbridge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/skybridgehq/skybridge/internal/testenv"
	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
)

// wait bounds every wait of the end-to-end tests; they poll, never sleep.
const wait = 10 * time.Second

// bridgeEnv is one node with one app environment, shared by the
// subtests of a test (each uses device ids of its own).
type bridgeEnv struct {
	s    *testnode.Server
	keys testnode.EnvKeys
}

func startBridge(t *testing.T) *bridgeEnv {
	t.Helper()
	s := testnode.Start(t, testnode.Options{})
	app := s.CreateApp(t, "iot")
	return &bridgeEnv{s: s, keys: app.Env(t, "dev")}
}

// server is the headers of a server-key call.
func (e *bridgeEnv) server() map[string]string {
	return map[string]string{"X-Skybridge-Key": e.keys.AppKey, "X-Skybridge-Server-Key": e.keys.ServerKey}
}

// user is the headers of a call with a user's access token.
func (e *bridgeEnv) user(token string) map[string]string {
	return map[string]string{"X-Skybridge-Key": e.keys.AppKey, "Authorization": "Bearer " + token}
}

// call sends a request and decodes a JSON answer into a map.
func (e *bridgeEnv) call(t *testing.T, method, path string, body any, h map[string]string) (int, map[string]any) {
	t.Helper()
	resp, out := e.s.Do(t, method, path, body, h)
	var m map[string]any
	if len(out) > 0 {
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, out, err)
		}
	}
	return resp.StatusCode, m
}

// register creates a device with the server key and returns its secret.
func (e *bridgeEnv) register(t *testing.T, body map[string]any) string {
	t.Helper()
	code, out := e.call(t, http.MethodPost, "/v1/devices", body, e.server())
	if code != http.StatusCreated {
		t.Fatalf("register %v: %d %v", body, code, out)
	}
	secret, _ := out["secret"].(string)
	if secret == "" {
		t.Fatalf("register: no secret in %v", out)
	}
	return secret
}

// signup creates a user and returns his id and access token.
func (e *bridgeEnv) signup(t *testing.T, email string) (string, string) {
	t.Helper()
	code, out := e.call(t, http.MethodPost, "/v1/auth/signup", map[string]any{"email": email, "password": "s3cret-pass-word"}, map[string]string{"X-Skybridge-Key": e.keys.AppKey})
	if code != http.StatusCreated && code != http.StatusOK {
		t.Fatalf("signup: %d %v", code, out)
	}
	u, _ := out["user"].(map[string]any)
	return u["id"].(string), out["accessToken"].(string)
}

// device is one MQTT 5 connection (eclipse/paho.golang) acting as a
// device; it records every message it receives.
type device struct {
	c    *paho.Client
	conn net.Conn
	mu   sync.Mutex
	in   []*paho.Publish
	// more is signalled on every message.
	more chan struct{}
	// gone is closed when the server drops the connection.
	gone     chan struct{}
	goneOnce sync.Once
}

// dialDevice connects clientID with the credentials; it returns the
// CONNACK's error instead of failing (refusals are tested).
func dialDevice(t *testing.T, addr, clientID, user, secret string) (*device, error) {
	t.Helper()
	return dialWithWill(t, addr, clientID, user, secret, nil)
}

// newDevice wraps an open connection in an MQTT 5 client that collects
// what it receives and notes when the connection ends; connect it with
// d.c.Connect.
func newDevice(conn net.Conn) *device {
	d := &device{conn: conn, more: make(chan struct{}, 1), gone: make(chan struct{})}
	d.c = paho.NewClient(paho.ClientConfig{
		Conn: conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			d.mu.Lock()
			d.in = append(d.in, pr.Packet)
			d.mu.Unlock()
			select {
			case d.more <- struct{}{}:
			default:
			}
			return true, nil
		}},
		OnServerDisconnect: func(*paho.Disconnect) { d.goneOnce.Do(func() { close(d.gone) }) },
		OnClientError:      func(error) { d.goneOnce.Do(func() { close(d.gone) }) },
	})
	return d
}

// dialWithWill is dialDevice with a last will.
func dialWithWill(t *testing.T, addr, clientID, user, secret string, will *paho.WillMessage) (*device, error) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		t.Fatal(err)
	}
	d := newDevice(conn)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	cp := &paho.Connect{ClientID: clientID, KeepAlive: 30, CleanStart: true, WillMessage: will}
	if user != "" {
		cp.Username, cp.UsernameFlag = user, true
		cp.Password, cp.PasswordFlag = []byte(secret), true
	}
	if _, err := d.c.Connect(ctx, cp); err != nil {
		_ = conn.Close()
		return nil, err
	}
	t.Cleanup(func() { _ = d.c.Disconnect(&paho.Disconnect{}) })
	return d, nil
}

// mustDial connects a device or fails the test.
func mustDial(t *testing.T, addr, clientID, user, secret string) *device {
	t.Helper()
	d, err := dialDevice(t, addr, clientID, user, secret)
	if err != nil {
		t.Fatalf("connect %s: %v", clientID, err)
	}
	return d
}

// subscribe subscribes at QoS 1 and returns the SUBACK reason codes.
func (d *device) subscribe(t *testing.T, topics ...string) []byte {
	t.Helper()
	s := &paho.Subscribe{}
	for _, tp := range topics {
		s.Subscriptions = append(s.Subscriptions, paho.SubscribeOptions{Topic: tp, QoS: 1})
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ack, err := d.c.Subscribe(ctx, s)
	if err != nil && ack == nil {
		t.Fatalf("subscribe %v: %v", topics, err)
	}
	return ack.Reasons
}

// publish sends a JSON (or raw []byte) payload at QoS 1 and returns the
// PUBACK reason code.
func (d *device) publish(t *testing.T, topic string, payload any) byte {
	t.Helper()
	b, ok := payload.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(payload); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	resp, err := d.c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: b})
	if resp != nil {
		return resp.ReasonCode
	}
	if err != nil {
		t.Fatalf("publish %s: %v", topic, err)
	}
	return 0
}

// next waits for the first message on topic after the skip first ones
// and returns its payload decoded.
func (d *device) next(t *testing.T, topic string, skip int) map[string]any {
	t.Helper()
	deadline := time.After(wait)
	for {
		d.mu.Lock()
		seen := 0
		for _, p := range d.in {
			if p.Topic != topic {
				continue
			}
			if seen == skip {
				d.mu.Unlock()
				var m map[string]any
				if err := json.Unmarshal(p.Payload, &m); err != nil {
					t.Fatalf("%s: %s: %v", topic, p.Payload, err)
				}
				return m
			}
			seen++
		}
		d.mu.Unlock()
		select {
		case <-d.more:
		case <-deadline:
			t.Fatalf("no message %d on %s within %s; got %s", skip+1, topic, wait, d.topics())
			return nil
		}
	}
}

// count is how many messages arrived on topic.
func (d *device) count(topic string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, p := range d.in {
		if p.Topic == topic {
			n++
		}
	}
	return n
}

func (d *device) topics() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := ""
	for _, p := range d.in {
		out += fmt.Sprintf("%s %s\n", p.Topic, p.Payload)
	}
	return out
}

// waitGone waits until the server drops the connection.
func (d *device) waitGone(t *testing.T) {
	t.Helper()
	select {
	case <-d.gone:
	case <-time.After(wait):
		t.Fatal("the server did not drop the connection")
	}
}

// poll waits until cond holds (testenv.WaitFor polls it).
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !testenv.WaitFor(context.Background(), wait, cond) {
		t.Fatalf("%s: not within %s", what, wait)
	}
}

// at reads a nested value of a decoded JSON document.
func at(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[p]
	}
	return v
}
