package broker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coder/websocket"
)

// clientOn runs the suite's wire client over an open connection.
func clientOn(t *testing.T, conn net.Conn, v byte) *wireClient {
	c := &wireClient{t: t, v: v, conn: conn, in: make(chan msg, 1024), done: make(chan struct{})}
	go c.readLoop()
	t.Cleanup(func() {
		_ = conn.Close()
		<-c.done
	})
	return c
}

// dialWS opens MQTT over WebSocket to srv's /mqtt.
func dialWS(t *testing.T, srv *httptest.Server, v byte) *wireClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/mqtt", &websocket.DialOptions{Subprotocols: []string{"mqtt"}})
	if err != nil {
		t.Fatalf("dial ws: %v", err)
	}
	if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != "mqtt" {
		t.Fatalf("subprotocol %q, want mqtt", got)
	}
	return clientOn(t, websocket.NetConn(context.Background(), ws, websocket.MessageBinary), v)
}

// TestWebSocket speaks MQTT over WebSocket through Broker.WebSocket on
// an HTTP server, to and from a TCP client of the same broker.
func TestWebSocket(t *testing.T) {
	t.Parallel()
	b := startBroker(t, Config{})
	mux := http.NewServeMux()
	mux.Handle("/mqtt", b.WebSocket())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	for _, tc := range versions {
		t.Run(tc.name, func(t *testing.T) {
			ws := dialWS(t, srv, tc.v)
			if ack := ws.connect(connectOpts{id: "ws-" + tc.name, clean: true, keepalive: 30}); ack.code != 0 {
				t.Fatalf("CONNACK %v", ack)
			}
			ws.subscribe(1, 1, "to/ws/"+tc.name)
			tcp, _ := connect(t, addrOf(b), tc.v, connectOpts{id: "tcp-" + tc.name, clean: true, keepalive: 30})
			tcp.subscribe(1, 1, "to/tcp/"+tc.name)
			tcp.publishAcked(pub1("to/ws/"+tc.name, "hello ws", false, 1))
			if m := ws.receive(); string(m.payload) != "hello ws" {
				t.Fatalf("over ws: %v", m)
			}
			ws.publishAcked(pub1("to/tcp/"+tc.name, "hello tcp", false, 2))
			if m := tcp.receive(); string(m.payload) != "hello tcp" {
				t.Fatalf("from ws: %v", m)
			}
			ws.disconnect()
		})
	}
}

// TestWebSocketRefusals checks what is not MQTT over WebSocket gets a
// 400, and that a stopped broker answers 503.
func TestWebSocketRefusals(t *testing.T) {
	t.Parallel()
	b := startBroker(t, Config{})
	srv := httptest.NewServer(b.WebSocket())
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &websocket.DialOptions{Subprotocols: []string{"chat"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("without the mqtt subprotocol: %v %v", resp, err)
	}
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Fatalf("plain GET: %d", res.StatusCode)
	}
	stopBroker(t, b)
	_, resp, err = websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &websocket.DialOptions{Subprotocols: []string{"mqtt"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("after shutdown: %v %v", resp, err)
	}
}

// TestListenTLS serves MQTT over TLS beside plain TCP.
func TestListenTLS(t *testing.T) {
	t.Parallel()
	ts := httptest.NewTLSServer(nil) // only for its test certificate
	cert := ts.TLS
	ts.Close()
	b, err := New(Config{Addr: "127.0.0.1:0", Logger: DiscardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.AddHook(&allowHook{deny: map[string]bool{}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.ListenTLS("127.0.0.1:0", &tls.Config{Certificates: cert.Certificates, MinVersion: tls.VersionTLS12}); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopBroker(t, b) })
	if err := b.ListenTLS(":0", &tls.Config{}); err == nil {
		t.Fatal("ListenTLS after Start succeeded")
	}
	leaf, err := x509.ParseCertificate(cert.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	conn, err := tls.Dial("tcp", b.TLSAddr().String(), &tls.Config{RootCAs: roots, ServerName: "example.com"})
	if err != nil {
		t.Fatalf("dial TLS: %v", err)
	}
	c := clientOn(t, conn, v311)
	if ack := c.connect(connectOpts{id: "tls", clean: true, keepalive: 30}); ack.code != 0 {
		t.Fatalf("CONNACK over TLS %v", ack)
	}
	c.disconnect()
}
