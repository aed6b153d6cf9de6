package server

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"path/filepath"
)

// mqttStateFile is the broker's state file in its data directory.
const mqttStateFile = "broker.db"

// MQTTStateDir is the directory of the broker's durable state the
// configuration selects: SKYBRIDGE_MQTT_DATA_DIR, else DataDir/mqtt;
// "" for "off".
func MQTTStateDir(cfg Config) string {
	switch cfg.MQTTDataDir {
	case "off":
		return ""
	case "":
		return filepath.Join(cfg.DataDir, "mqtt")
	}
	return cfg.MQTTDataDir
}

// openMQTTTransport gives the embedded broker its durable state and,
// with a server certificate, its TLS listener, where devices may also
// authenticate with a client certificate (the bridge verifies it
// against the CAs registered for the device's environment).
func (n *Node) openMQTTTransport(cfg Config) error {
	if n.Broker == nil {
		return nil
	}
	if dir := MQTTStateDir(cfg); dir != "" {
		if err := n.Broker.Persist(filepath.Join(dir, mqttStateFile)); err != nil {
			return fmt.Errorf("MQTT broker state (SKYBRIDGE_MQTT_DATA_DIR): %w", err)
		}
	}
	if cfg.MQTTTLSCert == "" {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.MQTTTLSCert, cfg.MQTTTLSKey)
	if err != nil {
		return fmt.Errorf("MQTT TLS certificate (SKYBRIDGE_MQTT_TLS_CERT, SKYBRIDGE_MQTT_TLS_KEY): %w", err)
	}
	tc := n.Devices.ClientCertTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	return n.Broker.ListenTLS(cfg.MQTTTLSAddr, tc)
}

// withMQTTWebSocket serves MQTT over WebSocket at /mqtt beside api, and
// outside its middleware (body limits, compression and timeouts are for
// JSON requests, not for a connection that lives for days).
func (n *Node) withMQTTWebSocket(api http.Handler) http.Handler {
	if n.Broker == nil {
		return api
	}
	ws := n.Broker.WebSocket()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/mqtt" {
			ws.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// MQTTTLSAddr is the bound MQTT over TLS address, valid after Start; ""
// without a TLS listener.
func (n *Node) MQTTTLSAddr() string {
	if n.Broker == nil {
		return ""
	}
	if a := n.Broker.TLSAddr(); a != nil {
		return a.String()
	}
	return ""
}
