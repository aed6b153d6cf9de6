package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/events"
	"github.com/skybridgehq/skybridge/internal/testenv"
	"github.com/skybridgehq/skybridge/internal/testenv/teststore"
	"github.com/skybridgehq/skybridge/keyring"
	"github.com/skybridgehq/skybridge/objectstore"
	"github.com/skybridgehq/skybridge/store"
)

// rtNode is one API node serving realtime: its own auth service, object
// service and events bus over a shared store (and Redis, when given).
type rtNode struct {
	srv     *httptest.Server
	api     *API
	bus     *events.Bus
	objects *objectstore.Service
}

// newRealtimeNode builds a node over p; with rc its bus fans out on
// channel.
func newRealtimeNode(t *testing.T, p store.Provider, kr *keyring.Keyring, rc redis.UniversalClient, channel string) (*rtNode, *auth.Service) {
	t.Helper()
	return newRealtimeNodeAuth(t, p, kr, rc, channel, auth.Config{})
}

// newRealtimeNodeAuth is newRealtimeNode with an auth configuration.
func newRealtimeNodeAuth(t *testing.T, p store.Provider, kr *keyring.Keyring, rc redis.UniversalClient, channel string, authCfg auth.Config) (*rtNode, *auth.Service) {
	t.Helper()
	ctx := t.Context()
	sys, err := p.DB(ctx, store.SystemDB)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.EnsureIndexes(ctx, sys, auth.SystemIndexes()); err != nil {
		t.Fatal(err)
	}
	log, _ := newTestLogger()
	authCfg.Password = auth.PasswordParams{Memory: 1024, Time: 1, Threads: 1}
	authCfg.Logger = log
	svc := auth.NewService(sys, kr, authCfg)
	bus := events.New(events.Config{Redis: rc, Channel: channel, Logger: log})
	if err := bus.Start(ctx); err != nil {
		t.Fatal(err)
	}
	objects := objectstore.NewService(p, objectstore.Config{Logger: log, OnChange: bus.Publish})
	a, err := New(Deps{Auth: svc, Store: p, Objects: objects, Events: bus, Logger: log, Registry: prometheus.NewRegistry(), Version: "test"}, Config{RealtimeSessionCheck: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(func() { _ = bus.Close(); srv.Close() })
	return &rtNode{srv: srv, api: a, bus: bus, objects: objects}, svc
}

// rtEnv is a userEnv whose API serves realtime.
type rtEnv struct {
	*userEnv
	node *rtNode
	kr   *keyring.Keyring
	p    store.Provider
}

// newRealtimeEnv builds an rtEnv over p (nil: SQLite) with an in-process
// bus.
func newRealtimeEnv(t *testing.T, p store.Provider) *rtEnv {
	t.Helper()
	return newRealtimeEnvRedis(t, p, nil, "")
}

func newRealtimeEnvRedis(t *testing.T, p store.Provider, rc redis.UniversalClient, channel string) *rtEnv {
	t.Helper()
	return newRealtimeEnvAuth(t, p, rc, channel, auth.Config{})
}

func newRealtimeEnvAuth(t *testing.T, p store.Provider, rc redis.UniversalClient, channel string, authCfg auth.Config) *rtEnv {
	t.Helper()
	if p == nil {
		p = teststore.SQLite(t)
	}
	kr, _, err := keyring.Generate()
	if err != nil {
		t.Fatal(err)
	}
	node, svc := newRealtimeNodeAuth(t, p, kr, rc, channel, authCfg)
	if _, err := svc.CreateAdmin(t.Context(), testAdminEmail, testAdminPassword, auth.RoleOwner); err != nil {
		t.Fatal(err)
	}
	_, buf := newTestLogger()
	e := &testEnv{t: t, api: node.api, srv: node.srv, auth: svc, store: p, log: buf}
	tok := e.login()
	u := &userEnv{testEnv: e, kr: kr, app: e.createApp(tok, "Todo"), other: e.createApp(tok, "Other"), skew: &atomic.Int64{}}
	return &rtEnv{userEnv: u, node: node, kr: kr, p: p}
}

// env is the objectstore environment of the main app's env.
func (e *rtEnv) env(name string) objectstore.Env {
	return objectstore.Env{DB: store.EnvDBName(e.app.ID, name), AllowClientCreate: true}
}

// rtClient is a test's WebSocket connection.
type rtClient struct {
	t  *testing.T
	ws *websocket.Conn
}

// dialRealtime opens /v1/realtime on srv with the query and headers.
func dialRealtime(t *testing.T, srv *httptest.Server, query string, h http.Header) (*rtClient, *http.Response, error) {
	t.Helper()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/realtime"
	if query != "" {
		url += "?" + query
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		return nil, resp, err
	}
	ws.SetReadLimit(1 << 20)
	t.Cleanup(func() { _ = ws.CloseNow() })
	return &rtClient{t: t, ws: ws}, resp, nil
}

// mustDial dials and fails the test on error.
func mustDial(t *testing.T, srv *httptest.Server, query string, h http.Header) *rtClient {
	t.Helper()
	c, _, err := dialRealtime(t, srv, query, h)
	if err != nil {
		t.Fatalf("dial realtime: %v", err)
	}
	return c
}

// rtHeaders are the handshake headers of an app key and access token.
func rtHeaders(key, token string) http.Header {
	h := http.Header{AppKeyHeader: {key}}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return h
}

func (c *rtClient) send(v any) {
	c.t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(c.t.Context(), 10*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, data); err != nil {
		c.t.Fatalf("send %s: %v", data, err)
	}
}

// read returns the next message, or the read error.
func (c *rtClient) read() (map[string]any, error) {
	ctx, cancel := context.WithTimeout(c.t.Context(), 15*time.Second)
	defer cancel()
	_, data, err := c.ws.Read(ctx)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("decode %s: %w", data, err)
	}
	return m, nil
}

func (c *rtClient) next() map[string]any {
	c.t.Helper()
	m, err := c.read()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return m
}

// expectOp reads the next message and fails unless its op is op.
func (c *rtClient) expectOp(op string) map[string]any {
	c.t.Helper()
	m := c.next()
	if m["op"] != op {
		c.t.Fatalf("got %v, want op %q", m, op)
	}
	return m
}

// subscribe subscribes and returns the acknowledged _seq.
func (c *rtClient) subscribe(msg map[string]any) int64 {
	c.t.Helper()
	msg["op"] = "subscribe"
	c.send(msg)
	ack := c.expectOp("subscribed")
	if ack["id"] != msg["id"] {
		c.t.Fatalf("ack %v for %v", ack, msg)
	}
	return int64(ack["_seq"].(float64))
}

// rtEventOf is an event as the client sees it.
type rtEventOf struct {
	sub, typ, id string
	seq          int64
	obj          map[string]any
}

// nextEvent reads the next message and fails unless it is an event.
func (c *rtClient) nextEvent() rtEventOf {
	c.t.Helper()
	m := c.next()
	if _, isOp := m["op"]; isOp {
		c.t.Fatalf("got %v, want an event", m)
	}
	obj, _ := m["object"].(map[string]any)
	id, _ := obj["_id"].(string)
	seq, _ := m["_seq"].(float64)
	if os, _ := obj["_seq"].(float64); os != seq {
		c.t.Fatalf("event _seq %v differs from the object's %v", seq, os)
	}
	return rtEventOf{sub: m["sub"].(string), typ: m["type"].(string), id: id, seq: int64(seq), obj: obj}
}

// sharedRedisClient returns a client of the shared redis-server.
func sharedRedisClient(t *testing.T) redis.UniversalClient {
	t.Helper()
	r, err := testenv.SharedRedis()
	if err != nil {
		t.Fatal(err)
	}
	opts, err := redis.ParseURL(r.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}
