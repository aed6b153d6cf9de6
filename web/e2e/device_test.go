package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// device is an MQTT 5 device (eclipse/paho.golang) that reports its state
// and answers every command it gets with succeeded, as firmware would.
type device struct {
	id     string
	c      *paho.Client
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	errs   []error
}

// connectDevice connects id with its secret to the broker at addr,
// subscribes to its commands and reports {"target": 20}.
func connectDevice(t *testing.T, addr, id, secret string) *device {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &device{id: id, ctx: ctx, cancel: cancel}
	d.c = paho.NewClient(paho.ClientConfig{
		Conn: conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			// Reply off the client's own goroutine: a QoS 1 publish waits
			// for its PUBACK, which that goroutine reads.
			payload := pr.Packet.Payload
			d.wg.Add(1)
			go func() {
				defer d.wg.Done()
				d.reply(payload)
			}()
			return true, nil
		}},
	})
	cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
	defer ccancel()
	cp := &paho.Connect{ClientID: id, KeepAlive: 30, CleanStart: true, Username: id, UsernameFlag: true, Password: []byte(secret), PasswordFlag: true}
	if _, err := d.c.Connect(cctx, cp); err != nil {
		t.Fatalf("device %s: connect: %v", id, err)
	}
	t.Cleanup(d.close)
	if _, err := d.c.Subscribe(cctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "skybridge/devices/" + id + "/commands", QoS: 1}}}); err != nil {
		t.Fatalf("device %s: subscribe: %v", id, err)
	}
	d.publish(cctx, "$aws/things/"+id+"/shadow/update", map[string]any{"state": map[string]any{"reported": map[string]any{"target": 20, "firmware": "1.4.2"}}})
	for i := range 5 {
		d.publish(cctx, "skybridge/devices/"+id+"/telemetry", map[string]any{"temp": 19.5 + float64(i)/2, "humidity": 40 + i})
	}
	return d
}

// reply answers one command message {id, name, payload, expiresAt}.
func (d *device) reply(payload []byte) {
	var cmd struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal(payload, &cmd); err != nil || cmd.ID == "" {
		d.fail(fmt.Errorf("device %s: a command that is not {id, ...}: %s", d.id, payload))
		return
	}
	ctx, cancel := context.WithTimeout(d.ctx, 10*time.Second)
	defer cancel()
	d.publish(ctx, "skybridge/devices/"+d.id+"/commands/"+cmd.ID+"/reply",
		map[string]any{"status": "succeeded", "result": map[string]any{"done": cmd.Name}})
}

func (d *device) publish(ctx context.Context, topic string, v any) {
	b, _ := json.Marshal(v)
	if _, err := d.c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: b}); err != nil && !strings.Contains(err.Error(), "context canceled") {
		d.fail(fmt.Errorf("device %s: publish %s: %w", d.id, topic, err))
	}
}

func (d *device) fail(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.errs = append(d.errs, err)
}

// problems are the errors the device met, for the test to report.
func (d *device) problems() []error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]error(nil), d.errs...)
}

func (d *device) close() {
	d.cancel()
	d.wg.Wait()
	_ = d.c.Disconnect(&paho.Disconnect{})
}
