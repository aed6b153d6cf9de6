package broker

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/coder/websocket"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// wsSubprotocol is the WebSocket subprotocol MQTT over WebSocket speaks
// ([MQTT-6.0.0-3]; "mqttv3.1" was the name of MQTT 3.1).
const wsSubprotocol = "mqtt"

// wsListener is a mochi listener without a socket of its own: the node's
// HTTP server upgrades GET /mqtt (Broker.WebSocket) and hands each
// connection to it, so MQTT over WebSocket shares the HTTP port (and its
// TLS terminator) instead of opening another one as mochi's own
// websocket listener does.
type wsListener struct {
	id        string
	readLimit int64
	log       *slog.Logger
	mu        sync.Mutex
	establish listeners.EstablishFn
	closed    bool
	stop      chan struct{} // closed by Close
	closeOnce sync.Once
}

var _ listeners.Listener = (*wsListener)(nil)

func newWSListener(id string, maxPacket int, log *slog.Logger) *wsListener {
	return &wsListener{
		id: id,
		// A WebSocket message may carry several MQTT packets (or part
		// of one): room for two of the largest.
		readLimit: 2*int64(maxPacket) + 1024,
		log:       log,
		stop:      make(chan struct{}),
	}
}

// Init does nothing: there is no socket to open.
func (l *wsListener) Init(*slog.Logger) error { return nil }

// Serve keeps the establish function and waits until Close.
func (l *wsListener) Serve(establish listeners.EstablishFn) {
	l.ready(establish)
	<-l.stop
}

// ready sets the function that serves a connection. Broker.Start sets it
// too, so that no upgrade waits for mochi's Serve goroutine.
func (l *wsListener) ready(establish listeners.EstablishFn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.establish == nil {
		l.establish = establish
	}
}

// ID is the listener's id.
func (l *wsListener) ID() string { return l.id }

// Address names the route, for mochi's logs.
func (l *wsListener) Address() string { return "GET /mqtt" }

// Protocol is the listener's protocol.
func (l *wsListener) Protocol() string { return "ws" }

// Close refuses further connections and closes the open ones.
func (l *wsListener) Close(closeClients listeners.CloseFn) {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.closeOnce.Do(func() { close(l.stop) })
	closeClients(l.id)
}

// establishFn returns the function that serves a connection, or nil
// before Serve and after Close.
func (l *wsListener) establishFn() listeners.EstablishFn {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	return l.establish
}

// WebSocket returns the handler of MQTT over WebSocket: mount it at
// /mqtt on the HTTP server, outside any middleware that buffers,
// compresses or times out responses. It upgrades a GET that offers the
// "mqtt" subprotocol and serves the connection as the TCP listener
// would (same hooks, same device policy) until it ends; before Start and
// after Shutdown it answers 503.
func (b *Broker) WebSocket() http.Handler {
	return http.HandlerFunc(b.ws.serveHTTP)
}

func (l *wsListener) serveHTTP(w http.ResponseWriter, r *http.Request) {
	establish := l.establishFn()
	if establish == nil {
		http.Error(w, "MQTT broker not serving", http.StatusServiceUnavailable)
		return
	}
	if !offersMQTT(r) {
		w.Header().Set("Sec-WebSocket-Protocol", wsSubprotocol)
		http.Error(w, "MQTT over WebSocket needs a WebSocket upgrade with the subprotocol \"mqtt\" (Sec-WebSocket-Protocol)", http.StatusBadRequest)
		return
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols: []string{wsSubprotocol},
		// Devices are no browsers; browser clients are let in from any
		// origin: they authenticate in CONNECT, not with cookies.
		InsecureSkipVerify: true,
	})
	if err != nil {
		return // Accept answered already
	}
	ws.SetReadLimit(l.readLimit)
	// Not the request's context: net/http cancels it when the handler
	// returns; the connection lives until mochi closes it.
	conn := websocket.NetConn(context.Background(), ws, websocket.MessageBinary)
	if err := establish(l.id, wsConn{Conn: conn, remote: remoteAddr(r)}); err != nil {
		l.log.Debug("mqtt over websocket ended", "err", err)
	}
	_ = conn.Close()
}

// offersMQTT reports whether r is a WebSocket upgrade offering "mqtt".
func offersMQTT(r *http.Request) bool {
	if r.Method != http.MethodGet || !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return false
	}
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(h, ",") {
			if strings.TrimSpace(p) == wsSubprotocol {
				return true
			}
		}
	}
	return false
}

// wsConn is a WebSocket connection as mochi sees it, with the client's
// address as its remote address.
type wsConn struct {
	net.Conn
	remote net.Addr
}

// RemoteAddr is the HTTP client's address.
func (c wsConn) RemoteAddr() net.Addr { return c.remote }

// remoteAddr parses r.RemoteAddr.
func remoteAddr(r *http.Request) net.Addr {
	if a, err := net.ResolveTCPAddr("tcp", r.RemoteAddr); err == nil {
		return a
	}
	return &net.TCPAddr{}
}
